"""decontaminate: remove benchmark test text (GPT-3 13-gram overlap) from the corpus.

Pure core, callable without Beam: ``build_index`` (config -> n-gram index), ``find`` (document
text -> matching windows as character spans of the original text), ``apply_hits`` (cut spans or
drop, with what was removed per benchmark) and ``decontaminate_text`` (both in one call).

Common phrases are handled without looking at the run, so a document's fate does not depend on
how the crawl is split into runs: n-grams shared by many items of one benchmark are template
text (``max_items_per_ngram``), and phrases listed in ``ignore_ngrams`` (a file made by
``tools/common_ngrams.py`` from a fixed reference sample) are never indexed. The in-run count of
documents per n-gram (GPT-3 ``max_matches``) is off by default; see docs/decontaminate.md.

Beam shell (below the marker), on one of two paths chosen by the index size
(``side_input_max_bytes``):

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
from pydantic import Field, field_validator, model_validator

from stages import ngrams
from stages.base import (DEAD_LETTER, KEPT, REJECTED, StageCounters, StageOutputs, Tagged,
                         TaggedGroup, make_rejected)
from stages.benchmarks import (BenchmarkSource, ItemError, decode, iter_source, read_bytes,
                               split_lines)
from stages.progress import PROGRESS
from stages.record import DeadLetter, Doc, Drop
from stages.settings import StageSection, resolve_path

STAGE = "decontaminate"
REASON = "contaminated"
HITS, STATS, DIRTY, EXAMPLES, IGNORED = "hits", "stats", "dirty", "examples", "ignored"
DEFAULT_BENCHMARKS = (BenchmarkSource(name="gsm8k_sample",
                                      path="configs/benchmarks/gsm8k_test_sample.jsonl",
                                      format="jsonl", fields=("question", "answer")),)


class Config(StageSection):
    # Benchmarks to remove: [{name, path, format: auto|jsonl|json|text, fields, records,
    # strip_prefix, item_start, match_parts}]; see stages/benchmarks.py.
    benchmarks: tuple[BenchmarkSource, ...] = DEFAULT_BENCHMARKS
    # GPT-3 uses 13-grams; item texts (and, with match_parts, parts or runs of parts) with
    # fewer words but >= min_item_words match whole; words are counted after normalisation.
    ngram: int = Field(default=13, ge=2, le=64)
    min_item_words: int = Field(default=8, ge=1)
    # span: cut n-gram + chars_each_side (GPT-3 / NeMo Curator); document: drop on any hit.
    mode: Literal["span", "document"] = "span"
    # In-run common-phrase cutoff: an n-gram hit in more documents *of this run* is ignored.
    # Off (null) because the same page would be cut or not depending on how the crawl is split
    # into runs; ignore_ngrams and max_items_per_ngram decide without looking at the run.
    max_matches: int | None = Field(default=None, ge=1)
    # An n-gram (or whole short sequence) in more items than this of one benchmark is template
    # text (instructions, a test harness), not an item's content: not indexed. Natural text in
    # the shared benchmarks is shared by at most 5 items; HumanEval's harness by up to 86.
    max_items_per_ngram: int | None = Field(default=10, ge=1)
    # Phrases never to match (one per line, '#' comments; normalised like items: every n-gram of
    # a long phrase, a shorter phrase whole): common n-grams counted in a fixed reference sample
    # by tools/common_ngrams.py. Path absolute or relative to the project root.
    ignore_ngrams: str | None = None
    chars_each_side: int = Field(default=200, ge=0)
    min_piece_chars: int = Field(default=200, ge=0)  # pieces shorter than this are dropped
    max_splits: int = Field(default=10, ge=1)  # a document cut into more pieces is dropped
    piece_separator: str = "\n\n"
    # Index: side input (built per worker) if it fits this budget, else a shuffle join.
    index: Literal["auto", "side_input", "join"] = "auto"
    side_input_max_bytes: int = Field(default=256 << 20, gt=0)  # ~22M n-gram rows
    examples_per_benchmark: int = Field(default=3, ge=0, le=100)

    @field_validator("ignore_ngrams")
    @classmethod
    def _check_ignore_file(cls, value: str | None) -> str | None:
        """Read the phrase file now: a missing or unreadable file fails validate, not a run."""
        if value is not None:
            read_phrases(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> "Config":
        names = [b.name for b in self.benchmarks]
        if len(set(names)) != len(names):
            raise ValueError(f"benchmark names must be unique: {names}")
        if self.min_item_words > self.ngram:
            raise ValueError("min_item_words must be <= ngram")
        return self


def read_phrases(path: str) -> list[str]:
    """Non-blank, non-comment lines of an ignore_ngrams file."""
    location = path if "://" in path else str(resolve_path(path))
    try:
        text = decode(read_bytes(location), location)
    except ItemError as error:
        where = f", line {error.line}" if error.line is not None else ""
        raise ValueError(f"ignore_ngrams file {location}{where}: {error.message}") from None
    except OSError as error:
        raise ValueError(f"ignore_ngrams file {location}: cannot read "
                         f"({error.strerror or error})") from None
    return [line.strip() for line in split_lines(text)
            if line.strip() and not line.lstrip().startswith("#")]


def hash_seed(run_seed: int) -> int:
    """The n-gram hash seed derived from the run seed (documents and index must agree)."""
    return xxhash.xxh3_64_intdigest(b"decontaminate", seed=int(run_seed) & (2**64 - 1))


def new_builder(config: Config, seed: int, max_bytes: int | None = None) -> ngrams.IndexBuilder:
    """An empty builder with the config's matching rules (the ignore list hashed once)."""
    hashed = hash_seed(seed)
    ignored = None
    if config.ignore_ngrams is not None:
        ignored = ngrams.phrase_hashes(read_phrases(config.ignore_ngrams), config.ngram,
                                       config.min_item_words, hashed)
    return ngrams.IndexBuilder(config.ngram, config.min_item_words, hashed, max_bytes,
                               config.max_items_per_ngram, ignored)


