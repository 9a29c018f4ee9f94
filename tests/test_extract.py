"""extract stage: bullets, marker, headings, boilerplate, limits, charsets, hostile pages, eval."""
from __future__ import annotations

import codecs
import re
import time

import pytest

from stages import extract as ex
from stages.extract import Config, Drop, bulletize, decode_html, extract_doc, extract_or_drop, extract_text
from stages.record import Doc
from tests.conftest import shared_path

FILLER = "".join(f"<p>{'The river school teacher walked along the bank and thought about summer. ' * 6}</p>"
                 for _ in range(3))
CFG = Config(timeout_mode="off")


def page(body: str, head: str = "") -> bytes:
    return f"<html><head><title>t</title>{head}</head><body><article>{FILLER}{body}</article></body></html>".encode()


def lines_of(html: bytes, config: Config = CFG) -> list[str]:
    text = extract_text(html, None, config)
    assert text is not None
    return text.split("\n")


def test_simple_and_nested_list_items_are_bullet_lines() -> None:
    lines = lines_of(page("<ul><li>alpha fruit</li><li>beta fruit<ul><li>gamma inner</li>"
                          "<li>delta inner</li></ul></li><li>epsilon last</li></ul>"))
    for item in ("alpha fruit", "beta fruit", "gamma inner", "delta inner", "epsilon last"):
        assert f"- {item}" in lines


def test_list_inside_table_cell_becomes_bullets() -> None:
    body = ("<table><tr><th>Plan</th><th>Includes</th></tr><tr><td>Basic</td><td><ul>"
            "<li>first cell item</li><li>second cell item</li></ul></td></tr></table>")
    lines = lines_of(page(body))
    assert "- first cell item" in lines and "- second cell item" in lines


def test_li_containing_paragraphs_and_br_is_one_bullet_line() -> None:
    body = ("<ol><li><p>Preheat the oven to 180 degrees.</p></li>"
            "<li><div><div>Mix the flour<br>and the sugar well.</div></div></li></ol>")
    lines = lines_of(page(body))
    assert "- Preheat the oven to 180 degrees." in lines
    assert "- Mix the flour and the sugar well." in lines


def test_marker_is_configurable_and_every_item_line_uses_it() -> None:
    config = Config(timeout_mode="off", bullet="• ")
    lines = lines_of(page("<ul><li>one thing</li><li>two things<ul><li>sub thing</li></ul></li></ul>"), config)
    assert {"• one thing", "• two things", "• sub thing"} <= set(lines)
    assert not any(line.lstrip().startswith("- ") for line in lines)
    assert all(line.strip() not in ("•", "-", "") for line in lines)  # no stray marker lines


def test_marker_only_lines_are_dropped() -> None:
    assert ex.normalise_markers("a\n- \n  - b\n-", "• ") == "a\n• b"


def test_headings_and_paragraphs_on_separate_lines() -> None:
    lines = lines_of(page("<h2>Section Heading Here</h2><p>Paragraph after the heading.</p>"))
    assert "Section Heading Here" in lines
    assert "Paragraph after the heading." in lines


def test_boilerplate_removed() -> None:
    html = (b"<html><body><nav><ul><li><a href='/'>Home</a></li><li><a href='/a'>About us</a></li></ul></nav>"
            b"<div id='cookie-banner'>We use cookies to improve your experience. Accept all cookies</div>"
            b"<article>" + FILLER.encode() + b"</article><div class='share'>Share on Facebook</div>"
            b"<footer>Copyright 2024 Example Corp. All rights reserved.</footer></body></html>")
    text = extract_text(html, None, CFG)
    assert text and "river school teacher" in text
    for junk in ("About us", "We use cookies", "Share on Facebook", "All rights reserved"):
        assert junk not in text


def test_sentinel_in_page_cannot_fake_a_bullet() -> None:
    text = extract_text(page(f"<p>odd {ex.SENTINEL}symbol in prose</p>"), None, CFG)
    assert text and "odd symbol in prose" in text and ex.SENTINEL not in text


