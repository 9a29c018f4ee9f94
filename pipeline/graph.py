"""Assemble the Beam graph: read -> enabled stages in order -> sinks and stats.

Reads like the recipe: every stage returns (kept, rejected, dead_letter[, reports]); kept feeds
the next stage; all rejects and dead letters are flattened into their sinks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from pipeline import io as pio
from pipeline import stats
from pipeline.registry import RunContext, available_stages

# Run-wide statistics, one JSON file each under _stats/; every other file there is a stage report
# ("<stage>.<name>").
COUNTED_STATS = ("input", "kept", "rejected", "rejected_by_lang", "dead_letter")
STAGING_LAYOUT = {"kept": "kept", "rejected": "rejected", "dead_letter": "dead_letter",
                  "tokens": "tokens", "stats": "_stats"}


@dataclass(frozen=True)
class Staging:
    """Where a run writes before the driver commits it."""

    root: str

    def dir(self, kind: str) -> str:
        return f"{self.root}/{STAGING_LAYOUT[kind]}"

    def stats_file(self, name: str) -> str:
        return f"{self.dir('stats')}/{name}.json"


def build_graph(pipeline: beam.Pipeline, config: Any, files: list[str], staging: Staging,
                artefact_dir: str) -> list[str]:
    """Add the whole job to ``pipeline``; returns the enabled stage names in order."""
    read = pipeline | "read" >> pio.ReadDocuments(files, config.input)
    docs = read.docs
    rejected = [read.rejected]
    dead = [read.dead_letter]
    reports: dict[str, beam.PCollection] = {}
    context = RunContext(artefact_dir=artefact_dir, seed=config.run.seed)
    ran = []
    for name, module in available_stages():
        section = getattr(config, name)
        if not section.enabled:
            continue
        ran.append(name)
        out = docs | name >> module.Stage(section, context)
        docs = out.kept
        rejected.append(out.rejected)
        dead.append(out.dead_letter)
        for report_name, pcoll in (out.reports or {}).items():
            reports[f"{name}.{report_name}"] = pcoll

    all_rejected = rejected | "all rejected" >> beam.Flatten()
    all_dead = dead | "all dead letters" >> beam.Flatten()
    out_cfg = config.output
    docs | "write kept" >> pio.WriteParquetShards(
        staging.dir("kept"), pio.KEPT_SCHEMA, pio.kept_row, lambda row: len(row["text"] or ""),
        out_cfg.target_shard_bytes, out_cfg.compression,
        sort_columns=("id", "source", "url", "date", "text"))
    if "tokenize" in ran and config.tokenize.write_token_ids:
        from stages.tokenize import shard_settings
        docs | "write token ids" >> pio.WriteTokenShards(staging.dir("tokens"),
                                                         config.tokenize.tokens_per_shard,
                                                         shard_settings(config.tokenize))
    all_rejected | "write rejected" >> pio.WriteParquetShards(
        staging.dir("rejected"), pio.REJECTED_SCHEMA, pio.rejected_row,
        lambda row: len(row["text"] or "") + 200, out_cfg.target_shard_bytes, out_cfg.compression,
        sort_columns=("id", "source", "stage", "reason", "url", "text"))
    all_dead | "write dead letters" >> pio.WriteParquetShards(
        staging.dir("dead_letter"), pio.DEAD_LETTER_SCHEMA, pio.dead_letter_row,
        lambda row: len(row["raw"] or b"") + len(row["error"] or ""), out_cfg.target_shard_bytes,
        out_cfg.compression, sort_columns=("id", "source", "stage", "error", "raw"))

    counted = {
        "input": read.file_stats | "count input" >> beam.CombineGlobally(stats.FileStats()),
        "kept": docs | "count kept" >> beam.CombineGlobally(stats.KeptStats()),
        "rejected": all_rejected | "count rejected" >> beam.CombineGlobally(stats.RejectStats()),
        "rejected_by_lang": all_rejected | "count rejected by language" >> beam.CombineGlobally(
            stats.RejectByLangStats()),
        "dead_letter": all_dead | "count dead letters" >> beam.CombineGlobally(stats.DeadLetterStats()),
    }
    assert tuple(counted) == COUNTED_STATS
    for name, pcoll in {**counted, **reports}.items():
        pcoll | f"save {name}" >> pio.WriteSingleJson(staging.stats_file(name))
    return ran
