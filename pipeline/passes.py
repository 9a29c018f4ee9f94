"""The one shell every stage runs in: a per-input-file pass over a chain of stage cores.

A *pass* takes one input file (pass 0: the raw file through a reader; later passes: the shard
the previous pass wrote for that file), runs every document through its stages' cores in
order, and writes, for that file only: the surviving documents (an intermediate shard, or the
kept output in the last pass), the rejected rows, the dead letters and - when a two-pass stage
follows - that stage's keyed records. It returns one small dict of statistics (counts per
stage and reason, bytes, time, the stats combiners' accumulators). Nothing but that dict and
partition numbers ever crosses a Beam shuffle, so memory does not grow with the corpus.

Each (pass, file) ends by writing a *done marker* holding its statistics; a task that finds one
returns the statistics without redoing the work. With ``--resume`` a run killed at any point
continues where it stopped and ends byte-identical to an uninterrupted one; within a run, a
retried or recomputed task costs one marker read.

Accounting: every record a pass reads ends in exactly one of its outputs (next shard or kept,
rejected, dead letter); ``tests/test_contract.py`` and the summary's evidence check hold it.
"""
from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import io as pio
from pipeline import keys as pkeys
from pipeline import shards
from pipeline.memory import release_free_memory
from pipeline.progress import RECORDER
from pipeline.stats import DeadLetterStats, KeptStats, RejectByLangStats, RejectStats
from stages.base import DocRef, RunContext, Stage, dead_letter, make_rejected, unwrap
from stages.record import DeadLetter, Doc, Drop, Rejected

READ = "read"
BOOKKEEPING = ("docs_in", "docs_out", "bytes_in", "bytes_out", "dead_letter", "micros")


# ----------------------------------------------------------------------------- the plan

@dataclass(frozen=True)
class Step:
    """One stage as a pass runs it."""

    stage: Stage
    config: Any
    # apply step of a two-pass stage: its core is core(doc, decision) and may need a broadcast
    applies: bool = False


@dataclass(frozen=True)
class Layout:
    """Where a run's files go: ``work`` (intermediates, markers; kept for --resume) and ``out``
    (the new output tree, committed as a whole by the driver)."""

    work: str
    out: str
    files: tuple[str, ...]          # input files, sorted; a file's index is its position
    compression: str = "zstd"
    root: str = ""                  # the folder all inputs share: `source` is a path below it

    def shard(self, pass_index: int, file_index: int) -> str:
        return f"{self.work}/pass{pass_index}/part-{file_index:05d}.parquet"

    def marker(self, pass_index: int, file_index: int) -> str:
        return f"{self.work}/pass{pass_index}/part-{file_index:05d}.done"

    def part_name(self, file_index: int) -> str:
        return f"part-{file_index:05d}-of-{len(self.files):05d}"

    def output(self, kind: str, file_index: int, pass_index: int | None = None) -> str:
        suffix = "" if pass_index is None else f"-p{pass_index}"
        return f"{self.out}/{kind}/{self.part_name(file_index)}{suffix}.parquet"


@dataclass(frozen=True)
class PassSpec:
    """A chain of stages run on every file between two barriers."""

    index: int
    steps: tuple[Step, ...]
    reads_input: bool                 # pass 0: the reader comes first
    final: bool                       # survivors are the kept output
    prepare: Step | None = None       # a two-pass stage whose prepare runs on the survivors
    partitions: int = 1               # key-file partitions (for prepare)
    input_config: Any = None          # for the reader (pass 0)
    context: RunContext | None = None
    # Survivors of the final pass go through this (e.g. token shards); set by the graph.
    sinks: tuple[Any, ...] = ()


# ----------------------------------------------------------------------------- statistics

def stage_stats() -> dict[str, Any]:
    return {"docs_in": 0, "bytes_in": 0, "docs_out": 0, "bytes_out": 0, "dead_letter": 0,
            "micros": 0, "reasons": {}}


@dataclass
class FileStats:
    """What one (pass, file) did; merged across files by :class:`MergeStats`."""

    pass_index: int
    file_index: int
    path: str
    input: dict[str, int] | None = None          # pass 0: records and bytes of the file
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    prepared: dict[str, dict[str, int]] = field(default_factory=dict)
    acc: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, Any] = field(default_factory=dict)

    def stage(self, name: str) -> dict[str, Any]:
        entry = self.stages.get(name)
        if entry is None:
            entry = self.stages[name] = stage_stats()
        return entry


