"""MinHash building blocks: normalisation, shingles, signatures (against datasketch), banding."""
from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash

from stages import minhash
from stages.minhash import ShingleSpec

SPEC = ShingleSpec(word_ngram=5, char_ngram=5)
WORDS = ("the quick brown fox jumps over a lazy dog while seven small birds sing loudly in "
         "old green trees near one quiet river every morning").split()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randrange(3)) for _ in range(n))


def _reference_shingles(text: str, n: int) -> set[str]:
    words = minhash.normalize_words(text)
    words = [w.translate(str.maketrans("123456789", "000000000")) for w in words]
    n = min(n, len(words))
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def test_normalisation_folds_case_punctuation_whitespace_and_digits() -> None:
    a = minhash.normalized_units("Hello,  World!\n\tPrice: $12.50 (2019)", False)
    b = minhash.normalized_units("hello world price 99 70 -- 3021", False)
    assert a.tobytes() == b.tobytes() == b"hello world price 00 00 0000"
    assert minhash.normalize_words("snake_case and hyphen-ated") == ["snake", "case", "and",
                                                                      "hyphen", "ated"]


def test_word_shingles_are_the_distinct_ngrams() -> None:
    rng = random.Random(3)
    for n_words in (1, 3, 5, 6, 40, 400):
        text = _text(rng, n_words)
        units = minhash.normalized_units(text, False)
        hashes = minhash.shingle_hashes(units, False, SPEC)
        assert hashes.size == len(_reference_shingles(text, 5))  # no collisions, no gaps
        assert np.all(np.diff(hashes.astype(np.float64)) > 0) or hashes.size <= 1


def test_span_hash_equals_polynomial_of_the_ngram_bytes() -> None:
    text = "alpha beta gamma delta epsilon zeta eta"
    units = minhash.normalized_units(text, False)
    hashes = set(minhash.shingle_hashes(units, False, SPEC).tolist())
    expected = set()
    for gram in _reference_shingles(text, 5):
        value = 0
        for byte in gram.encode():
            value = (value * 0x9E3779B97F4A7C15 + byte) % (1 << 64)
        expected.add(value)
    assert hashes == expected


def test_short_and_empty_texts() -> None:
    assert minhash.shingle_hashes(minhash.normalized_units("", False), False, SPEC).size == 0
    assert minhash.shingle_hashes(minhash.normalized_units("!!! ...", False), False, SPEC).size == 0
    assert minhash.shingle_hashes(minhash.normalized_units("two words", False), False, SPEC).size == 1
    signature = minhash.MinHasher(16, 1).signature(np.zeros(0, dtype=np.uint64))
    assert np.all(signature == minhash.MAX_HASH)


def test_char_shingles_ignore_spacing_and_punctuation() -> None:
    a = minhash.normalized_units("吾輩は猫である。名前はまだ無い。", True)
    b = minhash.normalized_units("吾輩は 猫である 名前は、まだ無い", True)
    assert a.tobytes() == b.tobytes()
    hashes = minhash.shingle_hashes(a, True, SPEC)
    assert hashes.size == len({"吾輩は猫である名前はまだ無い"[i:i + 5] for i in range(10)})


def test_signature_equals_datasketch_affine64() -> None:
    rng = np.random.default_rng(5)
    hasher = minhash.MinHasher(64, seed=77)
    for size in (1, 10, 3000, 5000):  # 5000 crosses the chunk boundary
        shingles = np.unique(rng.integers(0, 2**63, size=size, dtype=np.uint64))
        reference = MinHash(num_perm=64, seed=77, scheme="affine64", hashfunc=int)
        reference.update_batch(shingles.tolist())
        assert np.array_equal(hasher.signature(shingles), reference.hashvalues)


@pytest.mark.parametrize("num_perm,seed", [(1, 0), (64, 77), (112, 0x5EED), (256, 2**32 - 1)])
def test_permutations_equal_datasketch_affine64(num_perm: int, seed: int) -> None:
    a, b = minhash.affine64_permutations(num_perm, seed)
    reference = MinHash(num_perm=num_perm, seed=seed, scheme="affine64").permutations
    assert np.array_equal(a, reference[0]) and np.array_equal(b, reference[1])


def test_seed_changes_permutations() -> None:
    shingles = np.arange(1, 200, dtype=np.uint64)
    assert not np.array_equal(minhash.MinHasher(32, 1).signature(shingles),
                              minhash.MinHasher(32, 2).signature(shingles))


def test_estimated_jaccard_tracks_true_jaccard() -> None:
    rng = random.Random(11)
    hasher = minhash.MinHasher(256, seed=3)
    for target in (0.2, 0.5, 0.8, 0.95):
        common = 1000
        extra = round(common * (1 - target) / (2 * target)) if target < 1 else 0
        shared = [rng.getrandbits(63) for _ in range(common)]
        a = np.unique(np.array(shared + [rng.getrandbits(63) for _ in range(extra)], dtype=np.uint64))
        b = np.unique(np.array(shared + [rng.getrandbits(63) for _ in range(extra)], dtype=np.uint64))
        truth = minhash.exact_jaccard(minhash.shingle_payload(a), minhash.shingle_payload(b))
        estimate = minhash.estimated_jaccard(minhash.signature_payload(hasher.signature(a)),
                                             minhash.signature_payload(hasher.signature(b)))
        assert abs(estimate - truth) < 4 * (truth * (1 - truth) / 256) ** 0.5 + 1e-9


def test_band_keys_differ_only_where_rows_differ() -> None:
    signature = minhash.MinHasher(24, 1).signature(np.arange(1, 50, dtype=np.uint64))
    keys = minhash.band_keys(signature, 6, 4)
    assert len(keys) == 6 and len(set(keys)) == 6 and all(len(k) == 10 for k in keys)
    changed = signature.copy()
    changed[9] ^= np.uint64(1)  # row 9 lives in band 2
    other = minhash.band_keys(changed, 6, 4)
    assert [a == b for a, b in zip(keys, other)] == [True, True, False, True, True, True]


@pytest.mark.parametrize("threshold, num_perm", [(0.8, 128), (0.7, 112), (0.9, 256), (0.5, 64)])
def test_derived_banding_meets_recall_with_the_largest_rows(threshold: float, num_perm: int) -> None:
    bands, rows = minhash.derive_bands_rows(threshold, num_perm, 0.98)
    assert bands * rows <= num_perm
    assert minhash.candidate_probability(threshold, bands, rows) >= 0.98
    bigger = rows + 1
    assert minhash.candidate_probability(threshold, num_perm // bigger, bigger) < 0.98


def test_s_curve_points() -> None:
    points = minhash.s_curve(18, 7)
    assert [p["jaccard"] for p in points] == [round(i * 0.05, 4) for i in range(21)]
    values = [p["p_candidate"] for p in points]
    assert values[0] == 0.0 and values[-1] == 1.0 and values == sorted(values)