def test_bulletize_splits_merged_items_and_drops_cell_pipes() -> None:
    s = ex.SENTINEL
    assert bulletize(f"intro {s}a one | {s}b two |", "* ") == "intro\n* a one\n* b two"
    assert bulletize(f"- {s}{s}x", "- ") == "- x"
    assert bulletize(f"• {s}x", "• ") == "• x"  # an already normalised marker is not kept as text


def test_html_too_large_is_rejected_before_parsing() -> None:
    config = Config(timeout_mode="off", max_html_bytes=1000)
    result = extract_doc(Doc(id="big", html=page("<p>x</p>" * 500)), config)
    assert isinstance(result, Drop) and result.reason == "html_too_large"


def test_text_too_large() -> None:
    config = Config(timeout_mode="off", max_text_chars=100)
    result = extract_or_drop(page(""), None, config)
    assert isinstance(result, Drop) and result.reason == "text_too_large"


def test_too_many_nodes() -> None:
    config = Config(timeout_mode="off", max_nodes=50)
    result = extract_or_drop(page("<span>a</span>" * 100), None, config)
    assert isinstance(result, Drop) and result.reason == "too_many_nodes"


def test_empty_and_script_only_pages() -> None:
    for html in (b"", b"<html><body></body></html>",
                 b"<html><body><script>" + b"var a=1;" * 5000 + b"</script></body></html>"):
        result = extract_doc(Doc(id="e", html=html), CFG)
        assert isinstance(result, Drop) and result.reason == "empty_extraction"


@pytest.mark.parametrize("engine", ["trafilatura", "resiliparse"])
def test_deep_nesting_and_entity_bomb_are_bounded(engine: str) -> None:
    if engine == "resiliparse":
        pytest.importorskip("resiliparse")
    config = Config(timeout_mode="off", engine=engine)
    deep = b"<html><body>" + b"<div>" * 100_000 + b"<p>deep</p>" + b"</div>" * 100_000 + b"</body></html>"
    assert isinstance(extract_or_drop(deep, None, config), (str, Drop))  # nesting capped at 256
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;'
            b'&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;'
            b'&c;&c;&c;"><!ENTITY e SYSTEM "file:///etc/passwd">]><html><body><p>&d;&d;&d; &e;</p>'
            + FILLER.encode() + b"</body></html>")
    result = extract_or_drop(bomb, None, config)
    assert isinstance(result, str) and "aaaaaaaaaa" not in result and "root:" not in result


def test_timeout_kills_and_restarts_the_watchdog_child() -> None:
    from stages.watchdog import _FRAME

    extractor = ex.TimedExtractor(Config(timeout_seconds=0.5, timeout_mode="process"))
    try:
        ok = extractor(page("<p>fine page</p>"), None)
        assert isinstance(ok, str) and "fine page" in ok
        first = extractor.limited.watchdog._proc
        # make the child hang: it reads the frame header and waits forever for the body
        first.stdin.write(_FRAME.pack(10**6))
        first.stdin.flush()
        slow = extractor(b"", None)
        assert isinstance(slow, Drop) and slow.reason == "extract_timeout"
        assert first.poll() is not None  # killed
        again = extractor(page("<p>after restart</p>"), None)
        assert isinstance(again, str) and "after restart" in again
    finally:
        extractor.stop()


def test_a_child_that_dies_mid_page_is_extract_crashed() -> None:
    from stages.watchdog import TimeLimited
    from tests.test_watchdog import exit_process

    extractor = ex.TimedExtractor(Config(timeout_mode="process"))
    extractor.limited = TimeLimited(exit_process, 30, "process")
    try:
        result = extractor(page("<p>any page</p>"), None)
        assert isinstance(result, Drop) and result.reason == "extract_crashed"
    finally:
        extractor.stop()


