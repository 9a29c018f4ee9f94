"""content_safety stage: word lists scored on the extracted, normalised text.

The bypass tests run the real extraction core (stages.extract.make_core), language ID and this
stage on small synthetic pages: every spelling that hid a term from the old raw-HTML scorer is
caught, and a term that sits only in page furniture (sidebar, related links, image alt, footer,
navigation) no longer rejects a normal article."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipeline.registry import STAGE_MODULES
from stages import blocklists as bl
from stages import content_safety as cs
from stages import extract, language
from stages.record import Doc, Drop

WORDS = ("the river school teacher quietly walked along the bank and thought about the long "
         "summer days that had passed with friends and books and rain").split()


def _prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def article(inline: str = "", head: str = "", before: str = "", after: str = "") -> str:
    """A plain five-paragraph article; ``inline`` sits inside the third paragraph."""
    rng = random.Random(7)
    paragraphs = [f"<p>{_prose(rng, 50)}</p>" for _ in range(5)]
    paragraphs.insert(2, f"<p>{_prose(rng, 20)} {inline} {_prose(rng, 20)}</p>")
    return (f"<html><head><title>A walk by the river</title>{head}</head><body>{before}"
            f"<article><h1>A walk by the river</h1>{''.join(paragraphs)}</article>{after}"
            f"</body></html>")


@pytest.fixture(scope="module")
def chain():
    """extract -> language -> content_safety, the stage order of the pipeline."""
    cores = [extract.make_core(extract.Config()), language.make_core(language.Config()),
             cs.make_core(cs.Config())]

    def run(html: bytes, charset: str | None = None) -> Doc | Drop:
        result: Doc | Drop = Doc(id="page", url="https://blog.example/walk", html=html,
                                 charset=charset)
        for core in cores:
            result = core(result)
            if isinstance(result, Drop):
                return result
        return result

    return run


def test_stage_order() -> None:
    names = [name for name, _ in STAGE_MODULES]
    assert names[:5] == ["safety", "extract", "language", "content_safety", "quality"]


def test_control_page_is_kept_and_plain_term_rejected(chain) -> None:
    assert isinstance(chain(article("quietly").encode()), Doc)
    drop = chain(article("porn").encode())
    assert isinstance(drop, Drop) and drop.reason == "unsafe_words" and "en:h:porn" in drop.detail


# Every spelling class that reached `kept` with word lists scored on the raw HTML (issue 14):
# markup inside the word, invisible characters, a term placed after a large <script>, and
# lying charsets; plus fullwidth letters and a mix of all of them.
BYPASS_SPELLINGS = {
    "split by <b>": "p<b>or</b>n",
    "first letter in <b>": "<b>p</b>orn",
    "split by <a>": "p<a href='/x'>or</a>n",
    "split by a comment": "p<!-- hidden -->orn",
    "split by an empty <span>": "p<span></span>orn",
    "split by <wbr>": "p<wbr>orn",
    "zero-width space": "p\u200born",
    "zero-width space as entity": "p&#8203;orn",
    "soft hyphen": "p\u00adorn",
    "soft hyphen as entity": "p&shy;orn",
    "word joiner": "p\u2060orn",
    "fullwidth letters": "ｐｏｒｎ",
    "fullwidth as entities": "&#xFF50;&#xFF4F;&#xFF52;&#xFF4E;",
    "all at once, upper case": "<b>P</b>&#x200B;<span></span>O<!---->R&shy;Ｎ",
}


@pytest.mark.parametrize("name", sorted(BYPASS_SPELLINGS))
def test_markup_and_invisible_character_spellings_are_caught(chain, name: str) -> None:
    drop = chain(article(BYPASS_SPELLINGS[name]).encode())
    assert isinstance(drop, Drop) and drop.reason == "unsafe_words", (name, drop)


@pytest.mark.parametrize("padding", [
    "<script>" + "var counter = counter + 1;\n" * 12_000 + "</script>",  # > 300 KB
    "<style>" + "p { color: red; }\n" * 20_000 + "</style>",
    "<!--" + "x" * 320_000 + "-->",
])
def test_term_after_300kb_of_padding_is_caught(chain, padding: str) -> None:
    html = article("porn", before=padding).encode()
    assert len(html) > 300_000
    drop = chain(html)
    assert isinstance(drop, Drop) and drop.reason == "unsafe_words"


@pytest.mark.parametrize("charset", ["utf-16", "utf-32", "cp037", "utf-16-le", "utf-7"])
def test_utf8_page_served_with_a_lying_charset_is_caught(chain, charset: str) -> None:
    drop = chain(article("porn").encode("utf-8"), charset)
    assert isinstance(drop, Drop) and drop.reason == "unsafe_words", drop


@pytest.mark.parametrize("charset", ["utf-16", "utf-32", "cp037"])
def test_lying_charset_with_a_stray_byte_never_reaches_kept(chain, charset: str) -> None:
    """Not valid UTF-8 and not the declared charset either: whatever extraction makes of it,
    a page holding the term must not come out kept."""
    html = article("porn").encode("utf-8").replace(b"A walk by", b"A w\xe9lk by", 1)
    assert isinstance(chain(html, charset), Drop)


# A term only in page furniture: the raw-page scorer rejected these normal articles.
FURNITURE = {
    "sidebar teaser": dict(before="<aside class='sidebar'><h3>Most read</h3><ul>"
                                  "<li><a href='/a'>Top porn sites ranked</a></li>"
                                  "<li><a href='/b'>Another story</a></li></ul></aside>"),
    "related-post links": dict(after="<div class='related-posts'><h3>Related posts</h3><ul>"
                                     "<li><a href='/c'>Alan Cumming on stage</a></li>"
                                     "<li><a href='/d'>A walk in spring</a></li></ul></div>"),
    "image alt": dict(inline="<img src='star.jpg' alt='porn star at the awards'>"),
    "footer link list": dict(after="<footer><ul><li><a href='/e'>blowjob tips</a></li>"
                                   "<li><a href='/f'>Imprint</a></li></ul></footer>"),
    "navigation": dict(before="<nav><a href='/g'>cunnilingus</a> <a href='/'>Home</a></nav>"),
}


@pytest.mark.parametrize("name", sorted(FURNITURE))
def test_term_only_in_page_furniture_keeps_the_article(chain, name: str) -> None:
    html = article(**FURNITURE[name]).encode()
    result = chain(html)
    assert isinstance(result, Doc), (name, result)


# ----------------------------------------------------------------- the core on text

def _rules(**cfg) -> cs.WordRules:
    return cs.WordRules(cs.Config(**cfg))


def _words(text: str, lang: str | None = None, **cfg) -> Drop | None:
    return _rules(**cfg).check(text, lang)


def test_word_boundary() -> None:
    assert _words("Our class passed the assessment; Sussex is grassy.") is None
    matcher = bl.WordMatcher({"ass": {"en": "hard"}})
    assert matcher.find("class ass-kicking") == [bl.Hit("ass", "hard", "en")]
    assert matcher.find("class assay") == []


def test_hard_word_threshold_both_sides() -> None:
    text = "a normal page that mentions porn once " + "word " * 50
    assert _words(text).reason == "unsafe_words"
    assert _words(text, hard_min_count=2) is None
    assert _words(text + " porn", hard_min_count=2).reason == "unsafe_words"


def test_surname_cumming_is_soft() -> None:
    """A surname and a town name: one mention in an article keeps it (soft), a page repeating
    it densely does not."""
    prose = "The actor spoke about the new play and the theatre season in the city. " * 10
    assert _words(prose + "Alan Cumming will star in it.") is None
    assert _words("cumming " * 20).reason == "unsafe_words"


def test_multiword_terms() -> None:
    matcher = bl.WordMatcher({"blow job": {"en": "hard"}, "job": {"en": "soft"}})
    assert [h.term for h in matcher.find("a Blow\n  Job here")] == ["blow job"]  # leftmost-longest
    assert [h.term for h in matcher.find("blow jobs")] == []
    assert [h.term for h in matcher.find("a job")] == ["job"]
    assert [h.term for h in matcher.find("a blow\u00ad job")] == ["blow job"]
    assert _words("how about a blow job") is not None


def test_soft_threshold_both_sides() -> None:
    # 3 soft hits in 100 units: ratio 0.03 is not > 0.03, 0.0309 is.
    base = ["sex", "sex", "sex"] + ["word"] * 97
    assert bl.count_units(" ".join(base)) == 100
    assert _words(" ".join(base)) is None
    assert _words(" ".join(base[:-3])).reason == "unsafe_words"
    assert _words("sex sex") is None  # fewer than soft_min_count
    assert _words("sex sex", soft_min_count=2).reason == "unsafe_words"


def test_chinese_substring_match() -> None:
    drop = _words("这个网站有很多乳交视频，不要看。")
    assert drop is not None and "zh:h:乳交" in drop.detail
    # Single-character terms are not scored by default (性 in 性能, 奶 in 牛奶) ...
    assert _words("这款手机的性能和可能性都很好，我喝牛奶。") is None
    # ... unless configured.
    assert _words("性能性别性格女性", cjk_min_term_chars=1).reason == "unsafe_words"
    # 口交 sits inside 门口交通 ('traffic at the door'): it is a soft term, so one hit passes.
    assert _words("酒店门口交通很方便") is None
    # a zero-width space inside a Chinese term does not hide it
    assert _words("这个网站有很多乳\u200b交视频").reason == "unsafe_words"


def test_whole_text_is_scanned() -> None:
    """No prefix to pad past: a term after 3 MB of clean text (a text record) is found."""
    clean = "The river runs by the old school and the teacher walks home. " * 50_000
    assert len(clean) > 3_000_000
    assert _words(clean) is None
    assert _words(clean + " porn").reason == "unsafe_words"


def test_empty_and_missing_text() -> None:
    rules = _rules()
    assert rules(Doc(id="e")).id == "e"
    assert rules(Doc(id="e", text="")).id == "e"
    # html is extract's business: a record that still has only html is not scored here
    assert rules(Doc(id="e", html=b"<p>xxx</p>")).id == "e"


def test_per_language_selection() -> None:
    ja = "私は毎朝牛乳を飲みます。" + "乳交"  # a zh term inside a Japanese document
    everything = _rules()
    by_language = _rules(select="document_language")
    assert everything.check(ja, "ja").reason == "unsafe_words"
    assert by_language.lists_for("ja") == frozenset({"en"})  # no ja list shipped: en only
    assert by_language.check(ja, "ja") is None
    assert by_language.check(ja, "zh").reason == "unsafe_words"
    # English terms count on every document through `always`
    assert by_language.check("Das ist ein Text über porn", "zh").reason == "unsafe_words"
    # unknown language: every list
    assert by_language.lists_for(None) is None and by_language.lists_for("und") is None
    assert by_language.check(ja, None).reason == "unsafe_words"
    assert by_language.lists_for("zh-Hant") == frozenset({"en", "zh"})


def test_a_term_of_an_unselected_list_does_not_shadow_a_selected_one() -> None:
    matcher = bl.WordMatcher({"ab cd": {"xx": "hard"}, "cd": {"en": "hard"}})
    assert [h.term for h in matcher.find("ab cd", frozenset({"en"}))] == ["cd"]
    assert [h.term for h in matcher.find("ab cd")] == ["ab cd"]


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"content_safety.languages: no word list for \['xx'\]"):
        cs.Config(languages=["en", "xx"])
    with pytest.raises(ValueError, match=r"content_safety.always: \['de'\]"):
        cs.Config(always=["de"])
    assert cs.Config(enabled=False, languages=["xx"])  # a switched-off stage loads nothing


def test_rules_shared_per_process() -> None:
    assert cs.make_core(cs.Config()) is cs.make_core(cs.Config())
    assert cs.make_core(cs.Config()) is not cs.make_core(cs.Config(hard_min_count=2))


def test_stage_through_the_shell(tmp_path: Path) -> None:
    from tests.helpers import run_docs

    docs = [Doc(id="ok", text="A fine page about rivers.", lang="en"),
            Doc(id="words", text="buy porn here", lang="en"),
            Doc(id="hidden", text="buy p\u200bo\u00adrn here", lang="en")]
    out = run_docs(docs, [(cs.SPEC, cs.Config())], tmp_path)
    assert [row["id"] for row in out["kept"]] == ["ok"]
    assert sorted((row["id"], row["stage"], row["reason"]) for row in out["rejected"]) == [
        ("hidden", "content_safety", "unsafe_words"), ("words", "content_safety", "unsafe_words")]
