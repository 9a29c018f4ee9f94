"""GPT-3 style word n-grams that remember where they came from in the original text.

Normalisation (Brown et al. 2020, App. C): lowercase, punctuation removed, whitespace words,
applied after the project's matching normal form (``stages.textnorm.normalize_for_matching``:
format characters such as soft hyphens and zero-width spaces removed, then NFKC, so fullwidth
letters and ligatures fold to plain ones). Benchmark items and documents go through the very
same :func:`normalize`, so a spelling trick cannot make the two sides disagree, and the word
count that decides how an item is matched is the count the matcher compares.

Punctuation and symbols act as word *separators* rather than being deleted, so the tokenised
benchmark forms ("don 't", "guest @-@ starring", "has_close_elements") and the running-text
forms ("don't", "guest-starring") normalise to the same words. Every word keeps the character
span it came from in the *original* text, so a matching n-gram maps back to an exact slice.

The index is two parallel numpy arrays (sorted 64-bit hashes, item ids): 12 bytes per n-gram,
looked up for a whole document at once with ``searchsorted``.
"""
from __future__ import annotations

import functools
import itertools
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import xxhash

from stages.textnorm import FORMAT_CHARS, normalize_for_matching

# A word: a maximal run of letters/digits (underscore, punctuation and symbols separate words).
WORD_RE = re.compile(r"[^\W_]+")
# A whitespace-delimited segment that holds a non-ASCII character. The normal form never joins
# or splits across whitespace, so segments can be normalised one by one; the possessive prefix
# and the look-behind keep the search linear on long ASCII runs.
_NON_ASCII_SEGMENT = re.compile(r"(?<!\S)[^\s\x80-\U0010ffff]*+[^\s\x00-\x7f]\S*")


class Words(NamedTuple):
    """Normalised words with their [start, end) character offsets in the original text."""

    words: list[str]
    starts: list[int]
    ends: list[int]


@functools.cache
def _separators() -> re.Pattern[str]:
    """Characters that separate words both as they are and in the normal form, but which the
    normal form rewrites: no-break and other spaces, "…", fullwidth and small punctuation.
    Replacing them one for one by a space keeps every offset and changes no word, so the many
    pages whose only non-normal characters these are skip the slow path. Built on first use
    (0.16 s: every code point with a decomposition is checked)."""
    chars = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.decomposition(char) and not WORD_RE.match(char):
            form = unicodedata.normalize("NFKC", char)
            if form != char and not WORD_RE.search(form) and \
                    not any(unicodedata.combining(c) for c in form):
                chars.append(char)
    return re.compile("[" + "".join(re.escape(c) for c in chars) + "]")


class _OffsetMap:
    """Normalised-text offsets -> original offsets, piecewise.

    A piece is (normalised start, original start, original end, linear). Linear pieces are
    unchanged stretches (offsets shift by a constant); other pieces are the normal form of one
    original character, or of a whole segment when characters combine (e + U+0301 -> é), and
    every normalised character in them maps to the whole original span.
    """

    def __init__(self) -> None:
        self.pieces: list[tuple[int, int, int, bool]] = []

    def add(self, norm_start: int, start: int, end: int, linear: bool) -> None:
        self.pieces.append((norm_start, start, end, linear))

    def spans(self, starts: list[int], ends: list[int]) -> tuple[list[int], list[int]]:
        """Original [start, end) of normalised [start, end) spans, all at once."""
        norm_start, start, end, linear = (np.array(column, dtype=np.int64)
                                          for column in zip(*self.pieces))
        begin, last = np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64) - 1
        first_piece = np.searchsorted(norm_start, begin, side="right") - 1
        last_piece = np.searchsorted(norm_start, last, side="right") - 1
        shift = start - norm_start
        out_start = np.where(linear[first_piece] == 1, begin + shift[first_piece],
                             start[first_piece])
        out_end = np.where(linear[last_piece] == 1, last + 1 + shift[last_piece],
                           end[last_piece])
        return out_start.tolist(), out_end.tolist()


