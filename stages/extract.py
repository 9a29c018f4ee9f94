"""extract: HTML -> main text (trafilatura, or resiliparse), every surviving list item a bullet line.

Why the extra work around ``trafilatura.extract``: its txt output marks ``<li>`` with "- " only in
some cases (not inside table cells, not when the item was re-tagged or merged into a paragraph),
which lost a third of the list items on the annotated eval pages (docs/extract.md). We
therefore tag each ``<li>`` in the parsed tree with a sentinel character before its first visible
character; wherever the item's text lands in the output, the sentinel says "a list item starts
here", and post-processing turns it into a line starting with the configured marker.

Each page is decoded once (:func:`decode_html`, the one owner of HTML decoding: BOM, nearly-valid
UTF-8, labels read as browsers read them, then detection; a few stray bytes never switch a whole
page to another code page) and parsed once, from UTF-8 bytes; what can never be main text is
cut from the tree before trafilatura copies it.

Safety and limits, cheapest first: a byte limit before parsing (``html_too_large``); our own
decoding, so trafilatura never sees bytes (it would gunzip them: a gzip bomb); lxml's HTML
parser (or lexbor's, for resiliparse), which never fetches anything, expands no external
entities and (lxml) caps nesting at 256 levels without ``huge_tree``; a node-count limit
(``too_many_nodes``); an output limit (``text_too_large``); and a wall-clock limit
(``extract_timeout``) from :mod:`stages.watchdog`: a SIGALRM timer on the main thread
(in-process runner; near-free), else a watchdog child process per worker that is killed and
restarted when a page overruns (``extract_crashed`` if it dies).

Records that already hold text pass through untouched. The HTML is dropped once text exists,
so later shuffles carry text only.
"""
from __future__ import annotations

import codecs
import re
import threading
import unicodedata
from functools import lru_cache, partial
from itertools import islice
from typing import Any, Callable, Literal

from pydantic import Field, field_validator

from stages.base import Stage
from stages.record import Doc, Drop
from stages.settings import StageSection
from stages.watchdog import TimeLimited, TimeLimitExceeded, WorkerDied

STAGE = "extract"