# Freed memory goes back to the OS every this many documents (pipeline.memory).
RELEASE_EVERY_DOCS = 1000

# The run-wide combiners: kept-document stats, rejects per (stage, reason) and per (language,
# stage), dead letters per (stage, kind). One accumulator per file, merged once.
COMBINERS: dict[str, Any] = {"kept": KeptStats(), "rejected": RejectStats(),
                             "rejected_by_lang": RejectByLangStats(),
                             "dead_letter": DeadLetterStats()}


# ----------------------------------------------------------------------------- the DoFn

class PassFn(beam.DoFn):
    """Runs one :class:`PassSpec` on one file per element; yields its :class:`FileStats`.

    Element: ``(file_index, decisions)`` where ``decisions`` maps row -> decision for the
    two-pass apply step of this pass (empty for pass 0). Side input ``broadcast``: that step's
    global value (e.g. a tokenizer trained in the run), when its decide step has one.
    """

    def __init__(self, spec: PassSpec, layout: Layout, report_fns: dict[str, Any]) -> None:
        self.spec, self.layout = spec, layout
        self.report_fns = report_fns
        self.cores: dict[str, Any] = {}
        self.prepare_fn: Callable | None = None
        self._broadcast_ids: dict[str, int] = {}

    def setup(self) -> None:
        context = self.spec.context
        for step in self.spec.steps:
            if not step.applies:
                self.cores[step.stage.name] = step.stage.make_core(step.config, context)
        if self.spec.prepare is not None:
            two = self.spec.prepare.stage.two_pass_for(self.spec.prepare.config)
            self.prepare_fn = two.make_prepare(self.spec.prepare.config, context)
        self._counters: dict[tuple[str, str], Any] = {}

    def _apply_cores(self, broadcast: Any) -> None:
        """A pass opens with at most one two-pass apply step; its core is built once its
        decide step's broadcast value (or None) is known, once per worker."""
        for step in self.spec.steps:
            if not step.applies:
                continue
            name = step.stage.name
            if name not in self.cores or self._broadcast_ids.get(name) != id(broadcast):
                self.cores[name] = step.stage.make_core(step.config, self.spec.context, broadcast)
                self._broadcast_ids[name] = id(broadcast)

    def _count(self, stage: str, name: str, value: int) -> None:
        key = (stage, name)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = Metrics.counter(stage, name)
        counter.inc(value)

    def process(self, element, broadcast=None):  # noqa: ANN001 - Beam type-checks hints here
        file_index, decisions = element
        spec, layout = self.spec, self.layout
        marker = layout.marker(spec.index, file_index)
        # A marker is written only once all of this (pass, file)'s outputs are complete, and the
        # work folder holds only this run's markers (reset unless --resume, whose fingerprint
        # must match): finished work is never redone - after a kill, on a runner's retry, or
        # when a runner recomputes a branch (Dask evaluates side inputs that way).
        if FileSystems.exists(marker):
            with FileSystems.open(marker) as handle:
                yield pickle.loads(handle.read())
            return
        self._apply_cores(broadcast)
        stats = FileStats(spec.index, file_index, layout.files[file_index])
        run = _FileRun(self, stats, dict(decisions or {}))
        try:
            run.execute()
        except BaseException:
            run.abort()
            raise
        RECORDER.flush()
        for stage, entry in stats.stages.items():  # Beam counters for live UIs (not evidence)
            for name in ("docs_in", "micros"):
                self._count(stage, name, entry[name])
        payload = pickle.dumps(stats, protocol=pickle.HIGHEST_PROTOCOL)
        tmp = shards._tmp_name(marker)
        with FileSystems.create(tmp) as handle:
            handle.write(payload)
        FileSystems.rename([tmp], [marker])
        yield stats