# Normal forms of single characters met so far (bounded: at most _CACHE_LIMIT entries).
_CHAR_FORMS: dict[str, str] = {}
_CACHE_LIMIT = 1 << 16


def _char_forms(segment: str) -> list[str]:
    """The normal form of each character of ``segment`` on its own."""
    forms = _CHAR_FORMS
    out = []
    for char in segment:
        form = forms.get(char)
        if form is None:
            form = normalize_for_matching(char)
            if len(forms) < _CACHE_LIMIT:
                forms[char] = form
        out.append(form)
    return out


def _clusters(segment: str) -> tuple[list[tuple[int, int]], list[str]]:
    """[start, end) of the character clusters of ``segment`` and their normal forms.

    A cluster is a character with the characters after it whose normal form begins with a
    combining mark or is empty (e + U+0301, halfwidth ｶ + ﾞ): normalised one cluster at a time,
    a segment gives the same text as normalised whole in all but rare cases (conjoining jamo),
    which the caller detects."""
    forms = _char_forms(segment)
    bounds: list[list[int]] = []
    for offset, form in enumerate(forms):
        if bounds and (not form or unicodedata.combining(form[0])):
            bounds[-1][1] = offset + 1
        else:
            bounds.append([offset, offset + 1])
    normals = [forms[lo] if hi - lo == 1 else normalize_for_matching(segment[lo:hi])
               for lo, hi in bounds]
    return [(lo, hi) for lo, hi in bounds], normals


def normal_form(text: str) -> tuple[str, _OffsetMap | None]:
    """``text`` in the matching normal form (except characters that separate words either way,
    replaced one for one), and how its offsets map back (None: offset for offset)."""
    if text.isascii():
        return text, None
    if FORMAT_CHARS.search(text) is None:
        if unicodedata.is_normalized("NFKC", text):
            return text, None
        text = _separators().sub(" ", text)
        if unicodedata.is_normalized("NFKC", text):
            return text, None
    out: list[str] = []
    mapping = _OffsetMap()
    position = norm_position = 0
    for match in _NON_ASCII_SEGMENT.finditer(text):
        segment = match.group()
        normal = normalize_for_matching(segment)
        if normal == segment:
            continue
        start, end = match.span()
        if start > position:
            mapping.add(norm_position, position, start, True)
            out.append(text[position:start])
            norm_position += start - position
        bounds, normals = _clusters(segment)
        if "".join(normals) == normal:  # cluster by cluster: spans stay exact
            run = False  # inside a run of unchanged clusters (one linear piece)
            for (lo, hi), form in zip(bounds, normals):
                if hi - lo == 1 and form == segment[lo]:
                    if not run:
                        mapping.add(norm_position, start + lo, start + hi, True)
                        run = True
                    norm_position += 1
                    continue
                run = False
                if form:
                    mapping.add(norm_position, start + lo, start + hi, False)
                    norm_position += len(form)
        else:  # characters combine across clusters: the segment maps as a whole
            mapping.add(norm_position, start, end, False)
            norm_position += len(normal)
        out.append(normal)
        position = end
    if not mapping.pieces:  # only already-normal segments
        return text, None
    if position < len(text):
        mapping.add(norm_position, position, len(text), True)
        out.append(text[position:])
    return "".join(out), mapping


def normalize(text: str) -> Words:
    """Lowercase alphanumeric words of ``text``'s normal form with their original offsets."""
    normal, mapping = normal_form(text)
    words, starts, ends = [], [], []
    for match in WORD_RE.finditer(normal):
        words.append(match.group().lower())
        starts.append(match.start())
        ends.append(match.end())
    if mapping is not None and words:
        starts, ends = mapping.spans(starts, ends)
    return Words(words, starts, ends)