# A printable, practically unused symbol (U+2E2C SQUARED FOUR DOT PUNCTUATION): trafilatura drops
# non-printable characters (private-use ones included), so the marker must be printable. Any
# occurrence in the page itself is removed before parsing, so it can never fake an item.
SENTINEL = "\u2e2c"
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]{1,40})""", re.IGNORECASE)


class Config(StageSection):
    # Pages larger than this (raw bytes) are rejected as `html_too_large` before parsing.
    max_html_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    # Parsed trees with more elements than this are rejected as `too_many_nodes` (0 = no limit).
    max_nodes: int = Field(default=200_000, ge=0)
    # Extracted text longer than this (characters) is rejected as `text_too_large`.
    max_text_chars: int = Field(default=1_000_000, gt=0)
    # Extracted text shorter than this (characters, stripped) is rejected as `empty_extraction`.
    min_text_chars: int = Field(default=1, ge=0)
    # Wall-clock limit per page (`extract_timeout`). At least 0.1 s: with 1e-9 every page timed
    # out (trafilatura takes ~18 ms on a median page, and the watchdog restarts its child after
    # each timeout), which is a config mistake, not a result.
    timeout_seconds: float = Field(default=20.0, ge=0.1, le=3600)
    # How the limit is enforced (stages/watchdog.py): "signal" = SIGALRM timer in-process (main
    # thread only, ~free); "process" = watchdog child per worker, killed and restarted on overrun
    # (any thread, ~4 % CPU for the pipe round trip); "auto" (= "signal") uses the timer on the
    # main thread and the watchdog elsewhere; "off" = size limits only.
    timeout_mode: Literal["auto", "signal", "process", "off"] = "auto"
    # Every list item becomes one line starting with this marker (e.g. "- " or "• ").
    bullet: str = Field(default="- ", min_length=1, max_length=8, pattern=r"^[^\n\r]+$")
    include_tables: bool = True
    # Comment threads (trafilatura's comment sections). Off: user comments are short, repetitive
    # ("Great post!") and spam-prone, and FineWeb/datatrove leave them out; on adds 12.8 % more
    # characters on 35 of 187 eval pages (docs/extract.md). When on, they follow the main text
    # as plain lines (a thread is a list of posts, not of items: no bullets).
    include_comments: bool = False
    # trafilatura's favor_recall: ~1.5x faster, +1 bullet, but 2 must-contain strings fewer on
    # the eval pages (docs/extract.md); on for throughput.
    favor_recall: bool = True
    # trafilatura's deduplicate: drop text segments repeated within the page (as datatrove runs it).
    deduplicate: bool = False
    # trafilatura's fast mode: skip its fallback extractors (readability, jusText).
    fast: bool = False
    # Main-text extractor. "trafilatura": the best eval-page scores (docs/extract.md); the HTML
    # path's floor. "resiliparse" (extra `fast-extract`): 3.2-3.5x the pages per CPU-second,
    # weaker boilerplate removal (435 vs 488 of 551 strings absent), drops lists shallower than
    # 4 levels below <body> (docs/extract.md).
    engine: Literal["trafilatura", "resiliparse"] = "trafilatura"

    @field_validator("engine")
    @classmethod
    def _engine_installed(cls, value: str) -> str:
        """Fail at config time, naming extract.engine, not on the first page of a run."""
        if value == "resiliparse":
            try:
                import resiliparse.extract.html2text  # noqa: F401
            except ImportError:
                raise ValueError("the resiliparse engine needs the resiliparse package: "
                                 "pip install 'pretrain-pipeline[fast-extract]'") from None
        return value


# ------------------------------------------------------------------ decoding ---------------

_ASCII = bytes(range(128))


@lru_cache(maxsize=256)
def _codec(label: str | None) -> str | None:
    """The Python codec a browser would use for a charset label, or None to ignore the label.

    WHATWG's label table (via ``webencodings``, html5lib's table): "iso-8859-1" and "ascii" mean
    windows-1252, "utf-16" means UTF-16LE, "gb2312" means GBK (decoded with gb18030, its
    superset, as WHATWG does). A label outside the table that Python knows ("latin-1", "cp874",
    "euc_jp") is kept when its codec reads ASCII bytes as ASCII; UTF-32, UTF-7 and EBCDIC
    (cp037) do not, no browser reads them, and a page served with them is nearly always
    mislabelled: they are ignored.
    """
    if not label:
        return None
    import webencodings

    label = label.strip().strip("\"'")
    encoding = webencodings.lookup(label)
    if encoding is None:
        try:
            name = codecs.lookup(label).name
        except LookupError:
            return None
        encoding = webencodings.lookup(name)
        if encoding is None:
            try:
                reads_ascii = _ASCII.decode(name) == _ASCII.decode("ascii")
            except UnicodeDecodeError:
                reads_ascii = False
            return name if reads_ascii else None
    name = encoding.codec_info.name
    return {"gbk": "gb18030", "x-user-defined": "cp1252"}.get(name, name)


def sniff_meta_charset(html: bytes) -> str | None:
    """Codec from ``<meta charset>`` / ``<meta http-equiv content="...charset=">`` in the head.

    WHATWG's prescan turns a UTF-16 label found *inside* the page into UTF-8: bytes that can be
    read as ASCII markup to find the label are not UTF-16.
    """
    match = _META_CHARSET.search(html[:4096])
    if not match:
        return None
    codec = _codec(match.group(1).decode("ascii"))
    return "utf-8" if codec in ("utf-16-le", "utf-16-be") else codec


# WHATWG: a byte order mark overrides every label (no UTF-32: browsers do not know it).
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_BOM_PREFIXES = tuple(bom for bom, _ in _BOMS)
_SENTINEL_UTF8 = SENTINEL.encode("utf-8")
# C0 controls other than tab, LF, CR: not allowed in XML 1.0, so lxml refuses them in text that
# trafilatura sets; single bytes in UTF-8 (never part of a multi-byte sequence), so deleted bytewise.
_XML_FORBIDDEN_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
# Invalid bytes a declared codec may leave (as U+FFFD) and still be kept: a handful of stray
# bytes must not switch a whole page to another code page, a wrong label must.
_TINY_SHARE = 0.02
_MARKUP = re.compile(r"</?[A-Za-z]")
_MARKUP_BYTES = re.compile(rb"</?[A-Za-z]")
_errors = threading.local()


def _count_and_replace(error: UnicodeDecodeError) -> tuple[str, int]:
    _errors.bytes += error.end - error.start
    return "\ufffd", error.end


codecs.register_error("extract.count", _count_and_replace)


def decode_counting(data: bytes, codec: str) -> tuple[str, int]:
    """(text with U+FFFD for undecodable bytes, how many bytes were undecodable)."""
    _errors.bytes = 0
    return data.decode(codec, "extract.count"), _errors.bytes


def _plain_utf8(html: bytes) -> str | None:
    """The page as text when it is strictly valid UTF-8 without a BOM (the common case), else
    None. Valid UTF-8 full of NULs is UTF-16 without a BOM (ASCII markup, every other byte 0)."""
    if html.startswith(_BOM_PREFIXES):
        return None
    try:
        text = html.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head = html[:4096]
    return text if head.count(0) * 10 <= len(head) else None


def decode_html(html: bytes, charset: str | None) -> str:
    """The page's text: BOM, else (nearly) valid UTF-8, else a declared charset that decodes
    (nearly) all bytes, else the best detected candidate. The one owner of HTML decoding.

    UTF-8 comes before the labels because non-ASCII text in another encoding is practically
    never valid UTF-8, while UTF-8 under a wrong label (a server's latin-1 default) is common.
    "Nearly": a few stray bytes (a latin-1 ``alt`` in a UTF-8 page) become U+FFFD instead of
    switching the whole page to a code page that garbles every other character ("schÃ¶n").
    Candidates are compared by what they decode and what they produce, never taken alone:
    UTF-8 is kept when its valid multi-byte sequences (each one mojibake under a single-byte
    code page) outnumber its invalid bytes two to one (legacy-encoded sentences of 33
    languages, 5 to a page, reach at most 0.75 to one: docs/extract.md); a label must decode all but
    ``_TINY_SHARE`` of the non-ASCII bytes and keep the markup readable (a UTF-8 page served
    as UTF-16 decodes into CJK without a single tag); detection ranks the rest by language
    score (:func:`pick_by_language`).
    """
    text = _plain_utf8(html)
    return text if text is not None else _decode_other(html, charset)


def _decode_other(html: bytes, charset: str | None) -> str:
    """decode_html for pages that are not plain UTF-8."""
    for bom, codec in _BOMS:
        if html.startswith(bom):
            return html.decode(codec, errors="replace")
    nonascii = len(html) - len(html.decode("ascii", "ignore"))
    text, invalid = decode_counting(html, "utf-8")
    if invalid:  # else: valid UTF-8 full of NULs, judged by the labels and detection below
        valid = len(text) - len(text.encode("ascii", "ignore")) - text.count("\ufffd")
        if valid >= 2 * invalid:
            return text
    labels = list(dict.fromkeys(c for c in (_codec(charset), sniff_meta_charset(html)) if c))
    markup_floor = len(_MARKUP_BYTES.findall(html[:65536])) / 2
    for codec in labels:
        if codec == "utf-8":
            continue  # judged above
        decoded, invalid = decode_counting(html, codec)
        if invalid <= _TINY_SHARE * nonascii and len(_MARKUP.findall(decoded[:65536])) >= markup_floor:
            return decoded
    return pick_by_language(html, labels, nonascii)


def page_utf8(html: bytes, charset: str | None) -> bytes:
    """The page as UTF-8 bytes a parser can take without guessing: the bytes themselves when
    they are plain UTF-8 (no decode + re-encode), with every SENTINEL (which would fake a list
    item) and every character XML forbids (lxml refuses them in text) removed."""
    data = html if _plain_utf8(html) is not None else decode_html(html, charset).encode("utf-8", "replace")
    if _SENTINEL_UTF8 in data:
        data = data.replace(_SENTINEL_UTF8, b"")
    data = data.translate(None, _XML_FORBIDDEN_BYTES)
    if b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data:  # U+FFFE, U+FFFF
        data = data.replace(b"\xef\xbf\xbe", b"").replace(b"\xef\xbf\xbf", b"")
    return data


_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)


def pick_by_language(html: bytes, labels: list[str] = (), nonascii: int | None = None,
                     candidates: int = 4) -> str:
    """Among the labels, charset_normalizer's guesses and cp1252 (the web's legacy default),
    the decoding that keeps the markup, decodes (nearly) every byte and whose visible text
    py3langid recognises most confidently.

    charset_normalizer alone is unreliable on short single-byte Latin pages (a French latin-1
    page came out as Baltic cp1257: "crčme"); a wrong code page garbles letters into n-grams no
    language model knows, so the language score separates them. Only reached for pages that are
    neither (nearly) valid UTF-8 nor (nearly) valid in a declared charset; the model loads once
    per process.
    """
    from charset_normalizer import from_bytes

    if nonascii is None:
        nonascii = len(html) - len(html.decode("ascii", "ignore"))
    sample = html if len(html) < 10000 else html[:5000] + html[-5000:]  # trafilatura's sample
    guesses = [match.encoding for match in from_bytes(sample)]
    decoded: list[tuple[str, str, int, int]] = []  # (codec, text, invalid bytes, markup count)
    seen = set()
    for guess in [*labels, *guesses[:candidates], "cp1252"]:
        codec = _codec(guess)  # None: a codec no browser reads (UTF-32, EBCDIC): not a candidate
        if codec is None or codec in seen or codec == "utf-8":
            continue
        seen.add(codec)
        try:
            text, invalid = decode_counting(html, codec)
        except LookupError:
            continue
        decoded.append((codec, text, invalid, len(_MARKUP.findall(text[:65536]))))
    if not decoded:
        return html.decode("utf-8", errors="replace")
    most_markup = max(markup for _, _, _, markup in decoded)
    from stages.language import load_classifier

    classify = load_classifier()
    ranked = []
    for rank, (codec, text, invalid, markup) in enumerate(decoded):
        sample_text = " ".join(_TAGS.sub(" ", text[:200_000]).split())[:3000]
        language_score = classify(sample_text)[1] if sample_text else 0.0
        tier = (markup * 2 >= most_markup, invalid <= _TINY_SHARE * nonascii)
        ranked.append((tier, language_score, -rank, codec, sample_text, text))
    best = max(ranked)
    # the same visible text (the bytes that differ sit in attributes or far down the page): the
    # score cannot tell, windows-1252 (the WHATWG default for unlabelled pages) decides
    for tier, _, _, codec, sample_text, text in ranked:
        if codec == "cp1252" and tier == best[0] and sample_text == best[4]:
            return text
    return best[-1]


# ------------------------------------------------------------------ bullets ----------------

# Leading characters that render as nothing: whitespace, C0/C1 controls, and the invisible
# format characters pages use as spacers (soft hyphen, zero-width space/joiners, word joiner, BOM).
_INVISIBLE_PREFIX = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2060-\u2064\ufeff]*")


def _marked(text: str | None) -> str | None:
    """``text`` starting with SENTINEL at its first visible character; None when it has none.

    The invisible prefix is dropped (it renders as nothing at the start of an item): an item
    written as ``<li>\n\t\tText`` keeps its newline through trafilatura, which would leave the
    marker, and trafilatura's own "- ", alone on a line before the text.
    """
    if not text:
        return None
    start = _INVISIBLE_PREFIX.match(text).end()
    return None if start == len(text) else SENTINEL + text[start:]


def mark_list_items(tree: Any) -> None:
    """Put SENTINEL before the first visible character of every <li>; its <br>s become spaces.

    The first *visible* text, not ``li.text``: an item often opens with whitespace and a <div> or
    <p>, and trafilatura drops whitespace-only text, marker included. A <br> inside an item would
    split it over lines and leave the continuation without a bullet; one item is one line.
    Lists inside table cells are dropped whole by trafilatura 2.3.1, so there <ul>/<ol>/<li>
    become <div>s (the sentinel still marks each item).
    """
    items = list(tree.iter("li"))
    if not items:
        return
    for br in tree.xpath("//li//br"):  # one C-level query instead of a walk per item
        _remove_keep_tail(br, prefix=" ")
    for cell in tree.iter("td", "th"):
        for element in cell.iter("ul", "ol", "li"):
            element.tag = "div"
    for item in items:
        marked = _marked(item.text)
        if marked is not None:  # the common cases first, no XPath needed
            item.text = marked
            continue
        if len(item) and item[0].tag not in ("ul", "ol", "li"):
            marked = _marked(item[0].text)
            if marked is not None:
                item[0].text = marked  # e.g. <li><a>text</a></li>
                continue
        for node in item.xpath(".//text()"):
            marked = _marked(node)
            if marked is not None:
                owner = node.getparent()
                if node.is_text:
                    owner.text = marked
                else:
                    owner.tail = marked
                break
        # no visible text: no sentinel (an empty item must not turn the next line into a bullet)


def _clean_piece(piece: str) -> str:
    # cells around an item leave "|" fragments; trafilatura's markers/indent are replaced by ours
    return piece.strip().strip("|").strip()


def bulletize(text: str, bullet: str) -> str:
    """Turn sentinel-tagged text into lines; each list item starts a line with ``bullet``.

    Text before the first sentinel on a line stays a line of its own; a sentinel that opens an
    item with no text (e.g. an item whose first child is a sublist) leaves no empty bullet. A
    line that ends in a sentinel (the item's text went to the next line: a newline kept from
    the page, a block element) is joined with the next line that holds text, unless that line
    starts an item of its own. Whitespace-only lines (page-source indentation trafilatura kept)
    are dropped.
    """
    out: list[str] = []
    pending = False  # the last line ended in a marker whose text has not come yet
    for line in text.split("\n"):
        if not line.strip():
            continue
        if SENTINEL not in line:
            if pending and not line.lstrip().startswith(bullet):
                out.append(bullet + _clean_piece(line))
            else:
                out.append(line)
            pending = False
            continue
        head, *items = line.split(SENTINEL)
        head = head.lstrip()
        for marker in (bullet, "- "):  # the item's own marker (normalised or trafilatura's)
            if head.startswith(marker):
                head = head[len(marker):]
                break
        head_core = _clean_piece(head)
        if head_core:
            out.append((bullet if pending else "") + head_core)
        for item in items:
            item = _clean_piece(item)
            if item:
                out.append(bullet + item)
        pending = not _clean_piece(items[-1])
    return "\n".join(out)


def normalise_markers(text: str, bullet: str) -> str:
    """Replace trafilatura's "- " item markers by ``bullet`` at column 0.

    trafilatura writes a marker only for an item with text, so a marker alone on its line means
    the item's text starts with a newline (``<li>\n\t\tText``): it is joined with the next
    line that holds text. A marker followed by another item's marker (or nothing) is dropped.
    """
    lines: list[str] = []
    pending = False
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("- ") or stripped == "-":
            rest = stripped[2:]
            if rest.strip():
                lines.append(bullet + rest)
            pending = not rest.strip()
            continue
        if pending and stripped:
            lines.append(bullet + stripped)
            pending = False
            continue
        lines.append(line)
    return "\n".join(lines)


# ------------------------------------------------------------------ extraction -------------

class ExtractError(Exception):
    """A page the core rejects: carries the reject reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