def add_source(builder: ngrams.IndexBuilder, source: BenchmarkSource) -> None:
    builder.add_benchmark(source.name, (item.variants for item in iter_source(source)),
                          source.match_parts)


def index_builder(config: Config, seed: int, max_bytes: int | None = None
                  ) -> ngrams.IndexBuilder:
    """All benchmarks of the config added in config order (over max_bytes: counted only)."""
    builder = new_builder(config, seed, max_bytes)
    for source in config.benchmarks:
        add_source(builder, source)
    return builder


def build_index(config: Config, seed: int) -> ngrams.NgramIndex:
    """All benchmarks of the config in one index (deterministic: config order, sorted rows)."""
    return index_builder(config, seed).build()


def source_grams(config: Config, seed: int, bench: int) -> Iterator[tuple[int, tuple[int, int]]]:
    """Join path: (hash, (benchmark, item)) for every indexed n-gram of one source's items
    (the same rules as the side-input index: every rule is per benchmark or per phrase)."""
    builder = new_builder(config, seed)
    add_source(builder, config.benchmarks[bench])
    index = builder.build()
    for value, item in zip(index.hashes.tolist(), index.items.tolist()):
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
    """Every benchmark n-gram (or whole short sequence) in ``text``, as spans of ``text``."""
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


class Removed(NamedTuple):
    """Characters and whitespace-separated words a document lost."""

    chars: int
    words: int


class Outcome(NamedTuple):
    """What apply_hits decided for one document."""

    text: str | None  # new text (None when dropped)
    drop: Drop | None
    chars_removed: int  # len(text) - len(kept pieces): cut regions, short pieces, trimmed space
    per_bench: dict[int, int]  # benchmark -> hits
    # benchmark -> what its own matches alone remove (the whole document if they would drop
    # it): equals the document's actual loss when one benchmark hit it.
    removed: dict[int, Removed]


def _cut(text: str, matches: list[Match], config: Config) -> tuple[list[str], Drop | None]:
    """Span mode on one document: the kept pieces, or the reason it is dropped."""
    regions = cut_regions(((m.start, m.end) for m in matches), len(text), config.chars_each_side)
    pieces = pieces_between(len(text), regions)
    if len(pieces) > config.max_splits:
        return [], Drop(REASON, f"split into {len(pieces)} pieces > {config.max_splits}")
    kept = [text[lo:hi].strip() for lo, hi in pieces]
    kept = [piece for piece in kept if len(piece) >= config.min_piece_chars]
    if not kept:
        return [], Drop(REASON, "nothing left after cutting")
    return kept, None


def _removed(text: str, kept: list[str], words: int) -> Removed:
    """What a document lost: everything not in a kept piece (cuts, short pieces, trimming)."""
    return Removed(len(text) - sum(len(p) for p in kept),
                   words - sum(len(p.split()) for p in kept))


def apply_hits(text: str, matches: list[Match], config: Config) -> Outcome:
    """Cut (span mode) or drop (document mode) a document given its non-ignored matches."""
    per_bench: Counter = Counter(b for m in matches for b in m.benches)
    if not matches:
        return Outcome(text, None, 0, {}, {})
    words = len(text.split())
    if config.mode == "document":
        whole = Removed(len(text), words)
        return Outcome(None, Drop(REASON, f"{len(matches)} benchmark n-gram hits"), len(text),
                       dict(per_bench), {bench: whole for bench in per_bench})
    kept, drop = _cut(text, matches, config)
    total = _removed(text, kept, words)
    removed = {}
    for bench in sorted(per_bench):
        own = [m for m in matches if bench in m.benches]
        removed[bench] = total if len(own) == len(matches) else \
            _removed(text, _cut(text, own, config)[0], words)
    new_text = config.piece_separator.join(kept) if drop is None else None
    return Outcome(new_text, drop, total.chars, dict(per_bench), removed)


def decontaminate_text(text: str, index: ngrams.NgramIndex, config: Config,
                       ignored: frozenset[int] = frozenset()) -> Outcome:
    """The whole rule for one text without Beam: find, leave out ``ignored`` hashes (an in-run
    max_matches count, when one is used), then cut or drop."""
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


def join_hits(item: tuple[int, Iterable[tuple[str, Any]]], max_matches: int | None
              ) -> Iterator:
    """Join path: at one n-gram hash, its benchmark items and the documents containing it.

    Buffers nothing (the group is re-iterable): with max_matches, the documents are counted up
    to max_matches + 1 first; a hash in more documents is a common phrase.
    """
    value, group = item
    refs = tuple(sorted(set(Tagged(group, "bench"))))
    if not refs:
        return
    count = 0
    for _ in Tagged(group, "doc"):
        count += 1
        if max_matches is None or count > max_matches:
            break
    if not count:
        return
    yield TaggedOutput(HITS, 1)
    if max_matches is not None and count > max_matches:
        yield TaggedOutput(IGNORED, (value, count))
        return
    for key, length, positions in Tagged(group, "doc"):
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
            chars, words = outcome.removed[bench]
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
                "max_items_per_ngram": c.max_items_per_ngram, "ignore_ngrams": c.ignore_ngrams,
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
            lambda kv, limit: limit is not None and kv[1] > limit, self.config.max_matches)
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
