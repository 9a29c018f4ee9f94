"""Text normalisation, shingles, MinHash signatures and LSH band keys: pure numpy, no Beam.

Why not datasketch's per-document objects: on this machine its ``update`` loop ran ~50 docs/s
and ``MinHash.bulk`` ~540 docs/s, against the ≥1,000 docs/s per core this stage needs (numbers
and commands in docs/dedup.md). The per-document work here is a handful of numpy calls:

- shingle hashes come from one prefix sum over the normalised text's units (UTF-8 bytes for
  word n-grams, code points for character n-grams): the hash of any span is then O(1), so a
  document never loops in Python per word or per shingle;
- signatures use datasketch's ``affine64`` scheme with datasketch's own seeded permutations
  (MurmurHash3 finaliser, then ``a*h + b mod 2^64``, ``a`` odd): no modulo, one wrapping
  multiply-add per (shingle, permutation). A signature here equals
  ``datasketch.MinHash(num_perm, seed, scheme="affine64", hashfunc=identity)`` updated with the
  same shingle hashes (tests/test_dedup_minhash.py checks it), so the two stay interchangeable.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import xxhash

# Runs of letters and digits; "_" and every other symbol count as separators.
_WORD = re.compile(r"[^\W_]+")
_SPACE = 32
_ZERO, _NINE = 48, 57
MAX_HASH = np.uint64(0xFFFFFFFFFFFFFFFF)
# Odd 64-bit multiplier of the polynomial span hash (golden-ratio constant: all bits mixed).
_P = 0x9E3779B97F4A7C15
_P_INV = pow(_P, -1, 1 << 64)
_FMIX = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))


@dataclass(frozen=True)
class ShingleSpec:
    """How a document becomes a set of shingles."""

    word_ngram: int = 5
    char_ngram: int = 5
    map_digits: bool = True


def normalize_words(text: str) -> list[str]:
    """Lowercase, then keep runs of letters/digits: punctuation and whitespace fold away."""
    return _WORD.findall(text.lower())


def normalized_units(text: str, char_mode: bool, map_digits: bool = True) -> np.ndarray:
    """The normalised text as an integer array the span hash runs over.

    Word mode: UTF-8 bytes of the words joined by single spaces (uint8). Character mode (CJK):
    code points of the words joined without separators (uint32), so spacing never matters.
    ASCII digits map to ``0`` so dates, prices and counters do not hide a copy.
    """
    words = normalize_words(text)
    if char_mode:
        units = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32)
    else:
        units = np.frombuffer(" ".join(words).encode("utf-8"), dtype=np.uint8)
    if map_digits and units.size:
        digits = (units >= _ZERO) & (units <= _NINE)
        if digits.any():
            units = units.copy()
            units[digits] = _ZERO
    return units


def content_digest(units: np.ndarray, char_mode: bool, extra: bytes = b"") -> bytes:
    """128-bit digest of normalised content: the exact-duplicate key. The shingle mode is part
    of it because documents sharing a key must share a signature; ``extra`` (the normalised
    URL when configured) is length-prefixed so no two (extra, text) pairs collide by layout."""
    head = (b"c" if char_mode else b"w") + len(extra).to_bytes(4, "big") + extra
    return xxhash.xxh3_128_digest(head + units.tobytes())


class _Powers:
    """P^k and P^-k mod 2^64, grown on demand (per process) to the longest document seen."""

    def __init__(self) -> None:
        self.size = 0
        self.pow = np.ones(0, dtype=np.uint64)
        self.inv = np.ones(0, dtype=np.uint64)

    def ensure(self, n: int) -> None:
        if n <= self.size:
            return
        size = max(4096, 1 << (n - 1).bit_length())
        for name, base in (("pow", _P), ("inv", _P_INV)):
            table = np.full(size, np.uint64(base), dtype=np.uint64)
            table[0] = 1
            np.cumprod(table, out=table)  # wraps mod 2^64, which is the arithmetic wanted
            setattr(self, name, table)
        self.size = size


_POWERS = _Powers()


def _span_hashes(units: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Polynomial hash sum(u[j] * P^(end-1-j)) mod 2^64 of every span [start, end)."""
    n = units.size
    _POWERS.ensure(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(units.astype(np.uint64) * _POWERS.inv[:n], out=prefix[1:])
    return (prefix[ends] - prefix[starts]) * _POWERS.pow[ends - 1]


def shingle_hashes(units: np.ndarray, char_mode: bool, spec: ShingleSpec) -> np.ndarray:
    """Sorted unique uint64 hashes of the word (or character) n-grams of normalised units.

    A text shorter than n yields one shingle (the whole text), an empty text none.
    """
    if units.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if char_mode:
        n = min(spec.char_ngram, units.size)
        starts = np.arange(units.size - n + 1)
        ends = starts + n
    else:
        spaces = np.flatnonzero(units == _SPACE)
        word_starts = np.concatenate(([0], spaces + 1))
        word_ends = np.concatenate((spaces, [units.size]))
        n = min(spec.word_ngram, word_starts.size)
        starts = word_starts[: word_starts.size - n + 1]
        ends = word_ends[n - 1:]
    return np.unique(_span_hashes(units, starts, ends))


def fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (datasketch's pre-mix before the affine permutations)."""
    shift, m1, m2 = _FMIX
    values = values ^ (values >> shift)
    values = values * m1
    values = values ^ (values >> shift)
    values = values * m2
    return values ^ (values >> shift)


def affine64_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of datasketch 2's ``affine64`` scheme: ``MinHash(num_perm, seed,
    scheme="affine64").permutations``, drawn the same way (``tests/test_dedup_minhash.py``
    checks equality). Drawn here because importing datasketch costs ~1.1 s per process (it
    imports scipy), paid by the driver and by every worker."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = gen.randint(0, 1 << 64, num_perm, dtype=np.uint64)
    return a, b


class MinHasher:
    """Seeded 64-bit MinHash with datasketch's affine64 permutations."""

    CHUNK = 2048  # shingles per block: keeps the (num_perm x CHUNK) temporary in cache

    def __init__(self, num_perm: int, seed: int) -> None:
        a, b = affine64_permutations(num_perm, seed)
        self.num_perm = num_perm
        self.a = np.asarray(a, dtype=np.uint64).reshape(-1, 1)
        self.b = np.asarray(b, dtype=np.uint64).reshape(-1, 1)
        self._block = np.empty((num_perm, self.CHUNK), dtype=np.uint64)

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        """(num_perm,) uint64 minima; all-ones for a document without shingles."""
        out = np.full(self.num_perm, MAX_HASH, dtype=np.uint64)
        mixed = fmix64(shingles)
        for start in range(0, mixed.size, self.CHUNK):
            chunk = mixed[start:start + self.CHUNK]
            block = self._block[:, : chunk.size]
            np.multiply(self.a, chunk[None, :], out=block)
            np.add(block, self.b, out=block)
            np.minimum(out, block.min(axis=1), out=out)
        return out


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One shuffle key per band: band index (2 bytes) + 64-bit hash of the band's rows.

    Hashing the rows keeps the key 10 bytes whatever ``rows`` is; a false collision
    (2^-64 per pair of bands) can only add a candidate, which verification then checks.
    """
    matrix = signature[: bands * rows].reshape(bands, rows)
    folded = np.zeros(bands, dtype=np.uint64)
    for column in range(rows):
        folded = fmix64(folded ^ matrix[:, column])
    raw = folded.astype("<u8").tobytes()
    return [index.to_bytes(2, "big") + raw[index * 8:(index + 1) * 8] for index in range(bands)]


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """The LSH S-curve: P(two documents share a band | Jaccard) = 1 - (1 - J^r)^b."""
    return 1.0 - (1.0 - jaccard ** rows) ** bands


def derive_bands_rows(threshold: float, num_perm: int, min_probability: float) -> tuple[int, int]:
    """The most selective banding (largest r, b = num_perm // r) that still makes a pair at the
    threshold a candidate with probability >= min_probability.

    Not datasketch's ``_optimal_param``: that minimises the integrated error on both sides and
    lands with P(candidate | J = threshold) around 0.4-0.6 (docs/dedup.md), so half the pairs at
    the threshold would never be compared. Verification removes the extra candidates instead.
    """
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= min_probability:
            return bands, rows
    return num_perm, 1


def s_curve(bands: int, rows: int, step: float = 0.05) -> list[dict[str, float]]:
    """P(candidate | J) for J = 0, step, ..., 1 (for the report)."""
    points = round(1 / step)
    return [{"jaccard": round(i * step, 4),
             "p_candidate": round(candidate_probability(i * step, bands, rows), 6)}
            for i in range(points + 1)]


def signature_payload(signature: np.ndarray) -> bytes:
    """What verification ships per document: the low 32 bits of each minimum.

    Halves the largest shuffle of the stage; two different 64-bit minima agree in their low
    32 bits with probability 2^-32, far below the estimator's own noise.
    """
    return signature.astype(np.uint32).tobytes()


def estimated_jaccard(payload_a: bytes, payload_b: bytes) -> float:
    """Fraction of equal signature slots (signature payloads) - the MinHash estimate."""
    a = np.frombuffer(payload_a, dtype=np.uint32)
    b = np.frombuffer(payload_b, dtype=np.uint32)
    return float(np.count_nonzero(a == b)) / a.size if a.size else 0.0


def shingle_payload(shingles: np.ndarray) -> bytes:
    """What exact verification ships per document: sorted unique 32-bit fingerprints of the
    shingles (mixed, then truncated). Half the bytes of the 64-bit set; two documents of 1,000
    shingles share a false fingerprint with probability ~1,000^2 / 2^32 = 0.0002."""
    return np.unique(fmix64(shingles).astype(np.uint32)).tobytes()


def exact_jaccard(payload_a: bytes, payload_b: bytes) -> float:
    """Jaccard of two shingle sets (shingle payloads)."""
    a = np.frombuffer(payload_a, dtype=np.uint32)
    b = np.frombuffer(payload_b, dtype=np.uint32)
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)