# Elements whose content can never be main text: not rendered (template), embedded objects and
# media (their fallback content is for old browsers), images (no text; alt texts are not
# extracted), form controls that hold values, not prose, and head metadata. trafilatura removes
# each of them itself, but only after copying the raw tree. Not here: <noscript> (Blogger serves
# whole posts in it), <button> (accordion headings), nav/aside/footer/form (pages with broken
# markup keep their article there; trafilatura's recall mode and fallbacks may recover it).
NEVER_MAIN_TEXT = ("style", "svg", "{http://www.w3.org/2000/svg}svg", "template", "meta", "link",
                   "base", "img", "picture", "source", "track", "param", "embed", "object",
                   "iframe", "audio", "video", "canvas", "map", "area", "input", "select",
                   "datalist", "textarea")


def drop_dead_weight(tree: Any) -> None:
    """Remove what can never be main text (``NEVER_MAIN_TEXT``, non-JSON-LD <script>) right
    after parsing, so trafilatura's several copies of the tree are smaller. JSON-LD stays:
    trafilatura reads articleBody and forum markers from it. The text after a removed element
    (its tail) stays in place."""
    from lxml import etree

    doomed = [el for el in tree.iter("script") if (el.get("type") or "").lower() != "application/ld+json"]
    for el in doomed:
        _remove_keep_tail(el)
    etree.strip_elements(tree, *NEVER_MAIN_TEXT, with_tail=False)


