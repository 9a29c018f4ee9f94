"""stages.text: the units every rule counts (words per language, lines, paragraphs, n-grams)."""
from __future__ import annotations

import pytest

from stages import text as tx


def test_words_strip_edge_punctuation_only() -> None:
    tokens = tx.tokens_of("Hello, world! It's x.y -- | «quoted» 2019. ©")
    assert tx.words_of(tokens) == ["Hello", "world", "It's", "x.y", "quoted", "2019"]


def test_words_of_equals_full_strip() -> None:
    tokens = "a.. ..b «c» (d) e—f —g— ¿h? ＃i＃ 。j。 ".split()
    expected = [t.strip(tx.PUNCT) for t in tokens if t.strip(tx.PUNCT)]
    assert tx.words_of(tokens) == expected


def test_split_on_unicode_whitespace_and_controls() -> None:
    assert tx.tokens_of("a\u3000b\u00a0c\x1fd\te") == ["a", "b", "c", "d", "e"]


def test_chars_mode_keeps_latin_runs() -> None:
    assert tx.tokens_of("我们在北京 hello world。123", "chars") == [
        "我", "们", "在", "北", "京", "hello", "world", "。", "123"]


def test_jieba_mode_segments_chinese() -> None:
    words = tx.words_of(tx.tokens_of("我们在北京大学学习。", "jieba"))
    assert "。" not in words
    assert "我们" in words and len(words) < 8


def test_word_mode_routing() -> None:
    seg = tx.Segmentation()
    assert tx.word_mode("zh", seg) == "jieba"
    assert tx.word_mode("ja", seg) == "chars"
    assert tx.word_mode("en", seg) == "space"
    assert tx.word_mode(None, seg) == "space"
    assert tx.word_mode("zh", tx.Segmentation(unspaced={"zh": "chars"})) == "chars"


def test_lines_and_paragraphs() -> None:
    lines, paras = tx.lines_and_paragraphs("a\n  b  \n\n\n c\r\nd\n \n")
    assert lines == ["a", "b", "c", "d"]
    assert paras == ["a\nb", "c\nd"]


def test_lines_of_empty_text() -> None:
    assert tx.lines_and_paragraphs("") == ([], [])
    assert tx.lines_and_paragraphs("\n \n\t") == ([], [])


def test_alpha_tokens() -> None:
    assert tx.count_alpha_tokens(["abc", "12", "a1", "--", "中文", "שלום", "٣"]) == 4


def test_distinct_stop_words_case_insensitive() -> None:
    assert tx.distinct_stop_words(["The", "the", "THE"], tx.STOP_WORDS["en"]) == 1
    assert tx.distinct_stop_words(["The", "of", "cat"], tx.STOP_WORDS["en"]) == 2
    assert tx.distinct_stop_words([], tx.STOP_WORDS["en"]) == 0


@pytest.mark.parametrize("lang,expected", [("en", "default"), (None, "default"), ("zh", "zh"),
                                           ("de", None)])
def test_rule_set_routing(lang: str | None, expected: str | None) -> None:
    assert tx.rule_set_for(lang, ["en"], "skip", {"zh": "zh"}, "default") == expected


def test_rule_set_apply_default() -> None:
    assert tx.rule_set_for("de", ["en"], "apply_default", {}, "default") == "default"


def test_stop_words_for() -> None:
    assert tx.stop_words_for("zh", None) == tx.STOP_WORDS["zh"]
    assert tx.stop_words_for("de", None) == ()
    assert tx.stop_words_for(None, None) == tx.STOP_WORDS["en"]
    assert tx.stop_words_for("de", ["der", "die"]) == ("der", "die")
