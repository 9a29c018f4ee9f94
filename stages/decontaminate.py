"""decontaminate: remove benchmark test text (GPT-3 13-gram overlap) from the corpus.

Pure core: ``find`` (document -> matching windows with character spans) and ``apply_hits``
(cut spans or drop). Beam shell, with common phrases ignored corpus-wide (GPT-3
``max_matches``), on one of two paths chosen by the index size (``side_input_max_bytes``):

- *side_input*: pass 1 scans every document against the n-gram index (built once per worker
  in ``DoFn.setup`` from the files, checked against the fingerprint computed at graph
  construction) and emits each distinct hit hash once per document; ``CombinePerKey`` counts
  documents per *hit* n-gram, so memory is bounded by hit n-grams. Pass 2 gets the n-grams over
  ``max_matches`` as a side input and cuts or drops each document (which carries its own hits).
- *join*: document window hashes are grouped with the benchmark n-grams (``TaggedGroup``: a
  streamed GroupByKey, so a common phrase's documents are not copied into one list); documents
  per n-gram are counted at the join key; hits go back to their documents by a second join.

Both feed the same apply step and give the same output. See docs/decontaminate.md.
"""
from __future__ import annotations

import logging

import time
from collections import Counter
from typing import Any, Iterable, Iterator, Literal, NamedTuple

import apache_beam as beam
import numpy as np
import xxhash
from apache_beam.pvalue import TaggedOutput
from pydantic import Field, model_validator

from stages import ngrams
from stages.base import (DEAD_LETTER, KEPT, REJECTED, StageCounters, StageOutputs, Tagged,
                         TaggedGroup, make_rejected)
from stages.benchmarks import BenchmarkSource, load_items
from stages.progress import PROGRESS
from stages.record import DeadLetter, Doc, Drop
from stages.settings import StageSection

STAGE = "decontaminate"
REASON = "contaminated"
HITS, STATS, DIRTY, EXAMPLES, IGNORED = "hits", "stats", "dirty", "examples", "ignored"
DEFAULT_BENCHMARKS = (BenchmarkSource(name="gsm8k_sample",
                                      path="configs/benchmarks/gsm8k_test_sample.jsonl",
                                      format="jsonl", fields=("question", "answer")),)


class Config(StageSection):
    # Benchmarks to remove: [{name, path, format: auto|jsonl|json|text, fields, records}].
    benchmarks: tuple[BenchmarkSource, ...] = DEFAULT_BENCHMARKS
    # GPT-3 uses 13-grams; items with fewer words but >= min_item_words match as whole items.
    ngram: int = Field(default=13, ge=2, le=64)
    min_item_words: int = Field(default=8, ge=1)
    # span: cut n-gram + chars_each_side (GPT-3 / NeMo Curator); document: drop on any hit.
    mode: Literal["span", "document"] = "span"
    # n-grams matching more than this many corpus documents are common phrases: ignored.
    max_matches: int = Field(default=10, ge=1)
    chars_each_side: int = Field(default=200, ge=0)
    min_piece_chars: int = Field(default=200, ge=0)  # pieces shorter than this are dropped
    max_splits: int = Field(default=10, ge=1)  # a document cut into more pieces is dropped
    piece_separator: str = "\n\n"
    # Index: side input (built per worker) if it fits this budget, else a shuffle join.
    index: Literal["auto", "side_input", "join"] = "auto"
    side_input_max_bytes: int = Field(default=256 << 20, gt=0)  # ~22M n-gram rows
    examples_per_benchmark: int = Field(default=3, ge=0, le=100)

    @model_validator(mode="after")
    def _check(self) -> "Config":
        names = [b.name for b in self.benchmarks]
        if len(set(names)) != len(names):
            raise ValueError(f"benchmark names must be unique: {names}")
        if self.min_item_words > self.ngram:
            raise ValueError("min_item_words must be <= ngram")
        return self


def hash_seed(run_seed: int) -> int:
    """The n-gram hash seed derived from the run seed (documents and index must agree)."""
    return xxhash.xxh3_64_intdigest(b"decontaminate", seed=int(run_seed) & (2**64 - 1))


def index_builder(config: Config, seed: int, max_bytes: int | None = None
                  ) -> ngrams.IndexBuilder:
    """All benchmarks of the config added in config order (over max_bytes: counted only)."""
    builder = ngrams.IndexBuilder(config.ngram, config.min_item_words, hash_seed(seed),
                                  max_bytes)
    for source in config.benchmarks:
        builder.add_benchmark(source.name, load_items(source))
    return builder