def test_signal_timeout_interrupts_a_slow_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(html: bytes, charset: str | None, config: Config) -> str:
        deadline = time.perf_counter() + 5
        while time.perf_counter() < deadline:  # CPU-bound Python, like a pathological regex
            pass
        return "never"

    monkeypatch.setattr(ex, "extract_or_drop", slow)
    core = ex.make_core(Config(timeout_seconds=0.2, timeout_mode="signal"))
    result = core(Doc(id="s", html=page("")))  # "never" if it ran to the end
    assert isinstance(result, Drop) and result.reason == "extract_timeout"


def test_auto_mode_uses_the_watchdog_off_the_main_thread() -> None:
    import threading

    extractor = ex.TimedExtractor(Config(timeout_mode="auto"))
    modes: list[str] = []
    worker = threading.Thread(target=lambda: modes.append(extractor.mode()))
    worker.start()
    worker.join()
    assert extractor.mode() == "signal" and modes == ["process"]


def test_charset_precedence() -> None:
    text = "Grüße aus Köln"
    latin = f"<html><head><meta charset='iso-8859-1'></head><body>{text}</body></html>".encode("latin-1")
    assert text in decode_html(latin, None)           # meta charset
    assert text in decode_html(latin, "latin-1")      # HTTP header
    assert text in decode_html(text.encode("utf-8"), "latin-1")  # wrong label, valid UTF-8 wins
    assert text in decode_html(text.encode("cp1252") + " ".join(["wörter"] * 50).encode("cp1252"), None)


def test_unlabelled_single_byte_pages_pick_the_right_code_page() -> None:
    french = "<p>" + "Café crème à la façon de Noël, déjà vu. " * 20 + "</p>"
    polish = "<p>" + "Zażółć gęślą jaźń. Ile jest warta godzina pracy? W tych krajach praca popłaca. " * 5
    russian = "<p>" + "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 5
    # declared UTF-8 but latin-1 bytes (the hostile corpus case): charset_normalizer alone says cp1257
    assert "Café crème à la façon de Noël" in decode_html(french.encode("latin-1"), "utf-8")
    assert "Zażółć gęślą jaźń" in decode_html(polish.encode("cp1250"), None)
    assert "мягких французских булок" in decode_html(russian.encode("cp1251"), None)


def test_euc_jp_warc_page_decodes_to_japanese() -> None:
    from warcio.archiveiterator import ArchiveIterator

    path = shared_path("warc", "resiliparse_clueweb-quirk.warc.gz")
    texts = []
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type != "response":
                continue
            body = record.content_stream().read()
            for charset in ("euc-jp", None):  # with the HTTP charset, and sniffed from the page
                result = extract_or_drop(body, charset, CFG)
                if isinstance(result, str):
                    texts.append(result)
            if texts:
                break
    assert texts, "no extractable response record"
    assert len(texts) == 2  # decoded via the HTTP charset and via <meta charset> alike
    # no label anywhere: charset detection (charset_normalizer, ~50 ms on this 31 kB page)
    unlabelled = re.sub(rb"charset\s*=\s*[\"']?[A-Za-z0-9_-]+", b"", body)
    assert ex.sniff_meta_charset(unlabelled) is None
    assert "人気ランキング" in decode_html(unlabelled, None)
    for text in texts:
        assert "人気ランキング" in text and "パンチングレザー" in text  # "popularity ranking", "punched leather"
        assert "\ufffd" not in text


def test_eval_on_real_pages_beats_defaults() -> None:
    shared_path("html_extraction_eval", "manifest.jsonl")
    from tools.extraction_eval import defaults_extractor, evaluate, load_pages, ours_extractor

    pages = load_pages(limit=60)
    ours = evaluate("ours", ours_extractor(), pages, repeats=1)
    base = evaluate("defaults", defaults_extractor(), pages, repeats=1)
    assert ours.found >= base.found
    assert ours.absent >= base.absent
    # measured on these 60 pages: ours 29/35 (li-only 24/26), defaults 22/35 (17/26); the issue's
    # 0.95 target is NOT reached on all pages (docs/extract.md), this pins the gain against regressions
    assert ours.bullets / ours.li_expected >= 0.80 > base.bullets / base.li_expected
    assert ours.bullets_unambiguous / ours.li_unambiguous >= 0.90


