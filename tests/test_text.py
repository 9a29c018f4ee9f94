"""stages.text / stages.languages: the units every rule counts (words per language family,
lines, paragraphs, stop words) and the language concepts (codes, scripts, segmenters)."""
from __future__ import annotations

import pytest

from stages import languages
from stages import text as tx


def test_words_strip_edge_punctuation_only() -> None:
    tokens = tx.tokens_of("Hello, world! It's x.y -- | «quoted» 2019. ©")
    assert tx.words_of(tokens) == ["Hello", "world", "It's", "x.y", "quoted", "2019"]


def test_words_of_equals_full_strip() -> None:
    tokens = "a.. ..b «c» (d) e—f —g— ¿h? ＃i＃ 。j。 ".split()
    expected = [t.strip(tx.PUNCT) for t in tokens if t.strip(tx.PUNCT)]
    assert tx.words_of(tokens) == expected


def test_separators_and_markup_are_not_words() -> None:
    """Table cells as trafilatura renders them, bullets, breadcrumbs: no separator is a word."""
    line = "| Name | Population | Area km² |\n- item » next → last • dot ¦ — –"
    assert tx.words_of(tx.tokens_of(line)) == ["Name", "Population", "Area", "km²", "item",
                                               "next", "last", "dot"]
    assert tx.is_symbol_only("|") and tx.is_symbol_only("»→") and not tx.is_symbol_only("a|")


def test_split_on_unicode_whitespace_and_controls() -> None:
    assert tx.tokens_of("a\u3000b\u00a0c\x1fd\te") == ["a", "b", "c", "d", "e"]


# ------------------------------------------------------------- one test per family --------

def test_words_spaced_latin() -> None:
    text = "Die Straße (B 27) ist gesperrt, sagte er: „Bis Montag!“ — l'été, co-op."
    assert tx.words_of(tx.tokens_of(text, tx.Segmentation().mode("de"))) == [
        "Die", "Straße", "B", "27", "ist", "gesperrt", "sagte", "er", "Bis", "Montag", "l'été",
        "co-op"]


def test_words_cyrillic() -> None:
    text = "Привет, мир! «Москва» — столица; ёлка-палка 2024 г."
    assert tx.words_of(tx.tokens_of(text, tx.Segmentation().mode("ru"))) == [
        "Привет", "мир", "Москва", "столица", "ёлка-палка", "2024", "г"]


def test_words_arabic_script() -> None:
    text = "قال الوزير، إن الخطة «جديدة» (٢٠٢٤)؛ وأضاف: نعم."
    assert tx.words_of(tx.tokens_of(text, tx.Segmentation().mode("ar"))) == [
        "قال", "الوزير", "إن", "الخطة", "جديدة", "٢٠٢٤", "وأضاف", "نعم"]
    assert tx.count_alpha_words(["قال", "٢٠٢٤"]) == 1  # Arabic-Indic digits are no letters


def test_words_chinese_jieba() -> None:
    words = tx.words_of(tx.tokens_of("我们在北京大学学习。", tx.Segmentation().mode("zh")))
    assert "。" not in words
    assert "我们" in words and len(words) < 8


def test_words_japanese_sudachi() -> None:
    assert tx.Segmentation().mode("ja") == "sudachi"
    assert tx.words_of(tx.tokens_of("吾輩は猫である。名前はまだ無い。", "sudachi")) == [
        "吾輩", "は", "猫", "で", "ある", "名前", "は", "まだ", "無い"]


def test_words_korean_kiwi() -> None:
    assert tx.Segmentation().mode("ko") == "kiwi"
    words = tx.words_of(tx.tokens_of("학교에서 공부했다.", "kiwi"))
    assert words[:2] == ["학교", "에서"]  # the particle is its own word (FineWeb-2's stop word)
    assert tx.tokens_of("학교에서 공부했다.", "space") == ["학교에서", "공부했다."]


def test_words_thai_pythainlp() -> None:
    assert tx.Segmentation().mode("th") == "pythainlp"
    assert tx.words_of(tx.tokens_of("ฉันรักภาษาไทย และ แมว", "pythainlp")) == [
        "ฉัน", "รัก", "ภาษาไทย", "และ", "แมว"]


def test_chars_mode_keeps_latin_runs() -> None:
    assert tx.tokens_of("我们在北京 hello world。123", "chars") == [
        "我", "们", "在", "北", "京", "hello", "world", "。", "123"]
    # other unspaced scripts without a segmenter: one token per character of the script
    assert tx.tokens_of("ລາວ ok", "chars") == ["ລ", "າ", "ວ", "ok"]