def build_index(config: Config, seed: int) -> ngrams.NgramIndex:
    """All benchmarks of the config in one index (deterministic: config order, sorted rows)."""
    return index_builder(config, seed).build()


def source_grams(config: Config, seed: int, bench: int) -> Iterator[tuple[int, tuple[int, int]]]:
    """Join path: (hash, (benchmark, item)) for every distinct n-gram of one source's items."""
    source = config.benchmarks[bench]
    for item, text in enumerate(load_items(source)):
        grams, _ = ngrams.item_grams(ngrams.normalized_words(text), config.ngram,
                                     config.min_item_words, hash_seed(seed))
        for value in grams.tolist():
            yield ngrams.signed(value), (bench, item)


# ------------------------------------------------------------------ pure core -------------

class Match(NamedTuple):
    """One hit as carried from pass 1 to pass 2: characters, hash, benchmarks, items, text."""

    start: int
    end: int
    hash: int  # signed 64-bit (ngrams.signed), usable as a Beam key
    benches: tuple[int, ...]
    items: tuple[tuple[int, int], ...]  # (benchmark, item) pairs
    text: str  # the normalised n-gram (for report examples)


def find(text: str, index: ngrams.NgramIndex) -> list[Match]:
    """Every benchmark n-gram (or whole short item) in ``text``, as character spans."""
    words = ngrams.normalize(text)
    out = []
    for hit in index.find(words.words):
        start, end = ngrams.char_span(words, hit)
        items = sorted(set(index.items_of(hit).tolist()))
        pairs = tuple((int(index.item_bench[item]), item) for item in items)
        benches = tuple(sorted({bench for bench, _ in pairs}))
        out.append(Match(start, end, ngrams.signed(hit.hash), benches, pairs,
                         " ".join(words.words[hit.start:hit.start + hit.length])))
    return out


def cut_regions(spans: Iterable[tuple[int, int]], length: int, each_side: int
                ) -> list[tuple[int, int]]:
    """Merged [start, end) regions to remove: each span widened by ``each_side`` characters."""
    regions: list[list[int]] = []
    for start, end in sorted(spans):
        lo, hi = max(0, start - each_side), min(length, end + each_side)
        if regions and lo <= regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], hi)
        else:
            regions.append([lo, hi])
    return [(lo, hi) for lo, hi in regions]


