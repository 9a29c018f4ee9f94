"""extract stage: bullets, marker, headings, boilerplate, limits, charsets, hostile pages, eval."""
from __future__ import annotations

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


def test_deep_nesting_and_entity_bomb_are_bounded() -> None:
    deep = b"<html><body>" + b"<div>" * 100_000 + b"<p>deep</p>" + b"</div>" * 100_000 + b"</body></html>"
    start = time.perf_counter()
    assert isinstance(extract_or_drop(deep, None, CFG), (str, Drop))
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;'
            b'&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;'
            b'&c;&c;&c;"><!ENTITY e SYSTEM "file:///etc/passwd">]><html><body><p>&d;&d;&d; &e;</p>'
            + FILLER.encode() + b"</body></html>")
    result = extract_or_drop(bomb, None, CFG)
    assert isinstance(result, str) and "aaaaaaaaaa" not in result and "root:" not in result
    assert time.perf_counter() - start < 10


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
    start = time.perf_counter()
    result = core(Doc(id="s", html=page("")))
    assert isinstance(result, Drop) and result.reason == "extract_timeout"
    assert time.perf_counter() - start < 2


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
