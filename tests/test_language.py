"""language: py3langid labels, keep list, score threshold, empty text."""
from __future__ import annotations

import pytest

from stages.language import Config, identify, language_doc, load_classifier, make_core
from stages.record import Doc, Drop

EN = ("The committee met on Tuesday to discuss the budget for the coming year, and most members "
      "agreed that the new plan was better than the old one.")
ZH = "国家统计局今天发布数据显示，今年前三季度国内生产总值同比增长，经济运行总体平稳。"
DE = "Die Bundesregierung hat am Dienstag einen neuen Haushaltsplan für das kommende Jahr vorgelegt."
AR = "أعلنت الحكومة اليوم عن خطة جديدة لدعم التعليم والصحة في جميع أنحاء البلاد."


@pytest.fixture(scope="module")
def classify():
    return load_classifier()


@pytest.mark.parametrize("text,lang", [(EN, "en"), (ZH, "zh"), (DE, "de"), (AR, "ar")])
def test_identify(classify, text: str, lang: str) -> None:
    got, score = identify(text, classify)
    assert got == lang and 0.5 < score <= 1.0


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


def test_max_chars_limits_sample() -> None:
    seen = []

    def fake(text: str) -> tuple[str, float]:
        seen.append(text)
        return "en", 1.0

    identify("a" * 5000, fake, max_chars=100)
    identify("b" * 5000, fake, max_chars=0)
    assert len(seen[0]) == 100 and len(seen[1]) == 5000


def test_controls_and_nul_do_not_crash(classify) -> None:
    lang, score = identify("\x00\x01 hello \u202e world \x00", classify)
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