def pieces_between(length: int, regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The non-empty [start, end) stretches of text that the regions leave."""
    out, position = [], 0
    for lo, hi in regions:
        if lo > position:
            out.append((position, lo))
        position = max(position, hi)
    if position < length:
        out.append((position, length))
    return out


class Outcome(NamedTuple):
    """What apply_hits decided for one document."""

    text: str | None  # new text (None when dropped)
    drop: Drop | None
    chars_removed: int
    per_bench: dict[int, int]  # benchmark -> hits


def apply_hits(text: str, matches: list[Match], config: Config) -> Outcome:
    """Cut (span mode) or drop (document mode) a document given its non-ignored matches."""
    per_bench: Counter = Counter(b for m in matches for b in m.benches)
    if not matches:
        return Outcome(text, None, 0, {})
    if config.mode == "document":
        return Outcome(None, Drop(REASON, f"{len(matches)} benchmark n-gram hits"), len(text),
                       dict(per_bench))
    regions = cut_regions(((m.start, m.end) for m in matches), len(text), config.chars_each_side)
    pieces = pieces_between(len(text), regions)
    if len(pieces) > config.max_splits:
        return Outcome(None, Drop(REASON, f"split into {len(pieces)} pieces > {config.max_splits}"),
                       len(text), dict(per_bench))
    kept = [text[lo:hi].strip() for lo, hi in pieces]
    kept = [piece for piece in kept if len(piece) >= config.min_piece_chars]
    if not kept:
        return Outcome(None, Drop(REASON, "nothing left after cutting"), len(text),
                       dict(per_bench))
    new_text = config.piece_separator.join(kept)
    return Outcome(new_text, None, len(text) - sum(len(p) for p in kept), dict(per_bench))


def decontaminate_text(text: str, index: ngrams.NgramIndex, config: Config,
                       ignored: frozenset[int] = frozenset()) -> Outcome:
    """The whole rule for one text without Beam (the tests' entry point; the stage itself keeps
    the matches for its report and calls find/apply_hits in two passes)."""
    matches = [m for m in find(text, index) if m.hash not in ignored]
    return apply_hits(text, matches, config)


# ------------------------------------------------------------------ Beam shell ------------

class DocStats(NamedTuple):
    """Per document, per benchmark: touched, dropped, characters and words removed."""

    bench: int
    touched: int
    dropped: int
    chars: int
    words: int


def doc_key(doc: Doc) -> str:
    """Join key of a document (copies with equal keys receive the same hits, as they should)."""
    return xxhash.xxh3_128_hexdigest(
        "\x00".join((doc.source, doc.id, doc.url, doc.text or "")).encode("utf-8", "replace"))


def _dead(counters: StageCounters, doc: Doc, error: BaseException) -> TaggedOutput:
    counters.inc("dead_letter")
    return TaggedOutput(DEAD_LETTER, DeadLetter.of(
        doc.source, STAGE, error, (doc.text or "").encode("utf-8", "replace"), doc.id))


class _ScanFn(beam.DoFn):
    """Side-input path, pass 1: find matches with the per-worker index; emit (doc, matches)
    and one (hash, 1) per distinct hit hash of the document (for the corpus-wide count)."""

    def __init__(self, config: Config, seed: int, fingerprint: str) -> None:
        self.config, self.seed, self.fingerprint = config, seed, fingerprint
        self.index: ngrams.NgramIndex | None = None
        self.counters = StageCounters(STAGE)

    def setup(self) -> None:
        self.index = build_index(self.config, self.seed)
        if self.index.fingerprint() != self.fingerprint:
            raise RuntimeError("benchmark files changed since the pipeline was built")

    def process(self, doc: Doc) -> Iterator:
        start = time.perf_counter()
        PROGRESS.tick(STAGE)
        self.counters.inc("docs_in")
        self.counters.inc("bytes_in", doc.size())
        try:
            matches = find(doc.text, self.index) if doc.text else []  # type: ignore[arg-type]
        except Exception as error:  # noqa: BLE001 - one bad document must not stop the run
            yield _dead(self.counters, doc, error)
            return
        self.counters.inc("micros", int((time.perf_counter() - start) * 1e6))
        for value in sorted({m.hash for m in matches}):
            yield TaggedOutput(HITS, (value, 1))
        yield doc, matches


class _WindowsFn(beam.DoFn):
    """Join path, pass 1: window hashes of a document keyed by hash (positions grouped): every
    n-word window, and short-length windows only where they start like a short item."""

    def __init__(self, n: int, lengths: tuple[int, ...], prefixes: dict, seed: int) -> None:
        self.n, self.lengths, self.prefixes, self.seed = n, lengths, prefixes, hash_seed(seed)
        self.counters = StageCounters(STAGE)

    def process(self, doc: Doc) -> Iterator:
        start = time.perf_counter()
        PROGRESS.tick(STAGE)
        self.counters.inc("docs_in")
        self.counters.inc("bytes_in", doc.size())
        key = doc_key(doc)
        try:
            words = ngrams.normalized_words(doc.text) if doc.text else []
            emitted = []
            candidates = ngrams.short_candidates(words, self.prefixes)
            for length in self.lengths:
                positions: dict[int, list[int]] = {}
                if length in candidates:
                    starts = candidates[length]
                    grams = [ngrams.signed(ngrams.hash_gram(words[p:p + length], self.seed))
                             for p in starts]
                elif length == self.n or length < 2:
                    grams = ngrams.window_hashes(words, length, self.seed).view(np.int64).tolist()
                    starts = range(len(grams))
                else:
                    continue
                for pos, value in zip(starts, grams):
                    positions.setdefault(value, []).append(pos)
                emitted.extend((value, (key, length, tuple(pos)))
                               for value, pos in positions.items())
        except Exception as error:  # noqa: BLE001
            yield _dead(self.counters, doc, error)
            return
        self.counters.inc("micros", int((time.perf_counter() - start) * 1e6))
        for element in emitted:
            yield TaggedOutput(HITS, element)
        yield key, doc


def join_hits(item: tuple[int, Iterable[tuple[str, Any]]], max_matches: int) -> Iterator:
    """Join path: at one n-gram hash, its benchmark items and the documents containing it.

    Buffers at most max_matches + 1 documents; a hash in more documents is a common phrase.
    """
    value, group = item
    refs = tuple(sorted(set(Tagged(group, "bench"))))
    if not refs:
        return
    buffered, count = [], 0
    for entry in Tagged(group, "doc"):
        count += 1
        if count <= max_matches:
            buffered.append(entry)
    if not count:
        return
    yield TaggedOutput(HITS, 1)
    if count > max_matches:
        yield TaggedOutput(IGNORED, (value, count))
        return
    for key, length, positions in buffered:
        yield key, (value, length, positions, refs)


def matches_from_join(item: tuple[str, Iterable[tuple[str, Any]]]) -> Iterator[tuple[Doc, list[Match]]]:
    """Join path: a document and the hits joined to it -> (doc, matches) as pass 1 gives."""
    _, group = item
    hits = sorted(Tagged(group, "hits"))
    for doc in Tagged(group, "doc"):
        matches = []
        if hits:
            words = ngrams.normalize(doc.text or "")
            for value, length, positions, refs in hits:
                benches = tuple(sorted({b for b, _ in refs}))
                for pos in positions:
                    matches.append(Match(words.starts[pos], words.ends[pos + length - 1], value,
                                         benches, refs,
                                         " ".join(words.words[pos:pos + length])))
        matches.sort()
        yield doc, matches


class _ApplyFn(beam.DoFn):
    """Pass 2: drop ignored (common) n-grams, then cut or drop; emit report records."""

    def __init__(self, config: Config, bench_names: tuple[str, ...]) -> None:
        self.config, self.bench_names = config, bench_names
        self.examples = config.examples_per_benchmark
        self.counters = StageCounters(STAGE)

    def process(self, element: tuple[Doc, list[Match]], ignored: dict[int, int] | None = None
                ) -> Iterator:
        doc, matches = element
        start = time.perf_counter()
        if ignored:
            kept_matches = [m for m in matches if m.hash not in ignored]
            if len(kept_matches) != len(matches):
                self.counters.inc("ngrams_ignored_common", len(matches) - len(kept_matches))
            matches = kept_matches
        size = doc.size()
        if not matches:
            self.counters.inc("micros", int((time.perf_counter() - start) * 1e6))
            self.counters.inc("docs_out")
            self.counters.inc("bytes_out", size)
            yield doc
            return
        try:
            text = doc.text or ""
            outcome = apply_hits(text, matches, self.config)
            records = list(self._records(text, matches, outcome))
        except Exception as error:  # noqa: BLE001
            yield _dead(self.counters, doc, error)
            return
        yield from records
        self.counters.inc("docs_touched")
        self.counters.inc("micros", int((time.perf_counter() - start) * 1e6))
        if outcome.drop is not None:
            self.counters.inc("rejected")
            self.counters.inc(REASON)
            yield TaggedOutput(REJECTED, make_rejected(doc, STAGE, outcome.drop))
            return
        self.counters.inc("chars_removed", outcome.chars_removed)
        meta = dict(doc.meta)
        meta["decontam"] = {self.bench_names[b]: n for b, n in sorted(outcome.per_bench.items())}
        new = doc.replace(text=outcome.text, meta=meta)
        self.counters.inc("docs_cut")
        self.counters.inc("docs_out")
        self.counters.inc("bytes_out", new.size())
        yield new

    def _records(self, text: str, matches: list[Match], outcome: Outcome) -> Iterator:
        """Report records: per benchmark, characters removed by that benchmark's own cuts."""
        dropped = outcome.drop is not None
        for bench in sorted(outcome.per_bench):
            own = [m for m in matches if bench in m.benches]
            if dropped:
                chars, words = len(text), len(text.split())
            else:
                regions = cut_regions(((m.start, m.end) for m in own), len(text),
                                      self.config.chars_each_side)
                chars = sum(hi - lo for lo, hi in regions)
                words = sum(len(text[lo:hi].split()) for lo, hi in regions)
            yield TaggedOutput(STATS, DocStats(bench, 1, int(dropped), chars, words))
            for m in sorted(own, key=lambda m: m.hash)[:self.examples]:
                yield TaggedOutput(EXAMPLES, (bench, (m.hash, m.text)))
        for m in matches:
            for pair in m.items:
                yield TaggedOutput(DIRTY, pair)


class _SumStatsFn(beam.CombineFn):
    """DocStats -> {bench: [touched, dropped, chars, words]}."""

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, s: DocStats) -> dict:
        row = acc.setdefault(s.bench, [0, 0, 0, 0])
        for i, v in enumerate((s.touched, s.dropped, s.chars, s.words)):
            row[i] += v
        return acc

    def merge_accumulators(self, accs: Iterable[dict]) -> dict:
        out: dict = {}
        for acc in accs:
            for bench, row in acc.items():
                total = out.setdefault(bench, [0, 0, 0, 0])
                for i, v in enumerate(row):
                    total[i] += v
        return out

    def extract_output(self, acc: dict) -> dict:
        return acc


