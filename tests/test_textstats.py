"""The compiled word n-gram statistics (stages/_textstats.c) against the NumPy reference
(stages/repetition.py): the same floats, on random word sequences and on real web text."""
from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import given, settings, strategies as st

from stages import repetition as rp
from stages import text as tx
from tests.conftest import shared_path

TOP, DUP = (2, 3, 4), (5, 6, 7, 8, 9, 10)


def reference(index: rp.WordIndex, top_ns: tuple[int, ...], dup_ns: tuple[int, ...],
              count_first: bool) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """ngram_fractions with the compiled module switched off."""
    compiled, rp._compiled = rp._compiled, None
    try:
        return rp.ngram_fractions(index, top_ns, dup_ns, count_first)
    finally:
        rp._compiled = compiled


def test_the_compiled_module_is_built() -> None:
    """`pip install -e .` builds it (setup.py); without it every document takes the slow path."""
    assert rp._compiled is not None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["a", "bb", "ccc", "a.", "dddd", "é", "日本"]), max_size=80),
       st.sets(st.integers(1, 12), max_size=4), st.sets(st.integers(1, 12), max_size=6),
       st.booleans())
def test_compiled_equals_the_numpy_reference(words: list[str], top: set[int], dup: set[int],
                                             count_first: bool) -> None:
    index = rp.WordIndex(words)
    top_ns, dup_ns = tuple(sorted(top)), tuple(sorted(dup))
    assert rp.ngram_fractions(index, top_ns, dup_ns, count_first) == reference(
        index, top_ns, dup_ns, count_first)


def test_compiled_equals_the_numpy_reference_on_web_text() -> None:
    path = shared_path("corpora", "en_commoncrawl", "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for _, line in zip(range(1000), handle)]
    with_top = with_dup = 0
    for text in texts:
        index = rp.WordIndex(tx.tokens_and_words(text)[1])
        for count_first in (False, True):
            got = rp.ngram_fractions(index, TOP, DUP, count_first)
            assert got == reference(index, TOP, DUP, count_first)
            with_top += any(got[0])
            with_dup += any(got[1])
    assert with_top > 600 and with_dup > 100  # the texts exercise both kinds of statistic


def test_inputs_are_checked() -> None:
    index = rp.WordIndex(["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="strictly increasing"):
        rp.ngram_fractions(index, (3, 2), (), False)
    with pytest.raises(ValueError, match="outside the BMP"):
        tx.strip_table("a\U0001F600")
    with pytest.raises(ValueError, match="equal-length"):
        rp._compiled.ngram_fractions(index.values, index.lengths[:1], (2,), (), False)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=6), max_size=60))
def test_compiled_word_values_equal_the_numpy_arrays(words: list[str]) -> None:
    index = rp.WordIndex(words)
    values, lengths = rp.word_arrays(words)
    assert index.values.tolist() == values.tolist()
    assert index.lengths.tolist() == lengths.tolist()


TOKENS = st.lists(st.text(alphabet=st.characters(blacklist_categories=("Zs", "Zl", "Zp")),
                          min_size=1, max_size=8), max_size=40)


@settings(max_examples=500, deadline=None)
@given(TOKENS)
def test_compiled_words_equal_the_reference_words(tokens: list[str]) -> None:
    words, alpha = tx.textstats.strip_words(tokens, tx.strip_table(tx.PUNCT))
    assert list(words) == tx.words_of(tokens)
    assert alpha == tx.count_alpha_words(words)


def test_compiled_words_on_real_text_in_several_scripts() -> None:
    """Web text and two novels, split on whitespace and into lines."""
    texts = [shared_path("corpora", "literature", "botchan.txt").read_text(encoding="utf-8")[:200_000],
             shared_path("corpora", "literature", "wagahaiwa_nekodearu.txt").read_text(
                 encoding="utf-8")[:100_000]]
    path = shared_path("corpora", "en_commoncrawl", "dolma_cc_en_head-0174.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        texts += [json.loads(line)["text"] for line in handle]
    table = tx.strip_table(tx.PUNCT)
    for text in texts:
        for tokens in (text.split(), text.splitlines()):
            words, alpha = tx.textstats.strip_words(tokens, table)
            assert list(words) == tx.words_of(tokens)
            assert alpha == tx.count_alpha_words(words)


def test_word_units_are_the_same_with_and_without_the_compiled_module() -> None:
    text = "Hello, world!  It's x.y -- «quoted» 2019… ★ km² 第1回"
    compiled = tx.textstats
    tx.tokens_and_words.cache_clear()
    try:
        with_module = tx.tokens_and_words(text)
        tx.textstats = None
        tx.tokens_and_words.cache_clear()
        assert tx.tokens_and_words(text) == with_module
    finally:
        tx.textstats = compiled
        tx.tokens_and_words.cache_clear()
