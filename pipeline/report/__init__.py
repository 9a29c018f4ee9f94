"""The token-budget report: report.json / report.md / report.html at the top of a run's output.

``write_reports`` is called by :func:`pipeline.run._after_commit` once outputs are committed;
``rebuild`` re-derives the report from a finished run's summary.json with another report config
(the ``report`` verb: other models, GPUs, utilisation, fit, mix, budget; no pipeline rerun).
Beam's filesystem layer (local, gs://, s3://) is imported inside the functions so ``plan``
starts without Beam.
"""
from __future__ import annotations

import logging
from typing import Any

from pipeline.report.budget import SCHEMA_VERSION, build_report
from pipeline.report.config import ReportConfig

log = logging.getLogger("pipeline.report")


def _dir_bytes(output: str, name: str) -> int | None:
    """Total size of files under <output>/<name>/ (None when the directory holds nothing)."""
    from apache_beam.io.filesystems import FileSystems

    pattern = FileSystems.join(output, name, "**")
    try:
        found = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - no such directory
        return None
    sizes = [m.size_in_bytes for m in found if not m.path.endswith("/")]
    return sum(sizes) if sizes else None


def disk_usage(output: str) -> dict[str, int | None]:
    return {"kept": _dir_bytes(output, "kept"), "tokens": _dir_bytes(output, "tokens")}


def _write(path: str, text: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(path) as handle:
        handle.write(text.encode("utf-8"))


def render_all(report: dict[str, Any], output: str, html: bool = True) -> list[str]:
    """Write report.md (and report.html) next to report.json; returns the names written."""
    from apache_beam.io.filesystems import FileSystems

    from pipeline.report.render_html import render_html
    from pipeline.report.render_md import render_markdown

    _write(FileSystems.join(output, "report.md"), render_markdown(report))
    written = ["report.md"]
    if html:
        _write(FileSystems.join(output, "report.html"), render_html(report))
        written.append("report.html")
    return written


def build_for_output(summary: dict[str, Any], section: ReportConfig, output: str,
                     label: str | None = None) -> dict[str, Any]:
    """The report of a committed output: summary + file sizes + sample rejected rows."""
    from pipeline.report.samples import sample_rejections

    expected = {(str(stage.get("stage")), str(reason)) for stage in summary.get("stages") or []
                for reason in stage.get("reasons") or {}}
    samples: list[dict[str, Any]] | str
    try:
        samples = sample_rejections(output, section.samples_per_reason, section.sample_chars,
                                    expected=expected)
    except Exception as error:  # noqa: BLE001 - sample rows are an extra; never lose a run for them
        log.warning("report: could not read rejected rows for samples: %s", error)
        samples = f"could not read rejected/: {type(error).__name__}: {error}"
    return build_report(summary, section, disk_usage(output), label if label is not None else output,
                        samples)


def write_reports(config: Any, output: str, summary: dict[str, Any],
                  label: str | None = None) -> list[str]:
    """Build and write the report for a finished run; records the file names in the summary.
    ``label``: the output path the report names (a run writes into its private staging folder
    and commits it to ``--output``, which is what the reader should see)."""
    from apache_beam.io.filesystems import FileSystems

    from pipeline import io as pio

    section: ReportConfig = getattr(config, "report", None) or ReportConfig()
    if not section.enabled:
        return []
    report = build_for_output(summary, section, output, label)
    pio.write_json(FileSystems.join(output, "report.json"), report)
    written = ["report.json", *render_all(report, output, section.html)]
    summary["report_files"] = written
    return written


def read_summary(output: str) -> dict[str, Any]:
    from apache_beam.io.filesystems import FileSystems

    from pipeline import io as pio

    path = FileSystems.join(output.rstrip("/"), "summary.json")
    summary = pio.read_json(path)
    if summary is None:
        raise FileNotFoundError(f"{path}: no summary.json (not a finished run's output)")
    return summary


def run_config(summary: dict[str, Any], overrides: dict[str, Any] | None = None) -> ReportConfig:
    """The run's own report section (from summary.json) with ``overrides`` applied."""
    stored = dict((summary.get("config") or {}).get("report") or {})
    known = set(ReportConfig.model_fields)
    stored = {k: v for k, v in stored.items() if k in known}
    stored.update(overrides or {})
    return ReportConfig(**stored)


def rebuild(output: str, overrides: dict[str, Any] | None = None,
            destination: str | None = None) -> list[str]:
    """Re-derive report.{json,md,html} of a finished run from its summary.json (no pipeline
    run): with ``overrides`` (e.g. {"models": ["13B"], "gpu": "b200"}) the budget is redone for
    other targets. Writes into ``destination`` (default: the run's output)."""
    from apache_beam.io.filesystems import FileSystems

    from pipeline import io as pio

    output = output.rstrip("/")
    summary = read_summary(output)
    section = run_config(summary, overrides)
    report = build_for_output(summary, section, output)
    target = (destination or output).rstrip("/")
    if not FileSystems.exists(target):
        FileSystems.mkdirs(target)
    pio.write_json(FileSystems.join(target, "report.json"), report)
    return ["report.json", *render_all(report, target, section.html)]


def rerender(output: str) -> list[str]:
    """Re-render md/html from <output>/report.json as it is (same schema only)."""
    from apache_beam.io.filesystems import FileSystems

    from pipeline import io as pio

    path = FileSystems.join(output.rstrip("/"), "report.json")
    report = pio.read_json(path)
    if report is None:
        raise FileNotFoundError(f"{path}: no report.json (run the pipeline first)")
    version = report.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {version!r}, this code renders {SCHEMA_VERSION}")
    return render_all(report, output.rstrip("/"))


__all__ = ["write_reports", "rerender", "rebuild", "build_report", "ReportConfig"]