def build_report(_: Any, static: dict[str, Any], stats: dict, dirty: list[tuple[int, int]],
                 examples: list[tuple[int, list]], ignored_count: int,
                 hit_ngrams: int) -> dict[str, Any]:
    """The one-dict ``contamination`` report (keys documented in docs/decontaminate.md)."""
    dirty_by = dict(dirty)
    examples_by = dict(examples)
    table = {}
    for bench, name in enumerate(static["benchmarks_order"]):
        row = stats.get(bench, [0, 0, 0, 0])
        table[name] = {**static["index_stats"][name],
                       "dirty_items": dirty_by.get(bench, 0),
                       "docs_touched": row[0], "docs_dropped": row[1],
                       "chars_removed": row[2], "words_removed": row[3],
                       "tokens_removed": None,
                       "examples": [text for _, text in sorted(examples_by.get(bench, []))]}
    report = {k: v for k, v in static.items() if k not in ("index_stats", "benchmarks_order")}
    report["hit_ngrams"] = hit_ngrams
    report["ignored_common_ngrams"] = ignored_count
    report["benchmarks"] = table
    return report


def markdown_table(report: dict[str, Any]) -> str:
    """The per-benchmark table as Markdown (for the run report)."""
    cols = ("items", "items_indexed", "dirty_items", "docs_touched", "docs_dropped",
            "chars_removed", "words_removed")
    lines = ["| benchmark | " + " | ".join(cols) + " | examples |",
             "|---|" + "---:|" * len(cols) + "---|"]
    for name, row in report["benchmarks"].items():
        examples = "; ".join(f"`{e}`" for e in row["examples"][:3])
        lines.append(f"| {name} | " + " | ".join(str(row[c]) for c in cols) + f" | {examples} |")
    index = report["index"]
    lines.append(f"\nindex path: {report['index_path']}; {index['ngrams']} n-grams, "
                 f"{index['bytes']} bytes; mode "
                 f"{report['mode']}; common n-grams ignored: {report['ignored_common_ngrams']}")
    return "\n".join(lines)


