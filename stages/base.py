"""The stage contract: a pure core wrapped by one Beam shell that counts every branch.

A *core* is a plain callable ``core(doc) -> Doc | Drop``: it returns the (possibly changed)
document to keep it, or a :class:`Drop` naming the rule that rejected it. Cores are built by a
*factory* inside ``DoFn.setup`` so heavy resources (blocklists, models) load once per worker.
Cores never see Beam; :func:`run_stage` gives them, for free, a counter per reason, docs/bytes
in and out, time spent, a tagged reject output, and a dead-letter output for exceptions, so
one bad document can never crash a run (the datatrove filter contract, TFDS-style counters).
"""
from __future__ import annotations

import time
from functools import partial
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from stages.progress import PROGRESS
from stages.record import AUDIT_TEXT_CHARS, DeadLetter, Doc, Drop, Rejected

Core = Callable[[Doc], "Doc | Drop"]
BatchCore = Callable[[Sequence[Doc]], "list[Doc | Drop]"]
CoreFactory = Callable[[], Core]

KEPT, REJECTED, DEAD_LETTER = "kept", "rejected", "dead_letter"
# Counter names every stage reports; anything else under a stage's namespace is a reject reason.
BOOKKEEPING = ("docs_in", "docs_out", "bytes_in", "bytes_out", "rejected", "dead_letter", "micros")


class StageOutputs(NamedTuple):
    """The three places a stage sends documents to, plus optional stage reports.

    ``reports`` maps a name to a PCollection holding exactly one JSON-able dict (e.g. dedup
    cluster sizes); the pipeline writes it and puts it in ``summary.json`` under the stage.
    """

    kept: beam.PCollection
    rejected: beam.PCollection
    dead_letter: beam.PCollection
    reports: dict | None = None


def make_rejected(doc: Doc, stage: str, drop: Drop) -> Rejected:
    """Reject record; drops html and truncates text so the reject sink stays small."""
    text = doc.text[:AUDIT_TEXT_CHARS] if doc.text else doc.text
    audit = doc.replace(html=None, text=text)
    return Rejected(doc=audit, stage=stage, reason=drop.reason, detail=drop.detail,
                    bytes=doc.size())


