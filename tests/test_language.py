"""language: fastText / py3langid labels, windows over the document, keep list, score threshold,
empty text."""
from __future__ import annotations

import pytest

from stages import quality
from stages.language import (Config, identify, language_doc, load_classifier, load_fasttext,
                             make_core, sample_text)
from stages.record import Doc, Drop

EN = ("The committee met on Tuesday to discuss the budget for the coming year, and most members "
      "agreed that the new plan was better than the old one.")
ZH = "国家统计局今天发布数据显示，今年前三季度国内生产总值同比增长，经济运行总体平稳。"
DE = "Die Bundesregierung hat am Dienstag einen neuen Haushaltsplan für das kommende Jahr vorgelegt."
AR = "أعلنت الحكومة اليوم عن خطة جديدة لدعم التعليم والصحة في جميع أنحاء البلاد."


@pytest.fixture(scope="module", params=["fasttext", "py3langid"])
def classify(request):
    return load_fasttext() if request.param == "fasttext" else load_classifier()


@pytest.mark.parametrize("text,lang", [(EN, "en"), (ZH, "zh"), (DE, "de"), (AR, "ar")])
def test_identify(classify, text: str, lang: str) -> None:
    got, score = identify(text, classify)
    assert got == lang and 0.5 < score <= 1.0


def test_default_identifier_is_fasttext() -> None:
    assert Config().identifier == "fasttext"
    doc = Doc(id="d", text=DE)
    assert make_core(Config())(doc) is doc and doc.lang == "de"
    doc = Doc(id="p", text=DE)
    assert make_core(Config(identifier="py3langid"))(doc) is doc and doc.lang == "de"


def test_keep_list(classify) -> None:
    config = Config(keep=["en", "zh"])
    doc = Doc(id="d", text=DE)
    result = language_doc(doc, config, classify)
    assert isinstance(result, Drop) and result.reason == "language_not_kept"
    assert doc.lang == "de"  # the audit copy keeps the label
    kept = Doc(id="z", text=ZH)
    assert language_doc(kept, config, classify) is kept and kept.lang == "zh"


def test_keep_all(classify) -> None:
    doc = Doc(id="d", text=DE)
    assert language_doc(doc, Config(keep="all"), classify) is doc


def test_low_score(classify) -> None:
    doc = Doc(id="m", text="ok 123 xyz")
    result = language_doc(doc, Config(min_score=0.99), classify)
    assert isinstance(result, Drop) and result.reason == "language_low_score"
    per_lang = Config(min_score=0.0, min_score_by_lang={"en": 1.0})
    assert language_doc(Doc(id="e", text=EN), per_lang, classify).reason == "language_low_score"


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text(classify, text: str) -> None:
    result = language_doc(Doc(id="e", text=text), Config(), classify)
    assert isinstance(result, Drop) and result.reason == "language_no_text"
    doc = Doc(id="e", text=text)
    assert language_doc(doc, Config(reject_no_text=False), classify) is doc and doc.lang == "und"


def test_windows_spread_over_the_text() -> None:
    seen = []

    def fake(text: str) -> tuple[str, float]:
        seen.append(text)
        return "en", 1.0

    text = " ".join(f"w{i:04d}" for i in range(2000))  # 12,000 characters
    identify(text, fake, windows=3, window_chars=300)
    identify(text, fake, windows=3, window_chars=0)
    identify("short text", fake, windows=3, window_chars=300)
    sample = seen[0].split()
    # three stretches, cut at spaces (whole words only), from start, middle and end
    assert all(len(w) == 5 and w.startswith("w") for w in sample)
    firsts = [int(w[1:]) for w in sample]
    # centres at 1/6, 1/2 and 5/6 of the text: words ~333, ~1000, ~1667
    assert 280 < firsts[0] < 340 and 950 < firsts[len(firsts) // 2] < 1050 and firsts[-1] > 1650
    assert 3 * 240 < len(seen[0]) <= 3 * 300 + 2
    assert seen[1] == text and seen[2] == "short text"


def test_sample_text_short_and_exact() -> None:
    assert sample_text("abc", 3, 300) == "abc"
    assert sample_text("x" * 900, 3, 300) == "x" * 900
    long = "y" * 1000  # no spaces: windows are cut mid-run
    assert sample_text(long, 2, 100) == "y" * 100 + " " + "y" * 100


# A page whose opening is boilerplate in another language than its body (issue 16): English
# PHP warnings over a German article. The first 2,000 characters are English.
PHP_WARNINGS = (
    "Warning: Cannot modify header information - headers already sent by (output started at "
    "/var/www/html/wp-content/themes/site/functions.php:12) in /var/www/html/wp-includes/"
    "pluggable.php on line 1219\n"
    "Deprecated: Function create_function() is deprecated in /var/www/html/wp-content/plugins/"
    "gallery/gallery.php on line 45\n"
    "Notice: Undefined index: page in /var/www/html/index.php on line 8\n")
GERMAN_BODY = (
    "Die Gemeinde plant im kommenden Frühjahr den Umbau des alten Bahnhofs zu einem "
    "Kulturzentrum. Nach Angaben des Bürgermeisters sollen dort Räume für Vereine, eine "
    "Bibliothek und ein kleines Café entstehen. Die Kosten werden auf rund zwei Millionen Euro "
    "geschätzt, wovon das Land etwa die Hälfte übernimmt. Viele Anwohner begrüßen das Vorhaben, "
    "weil das Gebäude seit Jahren leer steht und langsam verfällt. Kritiker bemängeln dagegen, "
    "dass der Gemeinderat die Bürger zu spät über die Pläne informiert habe. In einer "
    "Versammlung am Donnerstagabend konnten alle Interessierten ihre Fragen an die Verwaltung "
    "richten. Der Architekt erklärte, dass die historische Fassade erhalten bleibt und nur der "
    "Innenraum neu gestaltet wird. Mit dem Beginn der Bauarbeiten wird im Herbst gerechnet.\n\n")


def test_boilerplate_opening_in_another_language_does_not_decide() -> None:
    page = PHP_WARNINGS * 6 + GERMAN_BODY * 5
    assert len(page) > 6000
    assert identify(page[:2000], load_fasttext())[0] == "en"  # what the opening says
    doc = Doc(id="php", text=page)
    assert make_core(Config())(doc) is doc and doc.lang == "de"
    # ... so the German rules judge it, and it passes them (the English stop-word rule would not)
    assert quality.quality_doc(doc, quality.Config()) is doc
    assert doc.meta["rule_sets"]["quality"] == "fineweb2/deu_Latn"
    english = quality.evaluate(page, "en", quality.Config())
    assert english is not None and "gopher_stop_words" in [d.reason for d in english[1]]


def test_controls_nul_and_surrogates_do_not_crash(classify) -> None:
    for text in ("\x00\x01 hello \u202e world \x00", "lone \ud800 surrogate\nand a newline"):
        lang, score = identify(text, classify)
        assert isinstance(lang, str) and 0.0 <= score <= 1.0


def test_make_core() -> None:
    core = make_core(Config(keep=["en"]))
    assert core(Doc(id="x", text=EN)).lang == "en"


def test_aliases_merge_chinese_variants() -> None:
    doc = Doc(id="w", text="x")
    result = language_doc(doc, Config(keep=["zh"]), lambda text: ("wuu", 0.9))
    assert result is doc and doc.lang == "zh" and doc.meta["lang_raw"] == "wuu"
    plain = Doc(id="v", text="x")
    assert isinstance(language_doc(plain, Config(keep=["zh"], aliases={}),
                                   lambda text: ("wuu", 0.9)), Drop)