# ---------------------------------------------------------------- issue 16: bullets -----------

def test_item_text_after_a_newline_and_indentation_keeps_its_bullet() -> None:
    # <li>\n\t\tText: trafilatura keeps the newline, so a marker put before the whitespace ended
    # up alone on its line and the item text lost its bullet (trafilatura's own "- " too)
    body = ("<ul>\n\t<li>\n\t\tOuter item text\n\t\t<ul>\n\t\t\t<li>\n\t\t\t\tInner item text</li>\n\t\t</ul>\n"
            "\t</li>\n\t<li><code>\n\t\trun --fast</code></li>\n</ul><p>Paragraph after the list.</p>")
    lines = lines_of(page(body))
    assert {"- Outer item text", "- Inner item text", "- run --fast"} <= set(lines)
    assert "Paragraph after the list." in lines
    assert all(line.strip() for line in lines)  # no whitespace-only lines from the page's layout


def test_items_without_visible_text_leave_the_next_paragraph_alone() -> None:
    body = ("<ul class='icons'><li><a href='/f'><img src='f.png' alt='f'></a></li><li>\u200b</li>"
            "<li><a href='/t'> </a></li></ul><p>Paragraph right after the icon-only items.</p>")
    lines = lines_of(page(body))
    assert "Paragraph right after the icon-only items." in lines


def test_bulletize_joins_a_marker_only_line_with_its_text() -> None:
    s = ex.SENTINEL
    assert bulletize(f"intro\n- {s}\n\t\tItem text\n{s}next item", "- ") == "intro\n- Item text\n- next item"
    assert bulletize(f"{s}\n{s}second", "• ") == "• second"  # an empty item is dropped, not joined
    assert bulletize(f"a {s}\n\t\t\n• already an item", "• ") == "a\n• already an item"


def test_trafilatura_marker_alone_on_its_line_is_joined_with_its_text() -> None:
    raw = "Intro line\n- \n\t\tItem whose text starts on a new line\n\t\t\n  - Nested item\nAfter"
    assert bulletize(ex.normalise_markers(raw, "• "), "• ") == (
        "Intro line\n• Item whose text starts on a new line\n• Nested item\nAfter")


# ---------------------------------------------------------------- issue 16: charsets ----------

GERMAN = ("Das Wetter ist heute so schön, die Straße ist voller Menschen, und große Bäume werfen "
          "lange Schatten auf den Platz vor dem Rathaus. ")


def german_page(encoding: str, meta: str | None = None, stray: bytes = b"") -> bytes:
    """A German page in ``encoding`` with ``stray`` bytes of another encoding in an image alt."""
    head = f"<meta charset='{meta}'>" if meta else ""
    html = (f"<html><head>{head}<title>Wetter</title></head><body><article><h1>Ein Tag</h1>"
            f"<p>{GERMAN * 6}</p><img src='a.png' alt='STRAY'><p>{GERMAN * 3}</p></article></body></html>")
    return html.encode(encoding).replace(b"STRAY", stray)


LATIN1_STRAY = "schöne Grüße".encode("latin-1")  # 3 bytes that are not UTF-8
UTF8_STRAY = "Café crème".encode("utf-8")  # 2 UTF-8 sequences


@pytest.mark.parametrize("http, meta", [("utf-8", None), (None, "utf-8"), (None, None),
                                        ("iso-8859-1", None), (None, "windows-1252")])
def test_mostly_utf8_page_with_stray_latin1_bytes_stays_utf8(http: str | None, meta: str | None) -> None:
    html = german_page("utf-8", meta, LATIN1_STRAY)
    text = decode_html(html, http)
    assert "so schön, die Straße ist voller Menschen, und große Bäume" in text
    assert "Ã" not in text and text.count("\ufffd") == 3  # the stray bytes, nothing else
    extracted = extract_text(html, http, CFG)
    assert extracted and "so schön" in extracted and "Ã" not in extracted


