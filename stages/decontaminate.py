"""decontaminate: remove benchmark test text (GPT-3 13-gram overlap) from the corpus.

Pure core, callable without Beam: ``build_index`` (config -> n-gram index), ``find`` (document
text -> matching windows as character spans of the original text), ``apply_hits`` (cut spans or
drop, with what was removed per benchmark) and ``decontaminate_text`` (both in one call).

Common phrases are handled without looking at the run, so a document's fate does not depend on
how the crawl is split into runs: n-grams shared by many items of one benchmark are template
text (``max_items_per_ngram``), and phrases listed in ``ignore_ngrams`` (a file made by
``tools/common_ngrams.py`` from a fixed reference sample) are never indexed. The in-run count of
documents per n-gram (GPT-3 ``max_matches``) is off by default; see docs/decontaminate.md.

Stage shell (below the marker): every worker builds the index once (it must fit
``index_max_bytes``, checked on the driver before any work) and cuts or drops each document
as it passes - a per-document stage, no shuffle. With ``max_matches`` set, the stage becomes
two-pass (:class:`stages.base.TwoPass`): the documents' distinct hit n-grams are grouped through
key files, n-grams in more than ``max_matches`` documents of the run are ignored, and each
document is then cut with its own list of ignored n-grams. See docs/decontaminate.md.
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Callable, Iterable, Literal, NamedTuple

import apache_beam as beam
import xxhash
from pydantic import Field, field_validator, model_validator

from stages import ngrams
from stages.base import Channel, DecideInputs, Decisions, DocRef, RunContext, Stage, TwoPass
from stages.benchmarks import (BenchmarkSource, ItemError, decode, iter_source, read_bytes,
                               split_lines)
from stages.record import Doc, Drop, Verdict
from stages.settings import ResourcePath, StageSection, resolve_path

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
    # by tools/common_ngrams.py. Path absolute or relative to the config file's folder.
    ignore_ngrams: ResourcePath | None = None
    chars_each_side: int = Field(default=200, ge=0)
    min_piece_chars: int = Field(default=200, ge=0)  # pieces shorter than this are dropped
    max_splits: int = Field(default=10, ge=1)  # a document cut into more pieces is dropped
    piece_separator: str = "\n\n"
    # Every worker builds and holds the whole index: its size is checked against this budget
    # on the driver before any work (256 MiB ~ 22M n-gram rows).
    index_max_bytes: int = Field(default=256 << 20, gt=0)
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


# ------------------------------------------------------------------ stage shell -----------

_INDEXES: dict[tuple[str, int], ngrams.NgramIndex] = {}
_INDEX_LOCK = threading.Lock()


def load_index(config: Config, seed: int) -> ngrams.NgramIndex:
    """The benchmark index, built once per process for a config (workers share it)."""
    key = (config.model_dump_json(), seed)
    with _INDEX_LOCK:
        index = _INDEXES.get(key)
        if index is None:
            index = _INDEXES[key] = build_index(config, seed)
        return index


def make_core(config: Config, context: RunContext, broadcast: Any = None
              ) -> Callable[..., Any]:
    """Per worker: the index; per document: find, then cut or drop. ``ignored`` (two-pass mode)
    holds the common n-grams counted across the run that this document contains."""
    index = load_index(config, context.seed)
    names = tuple(source.name for source in config.benchmarks)

    def core(doc: Doc, ignored: frozenset[int] | None = None) -> Any:
        text = doc.text
        if not text:
            return doc
        matches = find(text, index)
        if ignored:
            matches = [m for m in matches if m.hash not in ignored]
        if not matches:
            return doc
        outcome = apply_hits(text, matches, config)
        info = (text, matches, outcome)
        if outcome.drop is not None:
            return Verdict(outcome.drop, info)
        meta = {**doc.meta, "decontam": {names[b]: n for b, n in sorted(outcome.per_bench.items())}}
        return Verdict(doc.replace(text=outcome.text, meta=meta), info)

    return core


class ContaminationReport(beam.CombineFn):
    """Per benchmark: documents touched/dropped, characters and words removed, dirty items,
    a few example n-grams; and the distinct n-grams hit (bounded by the index, not the corpus)."""

    def __init__(self, config: Config, context: RunContext) -> None:
        self.config = config
        builder = index_builder(config, context.seed, config.index_max_bytes)
        if not builder.keep:
            raise ValueError(f"decontaminate: the benchmark index needs {builder.nbytes} bytes, "
                             f"over index_max_bytes={config.index_max_bytes}; every "
                             "worker holds it, so raise the budget or split the benchmarks")
        self.names = tuple(builder.bench_names)
        c = config
        self.static = {"mode": c.mode, "ngram": c.ngram,
                       "min_item_words": c.min_item_words, "max_matches": c.max_matches,
                       "max_items_per_ngram": c.max_items_per_ngram,
                       "ignore_ngrams": c.ignore_ngrams,
                       "chars_each_side": c.chars_each_side, "min_piece_chars": c.min_piece_chars,
                       "max_splits": c.max_splits,
                       "index": {"ngrams": builder.rows, "bytes": builder.nbytes,
                                 "window_lengths": sorted(builder.lengths, reverse=True),
                                 "budget_bytes": c.index_max_bytes},
                       "tokens_removed_note": "unknown before tokenize; words_removed is given"}
        self.index_stats = builder.stats

    def create_accumulator(self) -> dict[str, Any]:
        return {"stats": {}, "dirty": set(), "examples": {}, "hits": set()}

    def add_input(self, acc: dict[str, Any], item: tuple[Doc, Any, Any]) -> dict[str, Any]:
        _, outcome, info = item
        if info is None:
            return acc
        text, matches, result = info
        dropped = result.drop is not None
        for bench in sorted(result.per_bench):
            own = [m for m in matches if bench in m.benches]
            chars, words = result.removed[bench]
            row = acc["stats"].setdefault(bench, [0, 0, 0, 0])
            for i, value in enumerate((1, int(dropped), chars, words)):
                row[i] += value
            examples = acc["examples"].setdefault(bench, [])
            examples.extend((m.hash, m.text) for m in own)
            acc["examples"][bench] = sorted(set(examples))[:self.config.examples_per_benchmark]
        for m in matches:
            acc["hits"].add(m.hash)
            acc["dirty"].update(m.items)
        return acc

    def merge_accumulators(self, accs: Iterable[dict[str, Any]]) -> dict[str, Any]:
        out = self.create_accumulator()
        for acc in accs:
            for bench, row in acc["stats"].items():
                total = out["stats"].setdefault(bench, [0, 0, 0, 0])
                for i, value in enumerate(row):
                    total[i] += value
            for bench, examples in acc["examples"].items():
                merged = set(out["examples"].get(bench, [])) | set(examples)
                out["examples"][bench] = sorted(merged)[:self.config.examples_per_benchmark]
            out["dirty"] |= acc["dirty"]
            out["hits"] |= acc["hits"]
        return out

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        dirty = Counter(bench for bench, _ in acc["dirty"])
        table = {}
        for bench, name in enumerate(self.names):
            row = acc["stats"].get(bench, [0, 0, 0, 0])
            table[name] = {**self.index_stats[name], "dirty_items": dirty.get(bench, 0),
                           "docs_touched": row[0], "docs_dropped": row[1],
                           "chars_removed": row[2], "words_removed": row[3],
                           "tokens_removed": None,
                           "examples": [text for _, text in acc["examples"].get(bench, [])]}
        return {**self.static, "hit_ngrams": len(acc["hits"]), "ignored_common_ngrams": 0,
                "benchmarks": table}


# Two-pass mode (``max_matches`` set): GPT-3's corpus-wide cutoff for common phrases.

def make_prepare(config: Config, context: RunContext) -> Callable[[Doc, DocRef], list]:
    index = load_index(config, context.seed)

    def prepare(doc: Doc, ref: DocRef) -> list[tuple[str, bytes, Any]]:
        if not doc.text:
            return []
        hashes = sorted({m.hash for m in find(doc.text, index)})
        return [("hits", value.to_bytes(8, "big", signed=True), ref) for value in hashes]

    return prepare


def decide(config: Config, context: RunContext, inputs: DecideInputs) -> Decisions:
    """n-grams found in more than ``max_matches`` documents of this run are common phrases: each
    such document gets the set of them to ignore."""
    common = inputs.groups["hits"](min_size=config.max_matches + 1, label="common ngrams")
    per_doc = (common
               | "to documents" >> beam.FlatMap(
                   lambda item: [(tuple(ref), int.from_bytes(item[0], "big", signed=True))
                                 for ref in item[1]])
               | "by document" >> beam.GroupByKey()
               | "ignored set" >> beam.MapTuple(lambda ref, hashes: (ref, frozenset(hashes))))
    ignored = (common
               | "count common" >> beam.combiners.Count.Globally()
               | "common report" >> beam.Map(lambda n: {"ignored_common_ngrams": n}))
    return Decisions(per_doc=per_doc, reports={"common": ignored})


def _two_pass(config: Config) -> TwoPass | None:
    if config.max_matches is None:
        return None
    return TwoPass(channels=(Channel("hits", "grouped", key_bytes=8),),
                   make_prepare=make_prepare, decide=decide)


def finalize_reports(reports: dict[str, Any]) -> dict[str, Any]:
    common = reports.pop("common", None)
    if common is not None and "contamination" in reports:
        reports["contamination"]["ignored_common_ngrams"] = common["ignored_common_ngrams"]
    return reports


SPEC = Stage(name=STAGE, reasons=(REASON,), make_core=make_core,
             reads=frozenset({"text"}), writes=frozenset({"text", "meta"}),
             two_pass=_two_pass, report=ContaminationReport, report_name="contamination",
             finalize_reports=finalize_reports)
