"""Assemble the Beam graph from the stage declarations: passes over files, decisions over keys.

Reads like the recipe::

    files -> pass 0: read, safety, extract, language, ..., repetition, [dedup prepare]
          -> dedup decide (over key files: exact groups, LSH buckets, components)
          -> pass 1: dedup apply, decontaminate, [tokenize prepare: the training sample]
          -> tokenize decide (train on the sample)
          -> pass 2: tokenize apply -> kept
          -> one stats sink

Each pass is one ``ParDo`` per input file (:mod:`pipeline.passes`); a two-pass stage splits the
chain where its decisions are needed. Documents stay in per-file shards between passes; only
file numbers, partition numbers, decisions and statistics are Beam elements. The graph has
no tagged outputs and exactly one sink (the statistics), which keeps it correct on runners that
mishandle either (Beam's DaskRunner).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from pipeline import keys as pkeys
from pipeline.config import ConfigError
from pipeline import shards
from pipeline.passes import Layout, MergeStats, PassFn, PassSpec, Step
from pipeline.registry import available_stages
from stages.base import DecideInputs, RunContext, Stage

# Key-file partitions: one per this many input bytes (bounded), so a partition task reads a
# bounded share of the keys whatever the corpus size.
PARTITION_INPUT_BYTES = 256 << 20
MAX_PARTITIONS = 4096
STATS_NAME = "run"
# A gather channel (payloads of requested documents) gets this many partitions per key-file
# partition: its records are payloads (kilobytes), not keys (tens of bytes), so one partition
# task holds about as much as a key partition task.
GATHER_PARTITIONS_PER_KEY_PARTITION = 4


@dataclass(frozen=True)
class Plan:
    """The passes and, between them, the two-pass stages whose decisions split them."""

    passes: tuple[PassSpec, ...]
    stages: tuple[str, ...]          # enabled stage names in order

    def finalizers(self) -> dict[str, Any]:
        """Stage name -> its finalize_reports hook, for the stages that declare one."""
        found = {}
        for spec in self.passes:
            for step in (*spec.steps, *([spec.prepare] if spec.prepare else [])):
                if step.stage.finalize_reports is not None:
                    found[step.stage.name] = step.stage.finalize_reports
        return found


def partitions_for(total_bytes: int) -> int:
    return max(1, min(MAX_PARTITIONS, math.ceil(total_bytes / PARTITION_INPUT_BYTES)))


def enabled_stages(config: Any) -> list[tuple[Stage, Any]]:
    """(declaration, config section) of every enabled stage, in pipeline order."""
    out = []
    for name, module in available_stages():
        section = getattr(config, name)
        if section.enabled:
            out.append((module.SPEC, section))
    return out


def plan_passes(config: Any, total_bytes: int, context: RunContext,
                stages: list[tuple[Stage, Any]] | None = None,
                sink_factory: Any = None) -> Plan:
    """Split the stages (default: the enabled registry stages) into passes at every two-pass
    stage."""
    partitions = partitions_for(total_bytes)
    passes: list[PassSpec] = []
    steps: list[Step] = []
    names = []
    for stage, section in (enabled_stages(config) if stages is None else stages):
        names.append(stage.name)
        two = stage.two_pass_for(section)
        if two is None:
            steps.append(Step(stage, section))
            continue
        passes.append(PassSpec(index=len(passes), steps=tuple(steps), reads_input=not passes,
                               final=False, prepare=Step(stage, section), partitions=partitions,
                               input_config=config.input, context=context))
        steps = [Step(stage, section, applies=True)]
    sinks = sink_factory(tuple(steps)) if sink_factory is not None else ()
    passes.append(PassSpec(index=len(passes), steps=tuple(steps), reads_input=not passes,
                           final=True, partitions=partitions, input_config=config.input,
                           context=context, sinks=sinks))
    return Plan(tuple(passes), tuple(names))


def _report_fns(spec: PassSpec) -> tuple[dict[str, Any], dict[str, str]]:
    """Per-document report accumulators of a pass's stages, and each report's name. Built on
    the driver before any work: a stage that finds its config unworkable here (a benchmark
    index over the worker budget) raises ValueError, reported as a config error."""
    steps = [step for step in spec.steps if step.stage.report is not None]
    fns = {}
    for step in steps:
        try:
            fns[step.stage.name] = step.stage.report(step.config, spec.context)
        except ValueError as error:
            raise ConfigError(f"{step.stage.name}: {error}") from error
    return fns, {step.stage.name: step.stage.report_name for step in steps}


class _FetchFn(beam.DoFn):
    """(file, [rows]) -> ((file, row), Doc) read back from the shard a pass wrote."""

    def __init__(self, layout: Layout, pass_index: int) -> None:
        self.layout, self.pass_index = layout, pass_index

    def process(self, item: tuple[int, list[int]]):
        file_index, rows = item
        path = self.layout.shard(self.pass_index, file_index)
        for row, doc in shards.read_docs_at(path, rows):
            yield (file_index, row), doc


class _GatherFn(beam.DoFn):
    """(file, {"file": [...], "requests": [(row, (key, value)), ...]}) -> one key file of
    ``(key, (value, payload))`` records for that file (always written, maybe empty), then the
    file's number: the documents are read where they lie and their payloads go to disk."""

    def __init__(self, layout: Layout, pass_index: int, paths: list[str], partitions: int,
                 make_compute: Any) -> None:
        self.layout, self.pass_index, self.paths = layout, pass_index, paths
        self.partitions, self.make_compute = partitions, make_compute
        self.compute: Any = None

    def setup(self) -> None:
        self.compute = self.make_compute()

    def process(self, item: tuple[int, dict[str, list]]):
        file_index, grouped = item
        # Runner-independent record order: by row, then by key and value.
        requests = sorted(grouped["requests"], key=lambda r: (r[0], r[1][0], repr(r[1][1])))
        by_row: dict[int, list[tuple[bytes, Any]]] = {}
        for row, request in requests:
            by_row.setdefault(row, []).append(request)
        writer = pkeys.KeyWriter(self.paths[file_index], pkeys.GATHER_KEY_BYTES, self.partitions)
        try:
            if by_row:
                path = self.layout.shard(self.pass_index, file_index)
                for row, doc in shards.read_docs_at(path, by_row):
                    payload = self.compute(doc)
                    for key, value in by_row[row]:
                        writer.add(key, (value, payload))
        except BaseException:
            writer.abort()
            raise
        writer.close()
        yield file_index