class StageCounters:
    """Counters for one stage, created on first use (Metrics.counter(stage, reason))."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self._counters: dict[str, object] = {}

    def inc(self, name: str, n: int = 1) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(self.stage, name)
        counter.inc(n)  # type: ignore[attr-defined]


class _StageShell(beam.DoFn):
    """Shared routing of one core result into kept / rejected / dead-letter outputs."""

    def __init__(self, stage: str, factory: Callable[[], object]) -> None:
        self.stage = stage
        self.factory = factory
        self.core: object = None
        self.counters = StageCounters(stage)

    def setup(self) -> None:
        self.core = self.factory()

    def _route(self, doc: Doc, result: "Doc | Drop") -> Iterable:
        if isinstance(result, Drop):
            self.counters.inc("rejected")
            self.counters.inc(result.reason)
            yield TaggedOutput(REJECTED, make_rejected(doc, self.stage, result))
        else:
            self.counters.inc("docs_out")
            self.counters.inc("bytes_out", result.size())
            yield result

    def _dead(self, doc: Doc, error: BaseException) -> TaggedOutput:
        self.counters.inc("dead_letter")
        raw = (doc.text.encode("utf-8", "replace") if doc.text is not None else doc.html) or b""
        return TaggedOutput(DEAD_LETTER, DeadLetter.of(doc.source, self.stage, error, raw, doc.id))


class StageDoFn(_StageShell):
    """Maps a per-document core."""

    def process(self, doc: Doc) -> Iterable:
        start = time.perf_counter()
        size_in = doc.size()
        PROGRESS.tick(self.stage)
        self.counters.inc("docs_in")
        self.counters.inc("bytes_in", size_in)
        try:
            result = self.core(doc)  # type: ignore[operator]
        except Exception as error:  # noqa: BLE001 - any bug in a rule dead-letters one doc
            result = error
        # Stop the clock before yielding: fused downstream stages run inside the yield.
        self.counters.inc("micros", int((time.perf_counter() - start) * 1e6))
        if isinstance(result, Exception):
            yield self._dead(doc, result)
        else:
            yield from self._route(doc, result)


class BatchStageDoFn(_StageShell):
    """Maps a batch core (vectorised work such as tokenizer encode); falls back per doc on error."""

    def process(self, batch: list[Doc]) -> Iterable:
        start = time.perf_counter()
        PROGRESS.tick(self.stage, len(batch))
        self.counters.inc("docs_in", len(batch))
        self.counters.inc("bytes_in", sum(doc.size() for doc in batch))
        try:
            results = list(self.core(batch))  # type: ignore[operator]
        except Exception:  # noqa: BLE001 - isolate the bad document
            results = []
            for doc in batch:
                try:
                    results.extend(self.core([doc]))  # type: ignore[operator]
                except Exception as error:  # noqa: BLE001
                    results.append(error)
        self.counters.inc("micros", int((time.perf_counter() - start) * 1e6))
        for doc, result in zip(batch, results):
            if isinstance(result, BaseException):
                yield self._dead(doc, result)
            else:
                yield from self._route(doc, result)


def run_stage(docs: beam.PCollection, stage: str, factory: CoreFactory,
              batch_size: int | None = None) -> StageOutputs:
    """Apply a core to every document; returns (kept, rejected, dead_letter)."""
    if batch_size:
        batches = docs | f"{stage}/batch" >> beam.BatchElements(
            min_batch_size=1, max_batch_size=batch_size)
        fn: beam.DoFn = BatchStageDoFn(stage, factory)
        source = batches
    else:
        fn = StageDoFn(stage, factory)
        source = docs
    outputs = source | f"{stage}/apply" >> beam.ParDo(fn).with_outputs(
        REJECTED, DEAD_LETTER, main=KEPT)
    return StageOutputs(outputs[KEPT], outputs[REJECTED], outputs[DEAD_LETTER])


class PerDocumentStage(beam.PTransform):
    """A stage whose whole graph is :func:`run_stage` over one per-document core.

    Subclasses set ``stage_name`` and ``core_factory`` (``config -> core``, a module-level
    function so it pickles); the factory runs in ``DoFn.setup``, once per worker.
    """

    stage_name: str
    core_factory: Callable[..., Core]

    def __init__(self, config: object, context: object) -> None:
        super().__init__()
        self.config = config

    def expand(self, docs: beam.PCollection) -> StageOutputs:
        return run_stage(docs, self.stage_name, partial(type(self).core_factory, self.config))


class TaggedGroup(beam.PTransform):
    """{tag: PCollection of (key, value)} -> (key, re-iterable of (tag, value)).

    Beam's CoGroupByKey copies each key's values into lists; a hot key (a text copied a
    million times, a common phrase in a million documents) would then sit in one worker's
    memory. A plain GroupByKey result streams
    and can be iterated again, which is all the two-pass consumers here need.
    """

    def expand(self, pcolls: dict[str, beam.PCollection]) -> beam.PCollection:
        tagged = [pcoll | f"tag {tag}" >> beam.MapTuple(lambda k, v, t=tag: (k, (t, v)))
                  for tag, pcoll in pcolls.items()]
        return tagged | "flatten" >> beam.Flatten() | "group" >> beam.GroupByKey()


class Tagged:
    """The values of one tag in a grouped iterable, re-iterable like the group itself."""

    def __init__(self, group: Iterable[tuple[str, Any]], tag: str) -> None:
        self.group, self.tag = group, tag

    def __iter__(self) -> Iterator[Any]:
        return (value for tag, value in self.group if tag == self.tag)
