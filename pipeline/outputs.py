"""Output directory lifecycle: refuse or replace, stage, commit, and mark complete.

Layout under ``--output``::

    kept/part-*.parquet  rejected/part-*.parquet  dead_letter/part-*.parquet
    summary.json  (written last: its presence means the run completed)
    report.{json,md,html}, artefacts/ (e.g. a trained tokenizer),
    tokens/part-*.{bin,idx.parquet} (tokenize.write_token_ids)

A run writes into ``<output>/_staging``; only after the Beam job succeeded and conservation
was checked does the driver remove the previous results (with ``--overwrite``) and move the
staged files into place, then write ``summary.json``. A killed run therefore leaves either the
previous complete output or a directory without ``summary.json``, never a half-written output
that looks complete. Works on any Beam filesystem (local, gs://, s3://).
"""
from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError

RESULT_DIRS = ("kept", "rejected", "dead_letter", "artefacts", "tokens")
RESULT_FILES = ("summary.json", "report.json", "report.md", "report.html")


def _join(*parts: str) -> str:
    return FileSystems.join(*parts)


def _list(pattern: str) -> list[str]:
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # noqa: BLE001 - no match
        return []


def existing_results(output: str) -> list[str]:
    found = [f for name in RESULT_FILES for f in _list(_join(output, name))]
    for name in RESULT_DIRS:
        found += _list(_join(output, name, "*"))
    return found


def prepare(output: str, overwrite: bool) -> str:
    """Check the output dir and return a clean staging dir inside it."""
    previous = existing_results(output)
    if previous and not overwrite:
        raise ConfigError(f"--output {output}: already holds results ({len(previous)} files, e.g. "
                          f"{previous[0]}); pass --overwrite to replace them, or pick a new directory")
    staging = _join(output, "_staging")
    stale = _list(_join(staging, "*", "*"))
    if stale:
        FileSystems.delete(stale)
    FileSystems.mkdirs(output) if not FileSystems.exists(output) else None
    return staging


def commit(output: str, staging: str) -> dict[str, list[str]]:
    """Replace previous results with the staged ones; returns final paths per kind."""
    previous = existing_results(output)
    if previous:
        FileSystems.delete(previous)
    final: dict[str, list[str]] = {}
    for kind in RESULT_DIRS:
        sources = _list(_join(staging, kind, "*"))
        targets = [_join(output, kind, path.rsplit("/", 1)[-1]) for path in sources]
        if sources:
            if not FileSystems.exists(_join(output, kind)):
                FileSystems.mkdirs(_join(output, kind))
            FileSystems.rename(sources, targets)
        final[kind] = targets
    return final


def cleanup(staging: str) -> None:
    leftovers = _list(_join(staging, "*", "*")) + _list(_join(staging, "*"))
    if leftovers:
        try:
            FileSystems.delete([staging])
        except Exception:  # noqa: BLE001 - best effort; a later run clears it
            pass


def read_rows(output: str, kind: str) -> list[dict]:
    """All rows of ``<output>/<kind>/*.parquet`` (kept, rejected, dead_letter), shard order:
    for audits, tools and tests on a finished run's output."""
    import pyarrow.parquet as pq

    rows: list[dict] = []
    for path in sorted(_list(_join(output, kind, "*.parquet"))):
        with FileSystems.open(path) as handle:
            rows.extend(pq.read_table(handle).to_pylist())
    return rows