@pytest.mark.parametrize("http, meta", [("windows-1252", None), (None, "iso-8859-1"), (None, None)])
def test_mostly_cp1252_page_with_stray_utf8_stays_cp1252(http: str | None, meta: str | None) -> None:
    html = german_page("cp1252", meta, UTF8_STRAY)
    text = decode_html(html, http)
    assert "so schön, die Straße ist voller Menschen, und große Bäume" in text
    assert "CafÃ© crÃ¨me" in text  # only the stray sequences read as cp1252


def test_iso_8859_1_label_means_windows_1252() -> None:
    # browsers (WHATWG) read latin-1 labels as windows-1252: 0x84/0x93 are „ and “, not controls
    title = "<h1>„Ein Tag“ – am See</h1>"
    html = german_page("cp1252", "iso-8859-1").replace(b"<h1>Ein Tag</h1>", title.encode("cp1252"))
    for http in (None, "ISO-8859-1", "latin-1"):
        assert title in decode_html(html, http)


@pytest.mark.parametrize("label", ["utf-16", "utf-32", "cp037"])
@pytest.mark.parametrize("stray", [b"", LATIN1_STRAY])
def test_utf8_page_served_with_a_lying_charset_decodes_to_the_real_text(label: str, stray: bytes) -> None:
    html = german_page("utf-8", None, stray)
    for http, meta_page in ((label, html), (None, html.replace(b"<head>", f"<head><meta charset='{label}'>".encode()))):
        for padded in (meta_page, meta_page + b" "):  # odd and even lengths (UTF-16 decodes pairs)
            text = decode_html(padded, http)
            assert "so schön, die Straße ist voller Menschen" in text, (label, http)


@pytest.mark.parametrize("label", ["utf-16", "cp037"])
def test_ascii_page_with_one_stray_byte_and_a_lying_label_keeps_its_markup(label: str) -> None:
    # no UTF-8 sequence at all, so UTF-8 cannot win on evidence; the label decodes every byte
    # (UTF-16 into CJK, cp037 into EBCDIC letters) but loses the markup; which single-byte code
    # page the one stray byte belongs to is anyone's guess
    html = (b"<html><head><title>t</title></head><body><p>" + b"Plain words in a plain page. " * 40
            + b"caf\xe9</p></body></html>")
    for padded in (html, html + b" "):
        text = decode_html(padded, label)
        assert text.startswith("<html><head><title>t</title></head><body><p>Plain words in a plain page.")
        assert text.count("Plain words in a plain page.") == 40


def test_utf16_pages_with_a_bom_or_a_label_decode() -> None:
    source = german_page("utf-8").decode("utf-8")
    assert GERMAN.strip() in decode_html(codecs.BOM_UTF16_LE + source.encode("utf-16-le"), None)
    assert GERMAN.strip() in decode_html(codecs.BOM_UTF16_BE + source.encode("utf-16-be"), "utf-8")
    assert GERMAN.strip() in decode_html(source.encode("utf-16-le"), "utf-16")  # no BOM: label + NULs


def test_legacy_multibyte_page_with_a_stray_byte_keeps_its_declared_charset() -> None:
    japanese = "人気ランキングの商品をご紹介します。パンチングレザーの財布が入荷しました。" * 20
    html = (f"<html><head><meta charset='shift_jis'></head><body><p>{japanese}</p></body></html>"
            .encode("shift_jis").replace("入荷".encode("shift_jis"), b"\xff\xff", 1))
    text = decode_html(html, None)
    assert "人気ランキングの商品をご紹介します" in text and text.count("\ufffd") <= 2


# ---------------------------------------------------------------- issue 16: comments ----------