def _by_file(ref_value: tuple[tuple[int, int], Any]) -> tuple[int, tuple[int, Any]]:
    (file_index, row), value = ref_value
    return file_index, (row, value)


class _Decide(beam.PTransform):
    """A two-pass stage's decide step, its labels nested under the stage's name."""

    def __init__(self, step: Step, context: RunContext, inputs: DecideInputs) -> None:
        super().__init__()
        self.step, self.context, self.inputs = step, context, inputs

    def expand(self, pbegin: Any) -> dict[str, Any]:
        two = self.step.stage.two_pass_for(self.step.config)
        decisions = two.decide(self.step.config, self.context, self.inputs)
        out: dict[str, Any] = {}
        if decisions.per_doc is not None:
            out["per_doc"] = decisions.per_doc
        if decisions.broadcast is not None:
            out["broadcast"] = decisions.broadcast
        for name, pcoll in decisions.reports.items():
            out[f"report:{name}"] = pcoll
        return out


def _decide_inputs(pipeline: beam.Pipeline, spec: PassSpec, layout: Layout, merged: Any
                   ) -> DecideInputs:
    stage = spec.prepare.stage
    two = stage.two_pass_for(spec.prepare.config)
    name = stage.name
    after = merged | f"{name}/prepared" >> beam.Map(lambda m: m["prepared"].get(name, {}))
    n_files = len(layout.files)
    groups, stream = {}, {}
    for channel in two.channels:
        paths = [pkeys.key_file(layout.work, name, channel.name, i) for i in range(n_files)]
        if channel.kind == "grouped":
            def factory(min_size: int = 2, extra: Any = None, label: str = "groups",
                        _paths=paths, _channel=channel) -> Any:
                return pipeline | f"{name}/{_channel.name}/{label}" >> pkeys.ReadGroups(
                    _paths, _channel.key_bytes, spec.partitions, after, min_size, extra)
            groups[channel.name] = factory
            groups[channel.name + ":sizes"] = (
                lambda _paths=paths, _channel=channel: pipeline
                | f"{name}/{_channel.name}/sizes" >> pkeys.GroupSizes(
                    _paths, _channel.key_bytes, spec.partitions, after))
        else:
            stream[channel.name] = (
                after
                | f"{name}/{channel.name}/files" >> beam.FlatMap(
                    lambda _, p=paths: [(path, None) for path in p])
                | f"{name}/{channel.name}/one per file" >> beam.GroupByKey()  # and spread
                | f"{name}/{channel.name}/file" >> beam.Keys()
                | f"{name}/{channel.name}/read" >> beam.FlatMap(
                    lambda path: pkeys.read_stream([path])))

    def gather(requests: Any, label: str, make_compute: Any, min_size: int = 2) -> Any:
        partitions = min(MAX_PARTITIONS, spec.partitions * GATHER_PARTITIONS_PER_KEY_PARTITION)
        paths = [pkeys.key_file(layout.work, name, label, i) for i in range(n_files)]
        every_file = pipeline | f"{name}/gather {label}/files" >> beam.Create(
            [(i, None) for i in range(n_files)])
        by_file = requests | f"{name}/gather {label}/by file" >> beam.Map(
            lambda request: (request[0][0], (request[0][1], request[1])))
        written = (({"file": every_file, "requests": by_file})
                   | f"{name}/gather {label}/requests to files" >> beam.CoGroupByKey()
                   | f"{name}/gather {label}/write" >> beam.ParDo(
                       _GatherFn(layout, spec.index, paths, partitions, make_compute))
                   | f"{name}/gather {label}/all written" >> beam.combiners.Count.Globally())
        return pipeline | f"{name}/gather {label}/groups" >> pkeys.ReadGroups(
            paths, pkeys.GATHER_KEY_BYTES, partitions, written, min_size)

    def fetch(refs: Any, label: str) -> Any:
        return (refs
                | f"{name}/fetch {label}/by file" >> beam.Map(lambda ref: (ref[0], ref[1]))
                | f"{name}/fetch {label}/group" >> beam.GroupByKey()
                | f"{name}/fetch {label}/rows" >> beam.MapTuple(lambda f, rows: (f, sorted(rows)))
                | f"{name}/fetch {label}/read" >> beam.ParDo(_FetchFn(layout, spec.index)))

    return DecideInputs(groups=groups, stream=stream, fetch=fetch, after=after, pipeline=pipeline,
                        gather=gather)