class Stage(beam.PTransform):
    def __init__(self, config: Config, context: Any) -> None:
        super().__init__()
        self.config = config
        self.seed = int(context.seed)
        budget = None if config.index == "side_input" else (
            0 if config.index == "join" else config.side_input_max_bytes)
        started = time.perf_counter()
        # One pass over the benchmarks: the index is kept while it fits the budget, else the
        # builder only counts (its size decides the path and goes into the report).
        builder = index_builder(config, self.seed, budget)
        self.path = "side_input" if builder.keep else "join"
        index = builder.build() if builder.keep else None
        # Logged, not reported: the report is part of summary.json, which reruns must reproduce.
        self.build_seconds = round(time.perf_counter() - started, 3)
        logging.getLogger("pipeline").info("decontaminate: %s index of %d n-grams (%d bytes) "
                                           "built in %.3f s", "side-input" if builder.keep else
                                           "join", builder.rows, builder.nbytes, self.build_seconds)
        self.index_bytes = builder.nbytes
        self.index_ngrams = builder.rows
        self.fingerprint = index.fingerprint() if index is not None else ""
        self.index_stats = builder.stats
        self.bench_names = tuple(builder.bench_names)
        self.lengths = tuple(sorted(builder.lengths, reverse=True))
        self.short_prefixes = builder.frozen_prefixes()

    def static_report(self) -> dict[str, Any]:
        c = self.config
        return {"index_path": self.path, "mode": c.mode, "ngram": c.ngram,
                "min_item_words": c.min_item_words, "max_matches": c.max_matches,
                "chars_each_side": c.chars_each_side, "min_piece_chars": c.min_piece_chars,
                "max_splits": c.max_splits,
                "index": {"ngrams": self.index_ngrams, "bytes": self.index_bytes,
                          "window_lengths": list(self.lengths),
                          "budget_bytes": c.side_input_max_bytes},
                "tokens_removed_note": "unknown before tokenize; words_removed is given",
                "index_stats": self.index_stats, "benchmarks_order": list(self.bench_names)}

    def _side_input(self, docs: beam.PCollection) -> tuple:
        """(doc, matches), ignored hashes, hit-ngram count, dead letters."""
        scanned = docs | "scan" >> beam.ParDo(
            _ScanFn(self.config, self.seed, self.fingerprint)).with_outputs(
            HITS, DEAD_LETTER, main="docs")
        counts = scanned[HITS] | "docs per ngram" >> beam.CombinePerKey(sum)
        ignored = counts | "common ngrams" >> beam.Filter(
            lambda kv, limit: kv[1] > limit, self.config.max_matches)
        hit_ngrams = counts | "count hit ngrams" >> beam.combiners.Count.Globally()
        return scanned.docs, ignored, hit_ngrams, scanned[DEAD_LETTER]

    def _join(self, docs: beam.PCollection) -> tuple:
        """Shuffle join: document window hashes grouped with benchmark n-grams (TaggedGroup)."""
        config, seed = self.config, self.seed
        bench_grams = (docs.pipeline
                       | "benchmark sources" >> beam.Create(list(range(len(config.benchmarks))))
                       | "benchmark ngrams" >> beam.FlatMap(
                           lambda bench: source_grams(config, seed, bench)))
        windows = docs | "windows" >> beam.ParDo(
            _WindowsFn(config.ngram, self.lengths, self.short_prefixes, seed)).with_outputs(
            HITS, DEAD_LETTER, main="docs")
        joined = ({"bench": bench_grams, "doc": windows[HITS]}
                  | "join ngrams" >> TaggedGroup()
                  | "hits" >> beam.FlatMap(join_hits, config.max_matches).with_outputs(
                      HITS, IGNORED, main="doc_hits"))
        hit_ngrams = joined[HITS] | "count hit ngrams" >> beam.combiners.Count.Globally()
        with_matches = ({"doc": windows.docs, "hits": joined.doc_hits}
                        | "hits to docs" >> TaggedGroup()
                        | "matches" >> beam.FlatMap(matches_from_join))
        return with_matches, joined[IGNORED], hit_ngrams, windows[DEAD_LETTER]

    def expand(self, docs: beam.PCollection) -> StageOutputs:
        config = self.config
        pipeline = docs.pipeline
        side = beam.pvalue
        if self.path == "side_input":
            with_matches, ignored, hit_ngrams, dead = self._side_input(docs)
            apply_args: tuple = (side.AsDict(ignored),)
        else:
            with_matches, ignored, hit_ngrams, dead = self._join(docs)
            apply_args = ()  # common n-grams were already left out in the join
        applied = with_matches | "apply" >> beam.ParDo(
            _ApplyFn(config, self.bench_names), *apply_args).with_outputs(
            REJECTED, DEAD_LETTER, STATS, DIRTY, EXAMPLES, main=KEPT)
        stats = applied[STATS] | "bench stats" >> beam.CombineGlobally(_SumStatsFn())
        dirty = (applied[DIRTY]
                 | "distinct dirty" >> beam.Distinct()
                 | "dirty bench" >> beam.Map(lambda pair: (pair[0], 1))
                 | "dirty per bench" >> beam.CombinePerKey(sum))
        examples = (applied[EXAMPLES]
                    | "distinct examples" >> beam.Distinct()
                    | "examples per bench" >> beam.combiners.Top.SmallestPerKey(
                        max(config.examples_per_benchmark, 1)))
        report = (pipeline
                  | "report seed" >> beam.Create([None])
                  | "report" >> beam.Map(build_report, self.static_report(),
                                         side.AsSingleton(stats), side.AsList(dirty),
                                         side.AsList(examples),
                                         side.AsSingleton(ignored | "count ignored ngrams"
                                                          >> beam.combiners.Count.Globally()),
                                         side.AsSingleton(hit_ngrams)))
        dead_all = (dead, applied[DEAD_LETTER]) | "dead letters" >> beam.Flatten()
        return StageOutputs(applied[KEPT], applied[REJECTED], dead_all,
                            {"contamination": report})