def _remove_keep_tail(el: Any, prefix: str = "") -> None:
    """Remove ``el`` but keep the text after it (``prefix`` + its tail) in place."""
    parent = el.getparent()
    if parent is None:
        return
    tail = prefix + (el.tail or "")
    if tail:
        previous = el.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _check_node_count(count: int, config: Config) -> None:
    if count > config.max_nodes:
        raise ExtractError("too_many_nodes", f"> {config.max_nodes} elements")


def _may_exceed_nodes(html: bytes, config: Config) -> bool:
    # an element needs >= 3 bytes ("<p>"): smaller pages cannot exceed the limit, skip the count
    return bool(config.max_nodes) and len(html) > 3 * config.max_nodes


# trafilatura's load_html repairs (trafilatura.utils.repair_faulty_html), on bytes
_DOCTYPE_WITH_SLASH = re.compile(rb"^< ?! ?DOCTYPE[^>]*/[^<>]*>", re.IGNORECASE)
_SELF_CLOSED_HTML = re.compile(rb"(<html.*?)\s*/>", re.IGNORECASE)


def load_tree(data: bytes) -> Any:
    """lxml tree of :func:`page_utf8` bytes: trafilatura's parser (lxml HTML parser, comments
    and processing instructions dropped, no network, no huge_tree) and its load_html repairs;
    None for input that does not start like HTML and parses to fewer than two elements.

    Not ``trafilatura.utils.load_html``: it takes a decoded string, which lxml re-encodes to
    UTF-8, after a regex pass over the whole page for XML-forbidden characters that
    :func:`page_utf8` does bytewise (docs/extract.md, "Quality and speed").
    """
    from lxml import etree
    from lxml.html import fromstring
    from trafilatura.utils import HTML_PARSER

    beginning = data[:50].lower()
    if b"doctype" in beginning:
        first, _, rest = data.partition(b"\n")
        data = _DOCTYPE_WITH_SLASH.sub(b"", first, count=1) + b"\n" + rest
    for line in data[:4096].splitlines()[:4]:
        if b"<html" in line and line.endswith(b"/>"):
            data = _SELF_CLOSED_HTML.sub(rb"\1>", data, count=1)
            break
    try:
        tree = fromstring(data, parser=HTML_PARSER)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):  # e.g. "Document is empty"
        return None
    if b"html" not in beginning and len(tree) < 2:
        return None
    return tree