def build_graph(pipeline: beam.Pipeline, plan: Plan, layout: Layout, stats_path: str) -> None:
    """Add the whole job to ``pipeline``: every pass, every decide step, one stats sink."""
    labelled: list[Any] = []
    elements = (pipeline
                | "files" >> beam.Create([(i, None) for i in range(len(layout.files))])
                | "spread files" >> beam.Reshuffle())
    side: dict[str, Any] = {}  # the broadcast side input of the pass that applies a decide step
    for spec in plan.passes:
        label = f"pass {spec.index}"
        report_fns, report_names = _report_fns(spec)
        stats = elements | f"{label}/run" >> beam.ParDo(
            PassFn(spec, layout, report_fns), **side)
        merged = stats | f"{label}/merge" >> beam.CombineGlobally(
            MergeStats(report_fns, report_names))
        labelled.append(merged | f"{label}/label" >> beam.Map(lambda m, k=spec.index: (f"pass{k}", m)))
        if spec.final:
            break
        decided = pipeline | f"{spec.prepare.stage.name}/decide" >> _Decide(
            spec.prepare, spec.context, _decide_inputs(pipeline, spec, layout, merged))
        for key, pcoll in decided.items():
            if key.startswith("report:"):
                report = f"{spec.prepare.stage.name}.{key[len('report:'):]}"
                labelled.append(pcoll | f"{report}/label" >> beam.Map(lambda r, n=report: (n, r)))
        files_done = stats | f"{label}/files done" >> beam.Map(lambda s: (s.file_index, None))
        if "per_doc" in decided:
            per_file = decided["per_doc"] | f"{label}/decisions by file" >> beam.Map(_by_file)
            elements = (({"f": files_done, "d": per_file})
                        | f"{label}/decisions to files" >> beam.CoGroupByKey()
                        | f"{label}/decisions" >> beam.MapTuple(
                            lambda i, g: (i, dict(g["d"]))))
        else:
            elements = files_done | f"{label}/no decisions" >> beam.MapTuple(lambda i, _: (i, {}))
        side = ({"broadcast": beam.pvalue.AsSingleton(decided["broadcast"])}
                if "broadcast" in decided else {})
    (labelled
     | "all stats" >> beam.Flatten()
     | "stats dict" >> beam.combiners.ToDict()
     | "write stats" >> beam.Map(_write_stats, stats_path))


def _write_stats(stats: dict[str, Any], path: str) -> str:
    """The one sink: every pass's merged statistics and every decide report, pickled (the
    driver reads it; a missing file fails the run, it is never read as zeros)."""
    import pickle

    from apache_beam.io.filesystems import FileSystems

    tmp = shards._tmp_name(path)
    with FileSystems.create(tmp) as handle:
        handle.write(pickle.dumps(stats, protocol=pickle.HIGHEST_PROTOCOL))
    FileSystems.rename([tmp], [path])
    return path