def test_segmenter_routing() -> None:
    seg = tx.Segmentation()
    assert [seg.mode(lang) for lang in ("zh", "ja", "th", "ko", "my", "en", "de", None)] == [
        "jieba", "sudachi", "pythainlp", "kiwi", "chars", "space", "space", "space"]
    assert tx.Segmentation(segmenters={"zh": "chars"}).mode("zh") == "chars"


def test_sudachi_long_input_is_chunked() -> None:
    text = "吾輩は猫である。\n" * 5000  # 45,000 characters, > SudachiPy's input limit
    assert len(tx.tokens_of(text, "sudachi")) == 5 * 5000 + 2 * 5000 - 5000  # 吾輩 は 猫 で ある 。


def test_lines_and_paragraphs() -> None:
    lines, paras = tx.lines_and_paragraphs("a\n  b  \n\n\n c\r\nd\n \n")
    assert lines == ["a", "b", "c", "d"]
    assert paras == ["a\nb", "c\nd"]


def test_lines_of_empty_text() -> None:
    assert tx.lines_and_paragraphs("") == ([], [])
    assert tx.lines_and_paragraphs("\n \n\t") == ([], [])


def test_alpha_words() -> None:
    assert tx.count_alpha_words(["abc", "12", "a1", "中文", "שלום", "٣", "हिन्दी"]) == 5


def test_distinct_stop_words_case_insensitive() -> None:
    assert tx.distinct_stop_words(["The", "the", "THE"], tx.STOP_WORDS["en"]) == 1
    assert tx.distinct_stop_words(["The", "of", "cat"], tx.STOP_WORDS["en"]) == 2
    assert tx.distinct_stop_words([], tx.STOP_WORDS["en"]) == 0


def test_punctuation_stop_words_count_when_in_text() -> None:
    """FineWeb-2 lists hold punctuation ("،", "・"), which is never one of our words."""
    stop = ["في", "من", "،"]
    assert tx.distinct_stop_words(["في", "قال"], stop, "قال في البيت") == 1
    assert tx.distinct_stop_words(["في", "قال"], stop, "قال، في البيت") == 2


def test_stop_words_for() -> None:
    assert tx.stop_words_for("zh", None) == tx.STOP_WORDS["zh"]
    assert tx.stop_words_for("de", None) == ()
    assert tx.stop_words_for(None, None) == tx.STOP_WORDS["en"]
    assert tx.stop_words_for("de", ["der", "die"]) == ("der", "die")


# ------------------------------------------------------------------- languages ------------

@pytest.mark.parametrize("tag,code", [
    ("deu_Latn", "de"), ("nob_Latn", "no"), ("cmn_Hani", "zh"), ("arb_Arab", "ar"),
    ("fas_Arab", "fa"), ("jpn_Jpan", "ja"), ("kor_Hang", "ko"), ("tha_Thai", "th"), ("en", "en"),
    ("zsm", "ms"), ("ekk_Latn", "et"), ("tgl_Latn", "tl"), ("wuu", "zh"), ("yue_Hani", "zh")])
def test_code_of(tag: str, code: str) -> None:
    assert languages.code_of(tag) == code


def test_code_of_rejects_non_tags() -> None:
    with pytest.raises(ValueError):
        languages.code_of("not a tag!")


def test_unspaced_concepts_are_consistent() -> None:
    assert languages.UNSPACED_LANGUAGES <= languages.CHAR_SHINGLE_LANGUAGES
    assert "ko" in languages.CHAR_SHINGLE_LANGUAGES and "ko" not in languages.UNSPACED_LANGUAGES
    for lang in languages.UNSPACED_LANGUAGES:
        assert languages.segmenter_for(lang) != "space"
    assert languages.UNSPACED_SCRIPT_RE.search("ภาษา") and languages.UNSPACED_SCRIPT_RE.search("漢")
    assert not languages.UNSPACED_SCRIPT_RE.search("한국어 abc")
    assert languages.SUBSTRING_MATCH_RE.search("한국어")


def test_other_stages_share_the_language_concepts() -> None:
    from stages import blocklists, dedup, tokenize

    assert set(tokenize.Config().unspaced_langs) == languages.UNSPACED_LANGUAGES
    assert set(dedup.Config().char_shingle_langs) == languages.CHAR_SHINGLE_LANGUAGES
    assert blocklists.is_unspaced("ศพ") and blocklists.is_unspaced("성") \
        and not blocklists.is_unspaced("word")