def normalized_words(text: str) -> list[str]:
    """The words :func:`normalize` gives, without offsets (benchmark items, word counts)."""
    normal, _ = normal_form(text)
    return [word.lower() for word in WORD_RE.findall(normal)]


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


class Grams(NamedTuple):
    """What one benchmark item (or one listed phrase) contributes to the index."""

    hashes: np.ndarray  # uint64, distinct: n-grams and whole short sequences
    short: dict[int, tuple[str, ...]]  # hash -> words, for the whole short sequences
    words: int  # words of the item text (the longest variant)


def item_grams(parts: Sequence[Sequence[str]], n: int, min_words: int, seed: int,
               each_part: bool = True) -> Grams:
    """The hashes of one item text given as the normalised words of its parts, in order.

    - every ``n``-word window of the parts joined (GPT-3);
    - a sequence of fewer than ``n`` but at least ``min_words`` words is matched whole: the
      whole item when it is that short and, with ``each_part``, every run of consecutive parts
      that short (a question on its own, a context with one ending, a labelled line), because a
      page quoting one part never contains the windows that cross into the next part.
    Fewer than ``min_words`` words match nothing (too unspecific).
    """
    joined = [word for part in parts for word in part]
    long = window_hashes(joined, n, seed) if len(joined) >= n else np.empty(0, np.uint64)
    short: dict[int, tuple[str, ...]] = {}
    if len(joined) < n and len(joined) >= min_words:
        short[hash_gram(joined, seed)] = tuple(joined)
    if each_part:
        offsets = [0]
        for part in parts:
            offsets.append(offsets[-1] + len(part))
        filled = [i for i, part in enumerate(parts) if part]  # runs of parts with words
        for first, i in enumerate(filled):  # each run grows by >= 1 word: O(parts x n)
            for j in itertools.islice(filled, first, None):
                size = offsets[j + 1] - offsets[i]
                if size >= n:
                    break
                if size >= min_words:
                    words = tuple(joined[offsets[i]:offsets[j + 1]])
                    short[hash_gram(words, seed)] = words
    hashes = np.unique(np.concatenate([long, np.fromiter(short, np.uint64, len(short))]))
    return Grams(hashes, short, len(joined))


def variants_grams(variants: Sequence[Sequence[str]], n: int, min_words: int, seed: int,
                   each_part: bool = True) -> Grams:
    """Union of :func:`item_grams` over an item's text variants (e.g. a context with each of
    its endings), each variant given as part texts."""
    hashes, short, words = [], {}, 0
    for parts in variants:
        grams = item_grams([normalized_words(p) for p in parts], n, min_words, seed, each_part)
        hashes.append(grams.hashes)
        short.update(grams.short)
        words = max(words, grams.words)
    if not hashes:
        return Grams(np.empty(0, np.uint64), {}, 0)
    return Grams(np.unique(np.concatenate(hashes)) if len(hashes) > 1 else hashes[0], short,
                 words)


def phrase_hashes(phrases: Iterable[str], n: int, min_words: int, seed: int) -> np.ndarray:
    """Hashes of listed common phrases, normalised like items: every n-gram of a long phrase,
    a shorter phrase (>= min_words words) as a whole sequence."""
    parts = [item_grams([normalized_words(p)], n, min_words, seed, each_part=False).hashes
             for p in phrases]
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.uint64)