def parse_html(html: bytes, charset: str | None, config: Config) -> Any:
    """Decode once, parse once, drop what is never main text, apply the node limit."""
    tree = load_tree(page_utf8(html, charset))
    if tree is None:
        return None
    drop_dead_weight(tree)
    if _may_exceed_nodes(html, config):
        _check_node_count(sum(1 for _ in islice(tree.iter(), config.max_nodes + 1)), config)
    return tree


def trafilatura_text(html: bytes, charset: str | None, config: Config) -> str | None:
    """trafilatura's main text of the marked tree, its own "- " markers normalised, bullets
    made; comments (``include_comments``) appended after it without bullets.

    ``bare_extraction`` rather than ``extract``: the same extraction (``extract`` is it plus
    joining body and comments), but with the comment thread apart from the main text.
    A comment thread is a list of posts, not of items: a sentinel trafilatura carried into a
    comment (a comment whose first visible text is its body, not the author's name) would
    otherwise bullet some comments and not others.
    """
    import trafilatura

    tree = parse_html(html, charset, config)
    if tree is None:
        return None
    mark_list_items(tree)
    document = trafilatura.bare_extraction(
        tree, output_format="python", include_tables=config.include_tables,
        include_comments=config.include_comments, favor_recall=config.favor_recall,
        deduplicate=config.deduplicate, fast=config.fast)
    if document is None:
        return None
    # before bulletize: our bullet may be "- " too
    text = bulletize(normalise_markers(document.text or "", config.bullet), config.bullet)
    if config.include_comments and document.comments:
        comments = normalise_markers(document.comments.replace(SENTINEL, ""), config.bullet)
        text = f"{text}\n{comments}"
    return text.strip() or None


