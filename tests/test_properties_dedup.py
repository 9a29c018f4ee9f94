"""Property-based tests (hypothesis) for shingling, MinHash and the clustering operations:
no exceptions on arbitrary Unicode, and the invariants dedup relies on."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stages import minhash
from tests.helpers import star_round

SPEC = minhash.ShingleSpec(word_ngram=3, char_ngram=3)
HASHER = minhash.MinHasher(64, seed=7)
any_text = st.text(max_size=400)
words = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta"]),
                 min_size=0, max_size=60)


@settings(max_examples=150, deadline=None)
@given(any_text, st.booleans(), st.booleans())
def test_shingling_never_raises_and_is_deterministic(text: str, char_mode: bool, digits: bool) -> None:
    units = minhash.normalized_units(text, char_mode, digits)
    first = minhash.shingle_hashes(units, char_mode, SPEC)
    again = minhash.shingle_hashes(minhash.normalized_units(text, char_mode, digits), char_mode, SPEC)
    assert np.array_equal(first, again)
    assert len(np.unique(first)) == len(first)  # a shingle *set*
    if first.size:
        signature = HASHER.signature(first)
        assert signature.shape == (64,)
        assert minhash.estimated_jaccard(minhash.signature_payload(signature),
                                         minhash.signature_payload(signature)) == 1.0


@settings(max_examples=150, deadline=None)
@given(words, st.sampled_from([" ", "  ", "\n", "\t", " , "]))
def test_exact_key_ignores_case_spacing_and_punctuation(tokens: list[str], sep: str) -> None:
    plain = " ".join(tokens)
    noisy = sep.join(t.upper() if i % 2 else t for i, t in enumerate(tokens)) + " !"
    key = minhash.content_digest(minhash.normalized_units(plain, False), False)
    assert key == minhash.content_digest(minhash.normalized_units(noisy, False), False)


@settings(max_examples=100, deadline=None)
@given(words, words)
def test_jaccard_measures_are_bounded_and_symmetric(a: list[str], b: list[str]) -> None:
    sa = minhash.shingle_hashes(minhash.normalized_units(" ".join(a), False), False, SPEC)
    sb = minhash.shingle_hashes(minhash.normalized_units(" ".join(b), False), False, SPEC)
    if not (sa.size and sb.size):
        return
    pa, pb = minhash.shingle_payload(sa), minhash.shingle_payload(sb)
    exact = minhash.exact_jaccard(pa, pb)
    assert 0.0 <= exact <= 1.0 and exact == minhash.exact_jaccard(pb, pa)
    est = minhash.estimated_jaccard(minhash.signature_payload(HASHER.signature(sa)),
                                    minhash.signature_payload(HASHER.signature(sb)))
    assert 0.0 <= est <= 1.0
    if set(sa.tolist()) == set(sb.tolist()):
        assert exact == 1.0 and est == 1.0


@settings(max_examples=100, deadline=None)
@given(st.floats(0, 1), st.integers(1, 64), st.integers(1, 16))
def test_candidate_probability_is_a_monotone_probability(j: float, bands: int, rows: int) -> None:
    p = minhash.candidate_probability(j, bands, rows)
    assert 0.0 <= p <= 1.0
    assert minhash.candidate_probability(min(1.0, j + 0.1), bands, rows) >= p


def _components_in_memory(edges: set[tuple[int, int]], rounds: int = 40) -> dict[int, int]:
    """Iterate the two Beam operations on plain Python data until a fixpoint."""
    for _ in range(rounds):
        edges, changed = star_round(edges)
        if not changed:
            break
    labels: dict[int, int] = {}
    for lo, hi in edges:
        labels[hi] = min(labels.get(hi, lo), lo)
        labels[lo] = min(labels.get(lo, lo), lo)
    return labels


@settings(max_examples=80, deadline=None)
@given(st.sets(st.tuples(st.integers(0, 40), st.integers(0, 40)).filter(lambda e: e[0] < e[1]),
               max_size=60))
def test_star_operations_find_exactly_the_connected_components(edges: set[tuple[int, int]]) -> None:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for lo, hi in edges:
        a, b = find(lo), find(hi)
        parent[max(a, b)] = min(a, b)
    expected = {node: find(node) for node in parent}
    assert _components_in_memory(set(edges)) == expected