# "Question:", "Activity label:" at the start of an item: a file's label, not quoted text.
_LABEL = re.compile(r"\s*([^\W\d_][^\W\d_ ]*(?: [^\W\d_]+)?:)(?=\s)")


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
    lengths: tuple[int, ...]  # window lengths to scan documents with (n and short lengths)
    bench_names: tuple[str, ...] = ()
    stats: dict = field(default_factory=dict)
    # Short sequences (fewer than n words): first two words -> lengths starting with them. A
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
                continue  # no window of the document starts like a short sequence this long
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
    """Short length -> window starts whose first two words begin a short sequence that long."""
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
    """Accumulates items benchmark by benchmark, then freezes them into an :class:`NgramIndex`.

    Run-independent common-phrase rules are applied here, never against the corpus:
    ``max_items_per_ngram`` drops an n-gram shared by more items of one benchmark than that
    (instructions, test harnesses: template text, not any item's content), and ``ignored``
    (hashes of listed common phrases, :func:`phrase_hashes`) are never indexed.
    """

    def __init__(self, n: int, min_words: int, seed: int, max_bytes: int | None = None,
                 max_items_per_ngram: int | None = None,
                 ignored: np.ndarray | None = None) -> None:
        self.n, self.min_words, self.seed = n, min_words, seed
        self.max_items_per_ngram = max_items_per_ngram
        self.ignored = ignored if ignored is not None else np.empty(0, np.uint64)
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

    def add_benchmark(self, name: str, items: Iterable[Sequence[Sequence[str]]],
                      each_part: bool = True) -> None:
        """Add one benchmark; an item is its text variants, each a sequence of part texts (a
        plain string is an item of one part)."""
        bench = len(self.bench_names)
        self.bench_names.append(name)
        stats = {"items": 0, "items_indexed": 0, "short_items": 0, "too_short": 0,
                 "short_sequences": 0, "ngrams": 0, "template_ngrams": 0, "ignored_ngrams": 0,
                 "leading_label": None}
        labels: Counter = Counter()
        first = len(self.item_bench)
        grams: list[Grams] = []
        for variants in items:
            if isinstance(variants, str):
                variants = ((variants,),)
            self.item_bench.append(bench)
            stats["items"] += 1
            label = _LABEL.match(variants[0][0]) if variants and variants[0] else None
            if label:
                labels[label.group(1)] += 1
            item = variants_grams(variants, self.n, self.min_words, self.seed, each_part)
            grams.append(item)
            if not len(item.hashes):
                stats["too_short"] += 1
            elif item.words < self.n:
                stats["short_items"] += 1
        drop = np.empty(0, np.uint64)
        if grams:
            every = np.concatenate([g.hashes for g in grams])
            if self.max_items_per_ngram is not None:
                distinct, counts = np.unique(every, return_counts=True)
                template = distinct[counts > self.max_items_per_ngram]
                stats["template_ngrams"] = int(len(template))
                drop = template
            if len(self.ignored):
                listed = np.intersect1d(every, self.ignored)
                stats["ignored_ngrams"] = int(len(np.setdiff1d(listed, drop)))
                drop = np.union1d(drop, listed)
        dropped = set(drop.tolist())
        shorts: set[int] = set()
        for offset, item in enumerate(grams):
            hashes = item.hashes[~np.isin(item.hashes, drop)] if len(drop) else item.hashes
            if not len(hashes):
                continue
            stats["items_indexed"] += 1
            stats["ngrams"] += len(hashes)
            kept_short = [value for value in item.short if value not in dropped]
            for value in kept_short:
                if value not in shorts:
                    words = item.short[value]
                    shorts.add(value)
                    self.lengths.add(len(words))
                    if len(words) >= 2:  # one-word sequences are scanned at every position
                        self.short_prefixes.setdefault((words[0], words[1]), set()).add(
                            len(words))
            if len(hashes) > len(kept_short):  # some n-gram windows remain
                self.lengths.add(self.n)
            self.rows += len(hashes)
            if self.keep and self.max_bytes is not None and self.nbytes > self.max_bytes:
                self.keep = False
                self.parts, self.part_items = [], []
            if self.keep:
                self.parts.append(hashes)
                self.part_items.append(np.full(len(hashes), first + offset, dtype=np.int32))
        stats["short_sequences"] = len(shorts)
        if labels:
            label, count = labels.most_common(1)[0]
            if count * 2 >= stats["items"]:  # most items start with it: strip_prefix it
                stats["leading_label"] = {"label": label, "items": count}
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