def _first_visible_text(node: Any) -> Any:
    """The first text node under ``node`` (document order) holding a visible character, or None.

    Each resiliparse node access builds a Python wrapper, so items without visible text are
    skipped on their text content (one C call) before any walk.
    """
    from resiliparse.parse.html import NodeType

    if _marked(node.text) is None:
        return None
    text_type, element_type = NodeType.TEXT, NodeType.ELEMENT
    stack = [node.first_child]
    while stack:
        current = stack.pop()
        if current is None:
            continue
        kind = current.type
        if kind == text_type and _marked(current.text) is not None:
            return current
        stack.append(current.next_sibling)
        if kind == element_type:
            stack.append(current.first_child)
    return None


# lxml (libxml2 without huge_tree) stops nesting at 256 levels; lexbor does not, and
# resiliparse's extraction is quadratic in depth (8,000 nested <div>s: 1.2 s, 100,000: minutes,
# in Rust, where no SIGALRM reaches it). The same cap keeps the two engines alike.
MAX_DEPTH = 256
_AT_MAX_DEPTH = "body" + " > *" * MAX_DEPTH


def cap_depth(tree: Any) -> None:
    """Drop what lies deeper than MAX_DEPTH levels below <body> in a resiliparse tree."""
    for deepest in tree.document.query_selector_all(_AT_MAX_DEPTH).values():
        for child in deepest.child_nodes.values():
            deepest.remove_child(child)


