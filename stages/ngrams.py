"""GPT-3 style word n-grams that remember where they came from in the original text.

Normalisation (Brown et al. 2020, App. C): lowercase, punctuation removed, whitespace words.
Punctuation and symbols act as word *separators* rather than being deleted, so the tokenised
benchmark forms ("don 't", "guest @-@ starring", "has_close_elements") and the running-text
forms ("don't", "guest-starring") normalise to the same words. Every word keeps the character
span it came from, so a matching n-gram maps back to an exact slice of the original text.

The index is two parallel numpy arrays (sorted 64-bit hashes, item ids): 12 bytes per n-gram,
looked up for a whole document at once with ``searchsorted``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import xxhash

# A word: a maximal run of letters/digits (underscore, punctuation and symbols separate words).
WORD_RE = re.compile(r"[^\W_]+")


class Words(NamedTuple):
    """Normalised words with their [start, end) character offsets in the original text."""

    words: list[str]
    starts: list[int]
    ends: list[int]


def normalize(text: str) -> Words:
    """Lowercase alphanumeric words of ``text`` with their character offsets."""
    words, starts, ends = [], [], []
    for match in WORD_RE.finditer(text):
        words.append(match.group().lower())
        starts.append(match.start())
        ends.append(match.end())
    return Words(words, starts, ends)


def normalized_words(text: str) -> list[str]:
    return [w.lower() for w in WORD_RE.findall(text)]


def hash_gram(words: Sequence[str], seed: int) -> int:
    """64-bit seeded hash of one normalised n-gram (words joined by single spaces)."""
    return xxhash.xxh3_64_intdigest(" ".join(words).encode("utf-8"), seed=seed)


def signed(value: int) -> int:
    """A uint64 hash as int64: Beam's integer coder (shuffle keys) takes signed 64-bit only."""
    return value - (1 << 64) if value >= (1 << 63) else value


def window_hashes(words: Sequence[str], length: int, seed: int) -> np.ndarray:
    """Hashes of every ``length``-word window, in order (one per start position).

    The words are encoded once; each window is a byte slice of that buffer, which equals
    ``" ".join(window).encode()`` so hashes agree with :func:`hash_gram`.
    """
    count = len(words) - length + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    encoded = [w.encode("utf-8") for w in words]
    offsets = [0] * (len(words) + 1)
    position = 0
    for i, word in enumerate(encoded):
        offsets[i] = position
        position += len(word) + 1
    offsets[len(words)] = position
    buffer = b" ".join(encoded)
    digest = xxhash.xxh3_64_intdigest
    out = np.fromiter((digest(buffer[offsets[i]:offsets[i + length] - 1], seed=seed)
                       for i in range(count)), dtype=np.uint64, count=count)
    return out


def item_grams(words: Sequence[str], n: int, min_words: int, seed: int) -> tuple[np.ndarray, int]:
    """The hashes a benchmark item contributes and the window length they have.

    Items of at least ``n`` words give their n-grams; shorter items with at least
    ``min_words`` words give one hash of their whole word sequence; shorter ones give nothing.
    """
    if len(words) >= n:
        return np.unique(window_hashes(words, n, seed)), n
    if len(words) >= min_words:
        return np.array([hash_gram(words, seed)], dtype=np.uint64), len(words)
    return np.empty(0, dtype=np.uint64), 0


class Hit(NamedTuple):
    """One matching window of a document: word position, length, hash and index rows."""

    start: int
    length: int
    hash: int
    lo: int
    hi: int


@dataclass
class NgramIndex:
    """Sorted benchmark n-gram hashes -> item ids -> benchmark ids (pure, picklable)."""

    n: int
    seed: int
    hashes: np.ndarray  # uint64, sorted
    items: np.ndarray  # int32, item id per hash row
    item_bench: np.ndarray  # int16, benchmark id per item
    lengths: tuple[int, ...]  # window lengths to scan documents with (n and short-item lengths)
    bench_names: tuple[str, ...] = ()
    stats: dict = field(default_factory=dict)
    # Short items (fewer than n words): first two words -> item lengths starting with them. A
    # document window of a short length is hashed only where its first two words fit, which
    # saves hashing every window at every short length (the hash stays the definition).
    short_prefixes: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes + self.items.nbytes + self.item_bench.nbytes)

    def fingerprint(self) -> str:
        """Digest of the index content: workers check they rebuilt the same index."""
        h = xxhash.xxh3_64()
        for array in (self.hashes, self.items, self.item_bench):
            h.update(np.ascontiguousarray(array).tobytes())
        h.update(repr((self.n, self.seed, self.lengths, self.bench_names)).encode())
        return h.hexdigest()

    def find(self, words: Sequence[str]) -> list[Hit]:
        """Every window of ``words`` whose hash is in the index, ordered by position."""
        hits: list[Hit] = []
        if len(self.hashes) == 0:
            return hits
        candidates = short_candidates(words, self.short_prefixes)
        for length in self.lengths:
            if length in candidates:
                starts = candidates[length]
                grams = np.fromiter((hash_gram(words[p:p + length], self.seed) for p in starts),
                                    dtype=np.uint64, count=len(starts))
            elif length == self.n or length < 2:
                grams = window_hashes(words, length, self.seed)
                starts = None
            else:
                continue  # no window of the document starts like a short item of this length
            if not len(grams):
                continue
            lo = np.searchsorted(self.hashes, grams, side="left")
            found = np.flatnonzero(self.hashes[np.minimum(lo, len(self.hashes) - 1)] == grams)
            if not len(found):
                continue
            hi = np.searchsorted(self.hashes, grams[found], side="right")
            for k, row_lo, row_hi in zip(found.tolist(), lo[found].tolist(), hi.tolist()):
                pos = starts[k] if starts is not None else k
                hits.append(Hit(pos, length, int(grams[k]), row_lo, row_hi))
        hits.sort()
        return hits


    def items_of(self, hit: Hit) -> np.ndarray:
        return self.items[hit.lo:hit.hi]