class _FileRun:
    """The state of one (pass, file): writers, statistics, the document loop."""

    def __init__(self, fn: PassFn, stats: FileStats, decisions: dict[int, Any]) -> None:
        self.fn, self.stats, self.decisions = fn, stats, decisions
        spec, layout = fn.spec, fn.layout
        self.spec, self.layout = spec, layout
        i, k = stats.file_index, spec.index
        self.rejected = shards.RowWriter(layout.output("rejected", i, k), pio.REJECTED_SCHEMA,
                                         layout.compression)
        self.dead = shards.RowWriter(layout.output("dead_letter", i, k), pio.DEAD_LETTER_SCHEMA,
                                     layout.compression)
        if spec.final:
            self.survivors = shards.RowWriter(layout.output("kept", i), pio.KEPT_SCHEMA,
                                              layout.compression,
                                              size_of=lambda row: len(row["text"] or ""))
        else:
            self.survivors = shards.RowWriter(layout.shard(k, i), shards.DOC_SCHEMA, "zstd",
                                              size_of=lambda row: len(row["text"] or "")
                                              + len(row["html"] or b""))
        self.key_writers: dict[str, pkeys.KeyWriter] = {}
        if spec.prepare is not None:
            stage = spec.prepare.stage
            channels = stage.two_pass_for(spec.prepare.config).channels
            for channel in channels:
                self.key_writers[channel.name] = pkeys.KeyWriter(
                    pkeys.key_file(layout.work, stage.name, channel.name, i),
                    channel.key_bytes, spec.partitions if channel.kind == "grouped" else 1)
            stats.prepared[stage.name] = {"docs": 0, **{c.name: 0 for c in channels}}
        self.sinks = [make(layout, i) for make in spec.sinks]
        self.acc = {name: fn.create_accumulator() for name, fn in COMBINERS.items()}
        self.report_acc = {name: fn.create_accumulator() for name, fn in self.fn.report_fns.items()}
        self.row = 0

    # -- routing

    def reject(self, rejected: Rejected) -> None:
        self.rejected.write(pio.rejected_row(rejected))
        COMBINERS["rejected"].add_input(self.acc["rejected"], rejected)
        COMBINERS["rejected_by_lang"].add_input(self.acc["rejected_by_lang"], rejected)
        entry = self.stats.stage(rejected.stage)["reasons"].setdefault(rejected.reason, [0, 0])
        entry[0] += 1
        entry[1] += rejected.bytes or rejected.doc.raw_bytes

    def dead_letter(self, dead: DeadLetter) -> None:
        self.dead.write(pio.dead_letter_row(dead))
        COMBINERS["dead_letter"].add_input(self.acc["dead_letter"], dead)
        self.stats.stage(dead.stage)["dead_letter"] += 1

    def survive(self, doc: Doc) -> None:
        """A document that passed every step: its prepare records (a failing prepare
        dead-letters it at that stage), then its row in the next shard or the kept output."""
        records = self._prepare(doc) if self.spec.prepare is not None else ()
        if records is None:
            return
        for channel, key, value in records:
            self.key_writers[channel].add(key, value)
        self.row += 1
        if self.spec.final:
            for sink in self.sinks:
                sink.add(doc)
            doc.token_ids = None
            self.survivors.write(pio.kept_row(doc))
            COMBINERS["kept"].add_input(self.acc["kept"], doc)
        else:
            self.survivors.write(shards.doc_row(doc))

    def _prepare(self, doc: Doc) -> list | None:
        name = self.spec.prepare.stage.name
        counts = self.stats.prepared[name]
        started = time.perf_counter()
        try:
            records = list(self.fn.prepare_fn(doc, DocRef(self.stats.file_index, self.row)))
        except Exception as error:  # noqa: BLE001 - one document, not the run
            self.dead_letter(dead_letter(doc, name, error))
            return None
        finally:
            self.stats.stage(name)["micros"] += int((time.perf_counter() - started) * 1e6)
        counts["docs"] += 1
        for channel, _, _ in records:
            counts[channel] += 1
        return records

    # -- the loop

    def execute(self) -> None:
        source = self._read_input() if self.spec.reads_input else self._read_shard()
        batch_size = max([step.stage.batch_size(step.config) for step in self.spec.steps
                          if step.stage.batch_size is not None] or [1])
        batch: list[tuple[int, Doc]] = []
        since_release = 0
        for item in source:
            batch.append(item)
            if len(batch) >= batch_size:
                self._run_batch(batch)
                since_release += len(batch)
                batch = []
                if since_release >= RELEASE_EVERY_DOCS:
                    release_free_memory()
                    since_release = 0
        if batch:
            self._run_batch(batch)
        self.close()
        release_free_memory()

    def _read_input(self) -> Iterator[tuple[int, Doc]]:
        """Pass 0: reader results (pipeline.inputs.read_path never raises: an unreadable file
        or its unreadable remainder is a dead letter naming the cause); the reader's rejects
        and dead letters are routed here."""
        from pipeline.inputs import file_size, read_path, source_name
        from pipeline.readers import detect_format

        stats, config = self.stats, self.spec.input_config
        path = stats.path
        fmt = config.format if config.format != "auto" else detect_format(path)
        if fmt == "docs":  # shards of Docs written by a pass: rerun later stages on them
            yield from self._read_docs(path)
            return
        read = stats.stage(READ)
        records = 0
        started = time.perf_counter()
        source = config.source or source_name(path, self.layout.root)
        results = read_path(path, config, source)
        while True:
            try:
                result = next(results)
            except StopIteration:
                break
            records += 1
            read["micros"] += int((time.perf_counter() - started) * 1e6)
            RECORDER.tick(READ)
            yield from self._route_read(result, records)
            started = time.perf_counter()
        read["micros"] += int((time.perf_counter() - started) * 1e6)
        file_bytes = file_size(path)
        read["docs_in"] = records
        read["bytes_in"] = file_bytes
        stats.input = {"records": records, "bytes": file_bytes}

    def _read_docs(self, path: str) -> Iterator[tuple[int, Doc]]:
        read = self.stats.stage(READ)
        size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
        count = 0
        for count, doc in enumerate(shards.iter_docs(path), start=1):
            read["docs_out"] += 1
            read["bytes_out"] += doc.size()
            yield count, doc
        read["docs_in"], read["bytes_in"] = count, size
        self.stats.input = {"records": count, "bytes": size}

    def _route_read(self, result: Any, number: int) -> Iterator[tuple[int, Doc]]:
        read = self.stats.stage(READ)
        if isinstance(result, Doc):
            read["docs_out"] += 1
            read["bytes_out"] += result.size()
            yield number, result
        elif isinstance(result, Rejected):
            result.bytes = result.bytes or result.doc.raw_bytes
            self.reject(result)
        else:
            self.dead_letter(result)

    def _read_shard(self) -> Iterator[tuple[int, Doc]]:
        path = self.layout.shard(self.spec.index - 1, self.stats.file_index)
        if not FileSystems.exists(path):  # the previous pass kept nothing from this file
            return
        for row, doc in enumerate(shards.iter_docs(path)):
            yield row, doc

    def _run_batch(self, batch: list[tuple[int, Doc]]) -> None:
        """Every step over the batch's survivors, in order; then survivors are written."""
        alive = batch
        for step in self.spec.steps:
            if not alive:
                return
            alive = self._run_step(step, alive)
        for _, doc in alive:
            self.survive(doc)

    def _run_step(self, step: Step, items: list[tuple[int, Doc]]) -> list[tuple[int, Doc]]:
        stage = step.stage
        name = stage.name
        core = self.fn.cores[name]
        entry = self.stats.stage(name)
        started = time.perf_counter()
        sizes = [doc.size() for _, doc in items]
        entry["docs_in"] += len(items)
        entry["bytes_in"] += sum(sizes)
        RECORDER.tick(name, len(items))
        results: list[Any]
        if stage.batch_size is not None:
            results = self._call_batch(core, [doc for _, doc in items])
        elif step.applies:
            results = []
            for row, doc in items:
                try:
                    results.append(core(doc, self.decisions.get(row)))
                except Exception as error:  # noqa: BLE001 - one document, not the run
                    results.append(error)
        else:
            results = []
            for _, doc in items:
                try:
                    results.append(core(doc))
                except Exception as error:  # noqa: BLE001
                    results.append(error)
        entry["micros"] += int((time.perf_counter() - started) * 1e6)
        report_fn = self.fn.report_fns.get(name)
        alive = []
        for (row, doc), size, result in zip(items, sizes, results):
            if isinstance(result, BaseException):
                self.dead_letter(dead_letter(doc, name, result))
                continue
            outcome, info = unwrap(result)
            if report_fn is not None:
                report_fn.add_input(self.report_acc[name], (doc, outcome, info))
            if isinstance(outcome, Drop):
                self.reject(make_rejected(doc, name, outcome))
            else:
                entry["docs_out"] += 1
                entry["bytes_out"] += outcome.size()
                alive.append((row, outcome))
        return alive

    @staticmethod
    def _call_batch(core: Any, docs: list[Doc]) -> list[Any]:
        try:
            return list(core(docs))
        except Exception:  # noqa: BLE001 - isolate the bad document
            results: list[Any] = []
            for doc in docs:
                try:
                    results.extend(core([doc]))
                except Exception as error:  # noqa: BLE001
                    results.append(error)
            return results

    # -- end

    def close(self) -> None:
        for writer in (self.survivors, self.rejected, self.dead, *self.key_writers.values()):
            writer.close()
        for sink in self.sinks:
            sink.close()
        stats = self.stats
        stats.written = {"survivors": self.survivors.rows, "rejected": self.rejected.rows,
                         "dead_letter": self.dead.rows}
        stats.acc = self.acc
        stats.reports = self.report_acc

    def abort(self) -> None:
        for writer in (self.survivors, self.rejected, self.dead, *self.key_writers.values()):
            writer.abort()
        for sink in self.sinks:
            sink.abort()