def blog_page_with_comments() -> bytes:
    thread = ("<div id='comments' class='comments-area'><h2 class='comments-title'>3 thoughts</h2>"
              "<ol class='comment-list'><li id='comment-1' class='comment'><article class='comment-body'>"
              "<footer class='comment-meta'><b class='fn'>Anna</b> <span class='says'>says:</span></footer>"
              "<div class='comment-content'><p>I loved the part about the river bank and the summers.</p>"
              "</div></article><ol class='children'><li id='comment-2' class='comment'><article "
              "class='comment-body'><div class='comment-content'><p>Same here, the teacher sounds wise.</p>"
              "</div></article></li></ol></li><li id='comment-3' class='comment'><article class='comment-body'>"
              "<div class='comment-content'><p>A lovely read on a rainy afternoon.</p></div></article></li>"
              "</ol></div>")
    return (f"<html><head><title>t</title></head><body><article>{FILLER}<ul><li>a real list item</li>"
            f"<li>another real item</li></ul></article>{thread}<footer>Copyright</footer></body></html>").encode()


def test_comment_threads_dropped_by_default_kept_without_bullets_on_request() -> None:
    html = blog_page_with_comments()
    default = lines_of(html)
    assert "- a real list item" in default and not any("rainy afternoon" in line for line in default)
    kept = lines_of(html, Config(timeout_mode="off", include_comments=True))
    assert "- a real list item" in kept and "- another real item" in kept
    comments = ["I loved the part about the river bank and the summers.", "Same here, the teacher sounds wise.",
                "A lovely read on a rainy afternoon."]
    assert all(comment in kept for comment in comments)  # whole lines, none made a bullet


# ---------------------------------------------------------------- engines ---------------------

def test_resiliparse_engine_keeps_bullets_the_project_way() -> None:
    pytest.importorskip("resiliparse")
    config = Config(timeout_mode="off", engine="resiliparse", bullet="• ")
    deep = ("<html><body><div><div><div><main><article>" + FILLER
            + "<ul><li>\n\t\tfirst item</li><li><p>second <b>item</b></p></li><li>third<br>item</li>"
            "<li>outer<ul><li>inner item</li></ul></li></ul><p>After the list.</p>"
            "</article></main></div></div></div></body></html>").encode()
    lines = lines_of(deep, config)
    assert {"• first item", "• second item", "• third item", "• outer", "• inner item", "After the list."} <= set(lines)
    assert ex.SENTINEL not in "\n".join(lines)
    assert isinstance(extract_or_drop(page("<span>a</span>" * 100), None,
                                      Config(timeout_mode="off", engine="resiliparse", max_nodes=50)), Drop)


def test_resiliparse_tree_is_capped_at_lxmls_nesting_depth() -> None:
    pytest.importorskip("resiliparse")
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse("<html><body>" + "<div>" * 1000 + "deep text" + "</div>" * 1000 + "</body></html>")
    ex.cap_depth(tree)
    assert not tree.document.query_selector_all("body" + " > *" * (ex.MAX_DEPTH + 1)).values()
    assert len(tree.document.query_selector_all("body" + " > *" * ex.MAX_DEPTH).values()) == 1


def test_a_resiliparse_panic_is_an_error_the_shell_dead_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("resiliparse")
    import resiliparse.extract.html2text

    class PanicException(BaseException):  # pyo3's type: not an Exception, would stop the run
        pass

    def panics(*args: object, **kwargs: object) -> str:
        raise PanicException("called `Result::unwrap()` on an `Err` value")

    monkeypatch.setattr(resiliparse.extract.html2text, "extract_plain_text", panics)
    with pytest.raises(RuntimeError, match="resiliparse panicked"):  # an Exception: dead letter
        extract_doc(Doc(id="p", html=page("<p>x</p>")), Config(timeout_mode="off", engine="resiliparse"))


def test_resiliparse_engine_without_its_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from pipeline.config import ConfigError, load_config

    monkeypatch.setitem(sys.modules, "resiliparse.extract.html2text", None)  # import fails
    with pytest.raises(ConfigError, match=r"extract\.engine.*pip install"):
        load_config(None, ["extract.engine=resiliparse"])
    load_config(None, ["extract.engine=trafilatura"])
