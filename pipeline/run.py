"""The `run` verb: check everything, run the passes, verify the evidence, commit, summarise.

Order (nothing is written to ``--output`` before the last step):

1. inputs listed, the output checked and locked, the work directory reset (or reused with
   ``--resume`` when config and inputs are unchanged);
2. the Beam job runs (:mod:`pipeline.graph`), writing into the private directory;
3. the evidence is checked: the statistics file exists, every listed input file was counted by
   every pass, and the rows each pass says it wrote are the rows in the files (Parquet footers);
   ``input = kept + rejected + dead_letter`` is computed from those rows. Any gap fails the run
   with a message and commits nothing - a missing piece of evidence is never read as zero;
4. summary.json and the report are written into the new output tree, which is then swapped in
   atomically (:mod:`pipeline.outputs`).
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import pickle
import time
from contextlib import nullcontext
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline import io as pio
from pipeline import outputs, shards
from pipeline.config import ConfigError
from pipeline.errors import EvidenceError
from pipeline.graph import build_graph, plan_passes
from pipeline.inputs import check_input_fields, common_root, resolve_inputs
from pipeline.memory import limit_malloc_arenas
from pipeline.options import beam_options, local_workers, runner_name
from pipeline.passes import Layout
from pipeline.progress import Display, QuietWorkerLogs
from pipeline.progress import wanted as progress_wanted
from pipeline.resources import demo_resources
from pipeline.summary import build_summary
from stages.base import RunContext

log = logging.getLogger("pipeline")
CODE_VERSION = "passes-1"  # bump when intermediate files change meaning (invalidates --resume)


def _sizes(files: list[str]) -> list[int]:
    sizes = []
    for path in files:
        try:
            sizes.append(FileSystems.match([path])[0].metadata_list[0].size_in_bytes)
        except Exception:  # noqa: BLE001 - vanished: the reader dead-letters it
            sizes.append(0)
    return sizes


def config_for_summary(config: Any) -> dict[str, Any]:
    """The config as summary.json records it: without run-control flags (``overwrite``),
    so a rerun into the same folder reproduces summary.json byte for byte."""
    dumped = config.model_dump(mode="json")
    dumped.get("output", {}).pop("overwrite", None)
    return dumped


def fingerprint(config: Any, files: list[str], sizes: list[int]) -> str:
    """What --resume must match: config, input files (path, size, mtime) and code version."""
    entries = []
    for path, size in zip(files, sizes):
        try:
            mtime = FileSystems.match([path])[0].metadata_list[0].last_updated_in_seconds
        except Exception:  # noqa: BLE001
            mtime = None
        entries.append((path, size, mtime))
    blob = json.dumps({"config": config_for_summary(config), "files": entries,
                       "code": CODE_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def run_pipeline(config: Any, beam_args: list[str], resume: bool = False,
                 stages: list[tuple[Any, Any]] | None = None,
                 progress: float = 0.0) -> dict[str, Any]:
    """Run the job end to end and return the summary (also written to <output>/summary.json).

    ``stages`` replaces the registry's enabled stages with (declaration, config section)
    pairs: how a library user or a test runs a stage of their own through the same shell.
    ``progress``: seconds between refreshes of the live progress line (0: none)."""
    options = beam_options(beam_args)
    limit_malloc_arenas(config.run.malloc_arenas)
    files = resolve_inputs(config.input.paths)
    for warning in check_input_fields(config.input, files):
        log.warning(warning)
    output = outputs.check_output(config.output.path, list(config.input.paths))
    sizes = _sizes(files)
    dry_run = bool(options.get_all_options().get("dry_run"))
    lease = None if dry_run else outputs.acquire(output, config.output.overwrite, resume)
    started = time.perf_counter()
    try:
        if lease is None:
            work, out, reused = f"{output}/.dry-run-work", f"{output}/.dry-run-out", False
        else:
            reused = outputs.reset(lease, fingerprint(config, files, sizes), resume)
            work, out = lease.work, lease.out
        layout = Layout(work=work, out=out, files=tuple(files),
                        compression=config.output.compression, root=common_root(files))
        context = RunContext(artefact_dir=f"{out}/artefacts", seed=config.run.seed)
        plan = plan_passes(config, sum(sizes), context, stages=stages, sink_factory=_sinks)
        stats_path = f"{work}/stats.pkl"
        if not dry_run and FileSystems.exists(stats_path):
            FileSystems.delete([stats_path])
        pipeline = beam.Pipeline(options=options)
        build_graph(pipeline, plan, layout, stats_path=stats_path)
        log.info("running %d file(s) through %s on %s (%d pass(es)%s)", len(files),
                 " -> ".join(plan.stages), runner_name(options), len(plan.passes),
                 ", resuming" if reused else "")
        show_progress = not dry_run and progress_wanted(progress)  # asked of the real stderr
        quiet = (QuietWorkerLogs() if local_workers(options) > 1
                 and not logging.getLogger().isEnabledFor(logging.INFO) else nullcontext())
        with quiet:
            display = (Display(f"{work}/progress", work, len(files), len(plan.passes), progress,
                               getattr(quiet, "stream", None))
                       if show_progress else None)
            result = None
            try:
                result = pipeline.run()
                if not dry_run:
                    result.wait_until_finish()
            finally:
                if display is not None:
                    display.stop()
                # Beam's DaskRunner leaves its distributed.Client open: it would keep
                # reconnecting (and logging tracebacks) once the user's scheduler goes away.
                client = getattr(result, "client", None)
                if client is not None and hasattr(client, "close"):
                    client.close()
        if dry_run:
            log.warning("--dry_run: the job graph was built and validated but not submitted")
            return {"dry_run": True, "stages": list(plan.stages), "files": len(files)}
        wall = time.perf_counter() - started
        stats = read_stats(stats_path)
        written = verify_evidence(stats, layout, plan)
        summary = build_summary(list(plan.stages), stats, written, config_for_summary(config),
                                wall, runner_name(options), plan.finalizers())
        summary["files"] = {kind: sorted(p.rsplit("/", 1)[-1] for p in paths)
                            for kind, paths in written["paths"].items()}
        summary["resources"] = {"demo": demo_resources(config)}
        _write_outputs(config, out, summary)
        outputs.commit(lease)
        outputs.cleanup(lease)
        return summary
    except Exception as error:
        if lease is not None and _disk_full(error):
            outputs.cleanup(lease)
            raise ConfigError(f"disk full while writing the run (no space left on device); "
                              f"nothing was committed and {output} is unchanged") from error
        raise
    finally:
        if lease is not None:
            lease.release()


def _disk_full(error: BaseException) -> bool:
    """ENOSPC anywhere in the chain (runners wrap worker exceptions, sometimes as text)."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 20:
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(current) or "[Errno 28]" in str(current):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def _sinks(steps: tuple) -> tuple:
    """Extra per-file writers of the final pass: token-id shards when its tokenize step is
    configured to write them."""
    from pipeline.token_sink import TokenSinkFactory

    return tuple(TokenSinkFactory(step.config) for step in steps
                 if step.stage.name == "tokenize" and step.config.write_token_ids)