def short_candidates(words: Sequence[str], prefixes: dict) -> dict[int, list[int]]:
    """Short length -> window starts whose first two words begin a short item that long."""
    out: dict[int, list[int]] = {}
    if not prefixes:
        return out
    total = len(words)
    for pos in range(total - 1):
        fits = prefixes.get((words[pos], words[pos + 1]))
        if fits:
            for length in fits:
                if pos + length <= total:
                    out.setdefault(length, []).append(pos)
    return out


class IndexBuilder:
    """Accumulates items benchmark by benchmark, then freezes them into an :class:`NgramIndex`."""

    def __init__(self, n: int, min_words: int, seed: int, max_bytes: int | None = None) -> None:
        self.n, self.min_words, self.seed = n, min_words, seed
        # Over max_bytes the builder stops keeping hashes and only counts (a census).
        self.max_bytes = max_bytes
        self.keep = True
        self.rows = 0
        self.parts: list[np.ndarray] = []
        self.part_items: list[np.ndarray] = []
        self.item_bench: list[int] = []
        self.lengths: set[int] = set()
        self.bench_names: list[str] = []
        self.bench_stats: list[dict] = []
        self.short_prefixes: dict[tuple[str, str], set[int]] = {}

    def frozen_prefixes(self) -> dict[tuple[str, str], tuple[int, ...]]:
        return {key: tuple(sorted(lengths)) for key, lengths in sorted(self.short_prefixes.items())}

    def add_benchmark(self, name: str, items: Iterable[str]) -> None:
        bench = len(self.bench_names)
        self.bench_names.append(name)
        stats = {"items": 0, "items_indexed": 0, "short_items": 0, "too_short": 0, "ngrams": 0}
        for text in items:
            item = len(self.item_bench)
            self.item_bench.append(bench)
            stats["items"] += 1
            words = normalized_words(text)
            grams, length = item_grams(words, self.n, self.min_words, self.seed)
            if 2 <= length < self.n:
                self.short_prefixes.setdefault((words[0], words[1]), set()).add(length)
            if not length:
                stats["too_short"] += 1
                continue
            stats["items_indexed"] += 1
            stats["short_items"] += int(length < self.n)
            stats["ngrams"] += len(grams)
            self.lengths.add(length)
            self.rows += len(grams)
            if self.keep and self.max_bytes is not None and self.nbytes > self.max_bytes:
                self.keep = False
                self.parts, self.part_items = [], []
            if self.keep:
                self.parts.append(grams)
                self.part_items.append(np.full(len(grams), item, dtype=np.int32))
        self.bench_stats.append(stats)

    @property
    def nbytes(self) -> int:
        """Bytes the built index takes (or would take): 8 + 4 per row, 2 per item."""
        return self.rows * 12 + len(self.item_bench) * 2

    @property
    def stats(self) -> dict[str, dict]:
        return {name: s for name, s in zip(self.bench_names, self.bench_stats)}

    def build(self) -> NgramIndex:
        if not self.keep:
            raise MemoryError(f"index needs {self.nbytes} bytes > max_bytes {self.max_bytes}")
        hashes = np.concatenate(self.parts) if self.parts else np.empty(0, dtype=np.uint64)
        items = np.concatenate(self.part_items) if self.part_items else np.empty(0, np.int32)
        order = np.lexsort((items, hashes))  # stable and total: deterministic row order
        return NgramIndex(
            n=self.n, seed=self.seed, hashes=hashes[order], items=items[order],
            item_bench=np.asarray(self.item_bench, dtype=np.int16),
            lengths=tuple(sorted(self.lengths, reverse=True)),
            bench_names=tuple(self.bench_names),
            stats=self.stats,
            short_prefixes=self.frozen_prefixes())


def char_span(words: Words, hit: Hit) -> tuple[int, int]:
    """[start, end) characters of the original text covered by a hit's words."""
    return words.starts[hit.start], words.ends[hit.start + hit.length - 1]