def resiliparse_text(html: bytes, charset: str | None, config: Config) -> str | None:
    """:func:`_resiliparse_text`, a Rust panic turned into an error the stage shell dead-letters
    (pyo3's PanicException is a BaseException, which would stop the whole run)."""
    try:
        return _resiliparse_text(html, charset, config)
    except BaseException as error:
        if type(error).__name__ != "PanicException":
            raise
        raise RuntimeError(f"resiliparse panicked: {error}") from None


def _resiliparse_text(html: bytes, charset: str | None, config: Config) -> str | None:
    """resiliparse's main-content text (lexbor parser, C), list items marked like ours.

    The same decoding, sentinel scrub and limits as the trafilatura path, and the same nesting
    cap as lxml's; lexbor is an HTML5 parser (no DTDs, so no entity expansion, and it fetches
    nothing). resiliparse's own bullets
    are off: a SENTINEL goes before each item's first visible text, <br>s in items become
    spaces. Alt texts and post metadata (bylines, dates) are left out, as trafilatura does.
    """
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse_from_bytes(page_utf8(html, charset), "utf-8")
    if tree.body is None:
        return None
    if _may_exceed_nodes(html, config):
        _check_node_count(len(tree.document.query_selector_all("*")), config)
    cap_depth(tree)
    # .values(): iterating a resiliparse 2.0 NodeList by index rebuilds it per item (quadratic:
    # 57 s for 2,000 of 20,000 items)
    for br in tree.body.query_selector_all("li br").values():
        br.replace_with(tree.create_text_node(" "))
    for item in tree.body.query_selector_all("li").values():
        first = _first_visible_text(item)
        if first is not None:
            first.text = _marked(first.text)
    text = extract_plain_text(
        tree, preserve_formatting=True, main_content=True, list_bullets=False, alt_texts=False,
        links=False, form_fields=False, noscript=False, comments=config.include_comments,
        post_meta=False, skip_elements=None if config.include_tables else ["table"])
    return bulletize(text, config.bullet) if text else None