# ----------------------------------------------------------------------------- merging

def add_stage(total: dict[str, Any], part: dict[str, Any]) -> None:
    for key in BOOKKEEPING:
        total[key] += part[key]
    for reason, (docs, size) in part["reasons"].items():
        entry = total["reasons"].setdefault(reason, [0, 0])
        entry[0] += docs
        entry[1] += size


class MergeStats(beam.CombineFn):
    """FileStats of one pass -> one dict: per-stage sums, written rows per file, every
    accumulator merged. Small and fixed-size per file, so the merge never holds documents."""

    def __init__(self, report_fns: dict[str, Any], report_names: dict[str, str]) -> None:
        self.report_fns, self.report_names = report_fns, report_names

    def create_accumulator(self) -> dict[str, Any]:
        return {"files": {}, "stages": {}, "prepared": {}, "input": {},
                "acc": {name: fn.create_accumulator() for name, fn in COMBINERS.items()},
                "reports": {name: fn.create_accumulator() for name, fn in self.report_fns.items()}}

    def add_input(self, acc: dict[str, Any], stats: FileStats) -> dict[str, Any]:
        return self.merge_accumulators([acc, self._single(stats)])

    def _single(self, stats: FileStats) -> dict[str, Any]:
        acc = self.create_accumulator()
        acc["files"] = {stats.file_index: {"path": stats.path, "written": stats.written}}
        if stats.input is not None:
            acc["input"] = {stats.file_index: stats.input}
        acc["stages"] = {name: {**entry, "reasons": {r: list(v) for r, v in entry["reasons"].items()}}
                         for name, entry in stats.stages.items()}
        acc["prepared"] = {name: dict(counts) for name, counts in stats.prepared.items()}
        acc["acc"] = dict(stats.acc)
        acc["reports"].update(stats.reports)
        return acc

    def merge_accumulators(self, accs: Iterable[dict[str, Any]]) -> dict[str, Any]:
        accs = list(accs)
        merged = self.create_accumulator()
        for acc in accs:
            merged["files"].update(acc["files"])
            merged["input"].update(acc["input"])
            for name, entry in acc["stages"].items():
                add_stage(merged["stages"].setdefault(name, stage_stats()), entry)
            for name, counts in acc["prepared"].items():
                target = merged["prepared"].setdefault(name, {})
                for key, value in counts.items():
                    target[key] = target.get(key, 0) + value
        for name, fn in COMBINERS.items():
            merged["acc"][name] = fn.merge_accumulators([a["acc"][name] for a in accs
                                                         if name in a["acc"]])
        for name, fn in self.report_fns.items():
            merged["reports"][name] = fn.merge_accumulators([a["reports"][name] for a in accs
                                                             if name in a["reports"]])
        return merged

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        """Run-wide combiner accumulators stay raw (the summary merges them across passes);
        stage reports are final (a stage runs in one pass) and keyed ``<stage>.<report>``."""
        out = dict(acc)
        out["reports"] = {f"{name}.{self.report_names[name]}": self.report_fns[name].extract_output(value)
                          for name, value in acc["reports"].items()}
        out["files"] = {str(i): acc["files"][i] for i in sorted(acc["files"])}
        out["input"] = {str(i): acc["input"][i] for i in sorted(acc["input"])}
        return out


__all__ = ["FileStats", "Layout", "MergeStats", "PassFn", "PassSpec", "Step", "READ"]