def read_stats(path: str) -> dict[str, Any]:
    if not FileSystems.exists(path):
        raise EvidenceError(f"the run's statistics ({path}) were not written: the runner did "
                            "not run the whole graph; nothing was committed")
    try:
        with FileSystems.open(path) as handle:
            return pickle.loads(handle.read())
    except Exception as error:  # noqa: BLE001
        raise EvidenceError(f"the run's statistics ({path}) are unreadable: {error}") from error


def verify_evidence(stats: dict[str, Any], layout: Layout, plan: Any) -> dict[str, Any]:
    """Check every pass counted every listed file and wrote exactly the rows it claims;
    returns the rows per kind and the committed file paths."""
    n_files = len(layout.files)
    expected = {str(i) for i in range(n_files)}
    problems = []
    paths: dict[str, list[str]] = {"kept": [], "rejected": [], "dead_letter": []}
    rows = {"kept": 0, "rejected": 0, "dead_letter": 0}
    for spec in plan.passes:
        merged = stats.get(f"pass{spec.index}")
        if merged is None:
            problems.append(f"pass {spec.index} reported no statistics")
            continue
        seen = set(merged["files"])
        if seen != expected:
            missing = sorted(expected - seen, key=int)[:5]
            problems.append(f"pass {spec.index} counted {len(seen)} of {n_files} input files "
                            f"(missing e.g. {[layout.files[int(i)] for i in missing]})")
            continue
        for index, entry in merged["files"].items():
            i = int(index)
            written = entry["written"]
            for kind, path in (("rejected", layout.output("rejected", i, spec.index)),
                               ("dead_letter", layout.output("dead_letter", i, spec.index)),
                               ("survivors", layout.output("kept", i) if spec.final
                                else layout.shard(spec.index, i))):
                found = shards.count_rows(path) if FileSystems.exists(path) else 0
                if found != written[kind]:
                    problems.append(f"pass {spec.index}, {layout.files[i]}: {kind} file holds "
                                    f"{found} rows, the pass reported {written[kind]}")
                kind_out = "kept" if kind == "survivors" else kind
                if found and (kind != "survivors" or spec.final):
                    paths[kind_out].append(path)
                    rows[kind_out] += found
        if spec.index == 0:
            if set(merged["input"]) != expected:
                problems.append("the reader did not count records for every input file")
    for kind in paths:
        extra = set(shards.list_files(f"{layout.out}/{kind}/*")) - set(paths[kind])
        if extra:
            problems.append(f"unexpected files in {kind}/: {sorted(extra)[:3]}")
    if problems:
        raise EvidenceError("the outputs do not match the run's own counts; nothing was "
                            "committed:\n  " + "\n  ".join(problems[:20]))
    return {"rows": rows, "paths": paths}


def _write_outputs(config: Any, out: str, summary: dict[str, Any]) -> None:
    """Files that read the new output before it is committed: the report, the dataset card,
    then summary.json (inside the staged tree, so the swap brings them in together)."""
    from pipeline.report import write_reports

    write_reports(config, out, summary, label=config.output.path)
    pio.write_dataset_card(out)
    pio.write_json(f"{out}/summary.json", summary)


__all__ = ["EvidenceError", "resolve_inputs", "run_pipeline"]


def run_stages_on_docs(docs: list, stages: list[tuple[Any, Any]], folder: str, files: int = 1,
                       beam_args: list[str] = (), overrides: list[str] = ()) -> str:
    """Run (declaration, config section) stages through the real shell on documents made in
    memory, dealt in order over ``files`` document shards under ``folder``; returns the output
    folder (``folder``/out, replaced if present). For evaluations and tests of single stages."""
    from pipeline.config import load_config

    per_file = max(1, -(-len(docs) // files))
    inputs = [shards.write_doc_shard(docs[i:i + per_file], f"{folder}/docs-{n:03d}.parquet")
              for n, i in enumerate(range(0, max(len(docs), 1), per_file))]
    out = f"{folder}/out"
    config = load_config(None, list(overrides), **{"input.paths": inputs, "output.path": out,
                                                   "input.format": "docs",
                                                   "output.overwrite": True})
    run_pipeline(config, list(beam_args), stages=stages)
    return out
