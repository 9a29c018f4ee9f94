"""The stage contract: a declaration plus pure code; the pipeline owns every line of Beam.

A stage module declares one :class:`Stage`: its name, the reject reasons it may return, the
``Doc`` fields it reads and writes, and ``make_core(config, context)`` - called once per worker
(models and lists load there) - returning the *core*, a plain callable::

    core(doc) -> Doc | Drop | Verdict            # per-document stage
    core(docs) -> list[Doc | Drop | Verdict]     # batch stage (batch_size set): e.g. tokenizer encode

A stage that must look across documents (dedup, a corpus-wide count, training a tokenizer)
adds a :class:`TwoPass` form: ``prepare`` maps each document to small keyed records, ``decide``
turns those records into decisions (Beam transforms over *keys only*: documents never cross a
shuffle), and the core then *applies* a document's decision (``core(doc, decision)``).

The shell (:mod:`pipeline.passes`) runs every core with, for free: docs/bytes in and out, a count
per reason, time, dead letters for exceptions (one bad document never stops a run), and the
stage's report accumulator. Adding a stage means writing rules and a declaration, not plumbing;
``tests/test_contract.py`` writes a toy two-pass stage with nothing but this module.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, NamedTuple

from stages.record import AUDIT_TEXT_CHARS, DeadLetter, Doc, Drop, Rejected, Verdict

Core = Callable[..., Any]
DOC_FIELDS = frozenset(f.name for f in dataclasses.fields(Doc))


class DocRef(NamedTuple):
    """Where a document sits between passes: input file index and row in that file's shard.
    The key that routes a two-pass decision back to its document. As a Beam key it travels as
    the plain tuple ``(file, row)`` (deterministic encoding); both forms compare equal."""

    file: int
    row: int


@dataclass(frozen=True)
class RunContext:
    """What a stage may know of the run: the seed, and a folder for artefacts it writes."""

    artefact_dir: str
    seed: int


@dataclass(frozen=True)
class Channel:
    """A stream of keyed records that ``prepare`` emits.

    ``grouped``: records are grouped by ``key`` (bytes of exactly ``key_bytes``) through files
    partitioned by key, so the local runner never holds them; ``decide`` reads the groups.
    ``stream``: records flow into ``decide`` as a PCollection of ``(key, value)`` (for combiners
    whose partial results are small, such as a seeded top-K sample).
    """

    name: str
    kind: Literal["grouped", "stream"] = "grouped"
    key_bytes: int = 16


@dataclass(frozen=True)
class TwoPass:
    """prepare -> decide over keys -> apply.

    - ``make_prepare(config, context)`` -> ``prepare(doc, ref) -> Iterable[(channel, key,
      value)]``: runs per worker in the pass before the barrier, on every document that reaches
      the stage; ``ref`` (a :class:`DocRef`) is where the document will be read back from, so a
      value that must route a decision back carries it. Values are small and picklable.
    - ``decide(config, context, inputs)`` builds Beam transforms at graph construction time from
      :class:`DecideInputs` and returns :class:`Decisions`.
    - The stage's ``make_core(config, context, broadcast)`` then builds ``core(doc, decision)``
      (``decision`` is None for documents without one; ``broadcast`` is the decide step's
      global value, e.g. a trained model, or None).
    """

    channels: tuple[Channel, ...]
    make_prepare: Callable[[Any, RunContext], Callable[[Doc, DocRef], Iterable[tuple[str, bytes, Any]]]]
    decide: Callable[[Any, RunContext, "DecideInputs"], "Decisions"]


@dataclass(frozen=True)
class DecideInputs:
    """What the shell hands ``decide``: one PTransform factory per channel.

    ``groups[name](min_size=2, extra=None)`` -> PCollection of ``(key, values, extra)`` for every
    key group with at least ``min_size`` records, and for every key present in ``extra`` (a
    small PCollection of ``(key, x)``; its ``x`` values arrive as a list). ``stream[name]`` is
    the PCollection of ``(key, value)`` records. ``fetch(refs, label)`` -> PCollection of
    ``((file, row), Doc)`` reads documents back (e.g. texts of a sample, payloads of candidate
    pairs). Decisions are ``((file, row), decision)`` pairs (a DocRef works as the key).
    ``gather(requests, label, make_compute, min_size=2)`` joins through files what ``fetch``
    would carry through a shuffle: ``requests`` are ``((file, row), (key, value))`` with a
    16-byte ``key``; the document at each ref is read where it lies, ``make_compute()`` (called
    once per worker) turns it into a payload, and ``(key, [(value, payload), ...])`` comes out
    for every key with at least ``min_size`` requests. Payloads cross key files, never the
    runner's memory (e.g. the shingles of both ends of a candidate pair).
    ``after`` is a one-element PCollection that exists only once every prepare record is
    written (decide steps that read files depend on it).
    """

    groups: dict[str, Callable[..., Any]]
    stream: dict[str, Any]
    fetch: Callable[[Any, str], Any]
    after: Any
    pipeline: Any
    gather: Callable[..., Any] | None = None


@dataclass
class Decisions:
    """``per_doc``: PCollection of (DocRef, decision); ``broadcast``: PCollection with exactly
    one value given to every worker's apply core; ``reports``: name -> one-dict PCollection."""

    per_doc: Any = None
    broadcast: Any = None
    reports: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """A stage declaration (see the module docstring)."""

    name: str
    reasons: tuple[str, ...]
    reads: frozenset[str]
    writes: frozenset[str]
    make_core: Callable[..., Core]
    # config -> documents per core call (a batch core); None: one document per call.
    batch_size: Callable[[Any], int] | None = None
    # The two-pass form, or config -> two-pass form | None when it depends on the config
    # (tokenize trains a model only when none is given).
    two_pass: TwoPass | Callable[[Any], TwoPass | None] | None = None
    # config -> a beam.CombineFn-shaped object (create/add/merge/extract) fed with
    # (doc before the stage, result, verdict info) per document; its output lands in
    # summary.json under reports.<stage>.<report_name>.
    report: Callable[[Any], Any] | None = None
    report_name: str = "summary"
    # reports of this stage (per-document report and decide reports, by name) -> final dict;
    # lets a stage fold a decide-step report into its per-document one.
    finalize_reports: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def two_pass_for(self, config: Any) -> TwoPass | None:
        if self.two_pass is None or isinstance(self.two_pass, TwoPass):
            return self.two_pass
        return self.two_pass(config)

    def __post_init__(self) -> None:
        unknown = (set(self.reads) | set(self.writes)) - DOC_FIELDS
        if unknown:
            raise ValueError(f"stage {self.name}: reads/writes unknown Doc fields {sorted(unknown)}")
        if not self.name.isidentifier():
            raise ValueError(f"stage name {self.name!r} must be an identifier")


def make_rejected(doc: Doc, stage: str, drop: Drop) -> Rejected:
    """Reject record; drops html and truncates text so the reject sink stays small."""
    text = doc.text[:AUDIT_TEXT_CHARS] if doc.text else doc.text
    audit = doc.replace(html=None, text=text)
    return Rejected(doc=audit, stage=stage, reason=drop.reason, detail=drop.detail,
                    bytes=doc.size())


def dead_letter(doc: Doc, stage: str, error: BaseException) -> DeadLetter:
    """The dead letter for a document a stage failed on (the one routine every stage uses)."""
    raw = (doc.text.encode("utf-8", "replace") if doc.text is not None else doc.html) or b""
    return DeadLetter.of(doc.source, stage, error, raw, doc.id)


def unwrap(result: Any) -> tuple[Doc | Drop, Any]:
    """(Doc | Drop, info) from what a core returned."""
    if isinstance(result, Verdict):
        return result.result, result.info
    return result, None


__all__ = ["Channel", "Core", "DecideInputs", "Decisions", "DocRef", "Drop", "RunContext",
           "Stage", "TwoPass", "Verdict", "dead_letter", "make_rejected", "unwrap"]
