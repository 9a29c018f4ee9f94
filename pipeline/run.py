"""The `run` verb: validate, build, run on the chosen runner, commit outputs, write summary."""
from __future__ import annotations

import logging
import time
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline import io as pio
from pipeline import outputs
from pipeline.config import enabled_stages
from pipeline.graph import COUNTED_STATS, Staging, build_graph
from pipeline.inputs import check_input_fields, resolve_inputs
from pipeline.memory import limit_malloc_arenas
from pipeline.options import beam_options, runner_name
from pipeline.summary import build_summary, metric_totals

log = logging.getLogger("pipeline")


def run_pipeline(config: Any, beam_args: list[str]) -> dict[str, Any]:
    """Run the job end to end and return the summary (also written to <output>/summary.json)."""
    options = beam_options(beam_args)
    limit_malloc_arenas(config.run.malloc_arenas)
    files = resolve_inputs(config.input.paths)
    for warning in check_input_fields(config.input, files):
        log.warning(warning)
    output = config.output.path.rstrip("/")
    staging_root = outputs.prepare(output, config.output.overwrite)
    staging = Staging(staging_root)
    artefact_dir = FileSystems.join(staging_root, "artefacts")
    started = time.perf_counter()
    pipeline = beam.Pipeline(options=options)
    stage_names = build_graph(pipeline, config, files, staging, artefact_dir)
    log.info("running %d file(s) through %s on %s", len(files), " -> ".join(stage_names),
             runner_name(options))
    result = pipeline.run()
    if options.get_all_options().get("dry_run"):
        log.warning("--dry_run: the job graph was built and validated but not submitted")
        return {"dry_run": True, "stages": stage_names, "files": len(files)}
    result.wait_until_finish()
    wall = time.perf_counter() - started

    counted = {name: pio.read_json(staging.stats_file(name))
               for name in COUNTED_STATS}
    reports: dict[str, Any] = {}
    for path in outputs._list(staging.stats_file("*")):
        name = path.rsplit("/", 1)[-1][: -len(".json")]
        if name not in counted:
            stage, _, report = name.partition(".")
            reports.setdefault(stage, {})[report] = pio.read_json(path)
    summary = build_summary(stage_names, counted, metric_totals(result), reports,
                            config.model_dump(mode="json"), wall, runner_name(options))
    if not summary["conservation"]["holds"]:
        log.error("conservation failed: %s", summary["conservation"])
    final = outputs.commit(output, staging_root)
    summary["files"] = {kind: sorted(p.rsplit("/", 1)[-1] for p in paths)
                        for kind, paths in final.items()}
    _after_commit(config, output, summary)
    pio.write_json(FileSystems.join(output, "summary.json"), summary)
    outputs.cleanup(staging_root)
    return summary


def _after_commit(config: Any, output: str, summary: dict[str, Any]) -> None:
    """Hooks that read the committed output before the summary marks it complete (the report)."""
    from pipeline.report import write_reports

    write_reports(config, output, summary)


__all__ = ["run_pipeline", "resolve_inputs", "enabled_stages"]