# engine -> (main text with bullet lines, modules a watchdog child imports before its first page)
ENGINES: dict[str, tuple[Callable[[bytes, str | None, Config], str | None], tuple[str, ...]]] = {
    "trafilatura": (trafilatura_text, ("trafilatura",)),
    "resiliparse": (resiliparse_text, ("resiliparse.extract.html2text",)),
}


def extract_text(html: bytes, charset: str | None, config: Config) -> str | None:
    """Main text with bullet lines, NFC (as trafilatura.extract returns it); None when the
    engine finds no main text."""
    text = ENGINES[config.engine][0](html, charset, config)
    return unicodedata.normalize("NFC", text.replace(SENTINEL, "")) if text else None


def extract_or_drop(html: bytes, charset: str | None, config: Config) -> str | Drop:
    """extract_text with every limit applied: text, or a Drop with its reason."""
    if len(html) > config.max_html_bytes:
        return Drop("html_too_large", f"{len(html)} bytes > {config.max_html_bytes}")
    try:
        text = extract_text(html, charset, config)
    except ExtractError as error:
        return Drop(error.reason, error.detail)
    except (RecursionError, MemoryError) as error:
        return Drop("extract_failed", type(error).__name__)
    if not text or len(text.strip()) < max(config.min_text_chars, 1):
        return Drop("empty_extraction", "no main text found")
    if len(text) > config.max_text_chars:
        return Drop("text_too_large", f"{len(text)} chars > {config.max_text_chars}")
    return text


def extract_doc(doc: Doc, config: Config,
                extractor: Callable[[bytes, str | None], str | Drop] | None = None) -> Doc | Drop:
    """The stage core. ``extractor`` defaults to in-process extraction (the watchdog swaps it)."""
    if doc.html is None:
        return doc  # text records skip extraction
    if len(doc.html) > config.max_html_bytes:  # checked here too: never ship a huge page to a child
        return Drop("html_too_large", f"{len(doc.html)} bytes > {config.max_html_bytes}")
    result = (extractor or partial(extract_or_drop, config=config))(doc.html, doc.charset)
    if isinstance(result, Drop):
        return result
    doc.text = result
    doc.html = None
    return doc


# ------------------------------------------------------------------ time limit -------------

class TimedExtractor:
    """extract_or_drop under the configured time limit (stages.watchdog picks the timer or the
    watchdog child per calling thread); an overrun is ``extract_timeout``, a dead child
    ``extract_crashed``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.limited = TimeLimited(partial(extract_or_drop, config=config), config.timeout_seconds,
                                   config.timeout_mode, preload=ENGINES[config.engine][1])

    def mode(self) -> str:
        return self.limited.mode()

    def __call__(self, html: bytes, charset: str | None) -> str | Drop:
        try:
            return self.limited(html, charset)
        except TimeLimitExceeded:
            return Drop("extract_timeout", f"> {self.config.timeout_seconds:g} s")
        except WorkerDied:
            return Drop("extract_crashed", "extraction process died")

    def stop(self) -> None:
        self.limited.stop()


def make_core(config: Config, context: object = None) -> Callable[[Doc], Doc | Drop]:
    """Runs in DoFn.setup (once per worker): the core with its time limit."""
    return partial(extract_doc, config=config, extractor=TimedExtractor(config))


SPEC = Stage(name=STAGE, make_core=make_core,
             reasons=("html_too_large", "too_many_nodes", "text_too_large", "extract_timeout",
                      "empty_extraction", "extract_failed", "extract_crashed"),
             reads=frozenset({"html", "charset"}), writes=frozenset({"text", "html"}))
