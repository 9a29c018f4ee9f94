"""Property-based tests (hypothesis): n-gram normalisation, decontamination cuts, blocklist host
handling, extraction on arbitrary bytes and the report formulas. No exceptions on arbitrary
input; the invariants the stages and the report rely on hold."""
from __future__ import annotations

import math

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.report import formulas as f
from stages import decontaminate as dc
from stages import extract, ngrams
from stages.record import Drop
from stages.urls import blocklist_url, host_suffixes

ITEM = "Janet's ducks lay sixteen eggs per day and she eats three for breakfast every morning"
FILLER = st.lists(st.sampled_from(["river", "the", "school", "teacher", "quietly", "Botchan",
                                   "said", "and", "I", ",", ".", "\n", "鴨", "🙂"]), max_size=200)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_normalised_words_point_back_at_their_characters(text: str) -> None:
    words = ngrams.normalize(text)
    assert len(words.words) == len(words.starts) == len(words.ends)
    for word, start, end in zip(*words):
        # the span's own normal form holds the word (NFKC may split or join characters)
        assert word and word in "".join(ngrams.normalized_words(text[start:end]))
    assert words.words == ngrams.normalized_words(text)


def _index() -> ngrams.NgramIndex:
    builder = ngrams.IndexBuilder(13, 8, 17, None)
    builder.add_benchmark("b", [ITEM])
    return builder.build()


INDEX = _index()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FILLER, FILLER, st.sampled_from(["span", "document"]))
def test_cutting_removes_every_planted_ngram_and_never_adds_text(before: list[str], after: list[str],
                                                                   mode: str) -> None:
    text = " ".join(before) + " " + ITEM + " " + " ".join(after)
    config = dc.Config(mode=mode, benchmarks=[])
    outcome = dc.decontaminate_text(text, INDEX, config)
    assert outcome.chars_removed >= 0
    if outcome.text is None:
        assert isinstance(outcome.drop, Drop)
    else:
        assert len(outcome.text) <= len(text) - outcome.chars_removed + 2 * config.max_splits
        assert not dc.find(outcome.text, INDEX)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_host_handling_never_raises(host: str) -> None:
    candidates = host_suffixes(blocklist_url(host))
    assert all(isinstance(c, str) for c in candidates)
    # parent domains only ever get shorter
    assert [len(c) for c in candidates] == sorted((len(c) for c in candidates), reverse=True)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=3000))
def test_extraction_of_arbitrary_bytes_gives_text_or_a_reason(data: bytes) -> None:
    result = extract.extract_or_drop(data, None, extract.Config(timeout_mode="off"))
    assert isinstance(result, (str, Drop))
    if isinstance(result, str):
        assert result.strip()


positive = st.floats(min_value=1e6, max_value=1e13, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(positive, st.floats(min_value=0.01, max_value=1000))
def test_effective_data_is_bounded_and_monotone(unique: float, epochs: float) -> None:
    d = f.effective_data(unique, epochs)
    assert unique * (1 - 1e-12) <= d <= unique * max(epochs, 1.0) * (1 + 1e-12)
    assert f.effective_data(unique, epochs + 1.0) >= d
    assert d <= unique * (1 + f.R_STAR_D) * (1 + 1e-12)  # repetition saturates


@settings(max_examples=200, deadline=None)
@given(positive, positive)
def test_compute_formulas_are_consistent(params: float, tokens: float) -> None:
    assert math.isclose(f.train_flops(params, tokens, recompute=True), 8 / 6 * f.train_flops(params, tokens))
    assert math.isclose(f.chinchilla_params(f.chinchilla_compute(params)), params, rel_tol=1e-9)
    assert f.kaplan_min_tokens(params) > 0
    assert f.chinchilla_tokens(params * 2) > f.chinchilla_tokens(params)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1e6, allow_nan=False), st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_verdict_bands_are_ordered(a: float, b: float) -> None:
    assume(a <= b)
    texts = [text for _, text, _ in f.VERDICTS]

    def rank(epochs: float) -> int:
        return texts.index(f.verdict(epochs)[0])

    assert rank(a) <= rank(b)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=10**15))
def test_size_parsing_round_trips_plain_numbers(n: int) -> None:
    assert f.parse_size(str(n)) == n
    assert math.isclose(f.parse_size(f.format_count(n, digits=15)), n, rel_tol=1e-12)


# ------------------------------------------------------------ words and language samples ----

@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["space", "chars"]))
def test_rule_words_are_never_separators_or_whitespace(text: str, mode: str) -> None:
    from stages import text as tx

    tokens = tx.tokens_of(text, mode)
    for word in tx.words_of(tokens):
        assert word and not tx.is_symbol_only(word) and not any(c.isspace() for c in word)
        assert word in text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000), st.integers(1, 6), st.integers(0, 400))
def test_language_sample_is_bounded_and_taken_from_the_text(text: str, windows: int,
                                                            chars: int) -> None:
    from stages.language import sample_text

    sample = sample_text(text, windows, chars)
    if not chars or len(text) <= windows * chars:
        assert sample == text
    else:
        assert len(sample) <= windows * chars + windows - 1
        assert all(part in text for part in sample.split(" ") if part)
