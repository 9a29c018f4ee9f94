"""extract: HTML -> main text with trafilatura, keeping every surviving list item as a bullet line.

Why the extra work around ``trafilatura.extract``: its txt output marks ``<li>`` with "- " only in
some cases (not inside table cells, not when the item was re-tagged or merged into a paragraph),
which lost a third of the list items on the annotated eval pages (docs/extract.md). We
therefore tag each ``<li>`` in the parsed tree with a sentinel character before extraction;
wherever the item's text lands in the output, the sentinel says "a list item starts here", and
post-processing turns it into a line starting with the configured marker.

Safety and limits, cheapest first: a byte limit before parsing (``html_too_large``); our own
decoding (strict UTF-8, then HTTP charset, then ``<meta charset>``, then charset detection), so
trafilatura never sees bytes (it would gunzip them: a gzip bomb); lxml's HTML parser, which
never fetches anything, expands no external entities and caps nesting at 256 levels without
``huge_tree``; a node-count limit (``too_many_nodes``); an output limit (``text_too_large``); and a
wall-clock limit (``extract_timeout``): a SIGALRM timer when the core runs on the main thread
(in-process runner; near-free), else a watchdog child process per worker that is killed and
restarted when a page overruns (signals only work on the main thread, and a thread cannot stop
CPU-bound Python).

Records that already hold text pass through untouched. The HTML is dropped once text exists,
so later shuffles carry text only.
"""
from __future__ import annotations

import codecs
import os
import pickle
import re
import select
import signal
import struct
import subprocess
import sys
import threading
from functools import partial
from typing import Any, Callable, Literal

from pydantic import Field

from stages.base import Stage
from stages.record import Doc, Drop
from stages.settings import PROJECT_ROOT, StageSection

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
    # How the limit is enforced: "signal" = SIGALRM timer in-process (main thread only, ~free);
    # "process" = watchdog child per worker, killed and restarted on overrun (any thread, ~4 %
    # CPU for the pipe round trip); "auto" (= "signal") uses the timer on the main thread and the
    # watchdog elsewhere; "off" = size limits only.
    timeout_mode: Literal["auto", "signal", "process", "off"] = "auto"
    # Every list item becomes one line starting with this marker (e.g. "- " or "• ").
    bullet: str = Field(default="- ", min_length=1, max_length=8, pattern=r"^[^\n\r]+$")
    include_tables: bool = True
    include_comments: bool = False
    # trafilatura's favor_recall: ~1.5x faster, +1 bullet, +3 boilerplate strings removed, but 3
    # must-contain strings fewer on the eval pages (docs/extract.md); on for throughput.
    favor_recall: bool = True
    # trafilatura's deduplicate: drop text segments repeated within the page (as datatrove runs it).
    deduplicate: bool = False
    # trafilatura's fast mode: skip its fallback extractors (readability, jusText).
    fast: bool = False


# ------------------------------------------------------------------ decoding ---------------

def _known(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip("\"'")).name
    except LookupError:
        return None


def sniff_meta_charset(html: bytes) -> str | None:
    """Charset from ``<meta charset>`` / ``<meta http-equiv content="...charset=">`` in the head."""
    match = _META_CHARSET.search(html[:4096])
    return _known(match.group(1).decode("ascii")) if match else None


def decode_html(html: bytes, charset: str | None) -> str:
    """Strict UTF-8, else the HTTP charset, else <meta charset>, else detection, else U+FFFD.

    UTF-8 goes first because non-ASCII text in another encoding is practically never valid UTF-8,
    while a page that *is* valid UTF-8 under a wrong label (often latin-1 from a server default)
    is common. A declared codec that fails strictly on the bytes is skipped in favour of
    detection (charset_normalizer, through trafilatura), and used with replacement only last.
    """
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = [c for c in (_known(charset), sniff_meta_charset(html)) if c and c != "utf-8"]
    for codec in declared:
        try:
            return html.decode(codec)
        except UnicodeDecodeError:
            continue
    best = pick_by_language(html)
    if best is not None:
        return best
    return html.decode(declared[0] if declared else "utf-8", errors="replace")


_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)


def pick_by_language(html: bytes, candidates: int = 4) -> str | None:
    """Among charset_normalizer's guesses (plus cp1252, the web's legacy default), the decoding
    whose visible text py3langid recognises most confidently.

    charset_normalizer alone is unreliable on short single-byte Latin pages (a French latin-1
    page came out as Baltic cp1257: "crčme"); a wrong code page garbles letters into n-grams no
    language model knows, so the language score separates them. Only reached for pages that are
    neither valid UTF-8 nor valid in a declared charset; the model loads once per process.
    """
    from trafilatura.utils import detect_encoding

    guesses = list(dict.fromkeys([*detect_encoding(html), "cp1252"]))
    decoded: list[tuple[str, str]] = []
    for guess in guesses:
        try:
            decoded.append((guess, html.decode(guess)))
        except (LookupError, UnicodeDecodeError):
            continue
        if len(decoded) >= candidates:
            break
    if len(decoded) <= 1:
        return decoded[0][1] if decoded else None
    from stages.language import load_classifier

    classify = load_classifier()
    scores = []
    for rank, (_, text) in enumerate(decoded):
        sample = " ".join(_TAGS.sub(" ", text[:200_000]).split())[:3000]
        scores.append((classify(sample)[1] if sample else 0.0, -rank, text))
    return max(scores)[2]


# ------------------------------------------------------------------ bullets ----------------

def mark_list_items(tree: Any) -> None:
    """Put SENTINEL before the first visible text of every <li>; its <br>s become spaces.

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
        if item.text and not item.text.isspace():  # the common cases first, no XPath needed
            item.text = SENTINEL + item.text
            continue
        if len(item) and item[0].tag not in ("ul", "ol", "li") and item[0].text and not item[0].text.isspace():
            item[0].text = SENTINEL + item[0].text  # e.g. <li><a>text</a></li>
            continue
        for node in item.xpath(".//text()"):
            if not node.isspace():
                owner = node.getparent()
                if node.is_text:
                    owner.text = SENTINEL + owner.text
                else:
                    owner.tail = SENTINEL + owner.tail
                break
        else:
            item.text = SENTINEL + (item.text or "")


def _clean_piece(piece: str) -> str:
    # cells around an item leave "|" fragments; trafilatura's markers/indent are replaced by ours
    return piece.strip().strip("|").strip()


def bulletize(text: str, bullet: str) -> str:
    """Turn sentinel-tagged text into lines; each list item starts a line with ``bullet``.

    Text before the first sentinel on a line stays a line of its own; a sentinel that opens an
    item with no text (e.g. an item whose first child is a sublist) leaves no empty bullet.
    """
    out: list[str] = []
    for line in text.split("\n"):
        if SENTINEL not in line:
            out.append(line)
            continue
        head, *items = line.split(SENTINEL)
        head = head.lstrip()
        for marker in (bullet, "- "):  # the item's own marker (normalised or trafilatura's)
            if head.startswith(marker):
                head = head[len(marker):]
                break
        head_core = _clean_piece(head)
        if head_core:
            out.append(head_core)
        for item in items:
            item = _clean_piece(item)
            if item:
                out.append(bullet + item)
    return "\n".join(out)


def normalise_markers(text: str, bullet: str) -> str:
    """Replace trafilatura's "- " item markers by ``bullet`` at column 0; drop marker-only lines
    (items whose only content was removed, e.g. an image)."""
    lines = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("- "):
            if not stripped[2:].strip():
                continue
            line = bullet + stripped[2:]
        elif stripped == "-":
            continue
        lines.append(line)
    return "\n".join(lines)


# ------------------------------------------------------------------ extraction -------------

class ExtractError(Exception):
    """A page the core rejects: carries the reject reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


def drop_dead_weight(tree: Any) -> None:
    """Remove <style>, <svg> and non-JSON-LD <script> subtrees right after parsing.

    trafilatura deletes them itself, but only after copying the raw tree (several copies per
    page); dropping them first makes every copy cheaper. JSON-LD stays: trafilatura reads it.
    """
    from lxml import etree

    doomed = [el for el in tree.iter("script") if (el.get("type") or "").lower() != "application/ld+json"]
    for el in doomed:
        _remove_keep_tail(el)
    etree.strip_elements(tree, "style", "svg", "{http://www.w3.org/2000/svg}svg", with_tail=False)


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


def parse_html(html: bytes, charset: str | None, config: Config) -> Any:
    """Decode and parse with trafilatura's loader (lxml HTML parser: no network, no huge_tree)."""
    from trafilatura.utils import load_html

    tree = load_html(decode_html(html, charset).replace(SENTINEL, ""))
    if tree is None:
        return None
    drop_dead_weight(tree)
    # an element needs >= 3 bytes ("<p>"): smaller pages cannot exceed the limit, skip the count
    if config.max_nodes and len(html) > 3 * config.max_nodes:
        count = 0
        for _ in tree.iter():
            count += 1
            if count > config.max_nodes:
                raise ExtractError("too_many_nodes", f"> {config.max_nodes} elements")
    return tree


def extract_text(html: bytes, charset: str | None, config: Config) -> str | None:
    """Main text with bullet lines; None when trafilatura finds no main text."""
    import trafilatura

    tree = parse_html(html, charset, config)
    if tree is None:
        return None
    mark_list_items(tree)
    text = trafilatura.extract(tree, include_tables=config.include_tables,
                               include_comments=config.include_comments,
                               favor_recall=config.favor_recall, deduplicate=config.deduplicate,
                               fast=config.fast,
                               output_format="txt")
    if not text:
        return None
    text = normalise_markers(text, config.bullet)  # before bulletize: our bullet may be "- " too
    return bulletize(text, config.bullet).replace(SENTINEL, "")


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


# ------------------------------------------------------------------ watchdog ---------------

_FRAME = struct.Struct("<Q")


def _write_frame(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def _read_exact(stream: Any, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("watchdog pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: Any) -> Any:
    (size,) = _FRAME.unpack(_read_exact(stream, _FRAME.size))
    return pickle.loads(_read_exact(stream, size))


def _child_main() -> None:
    """Child loop: config first, then answer (html, charset) frames until stdin closes.

    Frames go over a private duplicate of stdout; fd 1 is pointed at stderr so nothing a
    library prints can corrupt the protocol.
    """
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    config = Config(**_read_frame(source))
    import trafilatura  # noqa: F401 - pay the import before the first timed page

    _write_frame(out, ("ready", None))
    while True:
        try:
            html, charset = _read_frame(source)
        except EOFError:
            return
        try:
            _write_frame(out, ("ok", extract_or_drop(html, charset, config)))
        except Exception as error:  # noqa: BLE001 - the parent dead-letters the document
            _write_frame(out, ("error", f"{type(error).__name__}: {error}"))


class Watchdog:
    """Runs extract_or_drop in one long-lived child process, killed and restarted on overrun.

    A plain ``python -c`` child over pipes, not multiprocessing: spawn re-imports the caller's
    __main__ (a Beam harness or pytest), fork is unsafe in multi-threaded workers. Cost per page:
    pickling the HTML and the text through a pipe (measured in docs/extract.md). A child that
    dies (e.g. the OS killed it for memory) costs one `extract_crashed` reject.
    """

    START_SECONDS = 300.0  # a cold child imports trafilatura; on a busy machine that can be slow

    def __init__(self, config: Config) -> None:
        self.config = config
        self.timeout = config.timeout_seconds
        self._proc: subprocess.Popen | None = None

    def _start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        proc = subprocess.Popen(
            [sys.executable, "-c", "from stages.extract import _child_main; _child_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        _write_frame(proc.stdin, self.config.model_dump())
        if not self._wait(proc, self.START_SECONDS):
            proc.kill()
            proc.wait()
            raise RuntimeError("extract watchdog child did not start")
        _read_frame(proc.stdout)
        self._proc = proc

    @staticmethod
    def _wait(proc: subprocess.Popen, seconds: float) -> bool:
        ready, _, _ = select.select([proc.stdout], [], [], seconds)
        return bool(ready)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()  # type: ignore[union-attr]
                except OSError:
                    pass

    def __call__(self, html: bytes, charset: str | None) -> str | Drop:
        if self._proc is None or self._proc.poll() is not None:
            self.stop()
            self._start()
        proc = self._proc
        assert proc is not None
        try:
            _write_frame(proc.stdin, (html, charset))
            if not self._wait(proc, self.timeout):
                self.stop()
                return Drop("extract_timeout", f"> {self.timeout:g} s")
            status, value = _read_frame(proc.stdout)
        except (EOFError, OSError):
            self.stop()
            return Drop("extract_crashed", "extraction process died")
        if status == "error":
            raise RuntimeError(value)
        return value

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class _Overrun(BaseException):
    """Raised by the SIGALRM handler; BaseException so no `except Exception` in a library eats it."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Overrun()


def run_with_alarm(fn: Callable[[], str | Drop], seconds: float) -> str | Drop:
    """Run ``fn`` under an ITIMER_REAL timer (main thread only): Python code is interrupted
    between bytecodes; one C call (one lxml parse) finishes first, bounded by max_html_bytes."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Overrun:
        return Drop("extract_timeout", f"> {seconds:g} s")
    finally:
        signal.signal(signal.SIGALRM, previous)


class TimedExtractor:
    """extract_or_drop under the configured time limit; picks signal or watchdog per call."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.watchdog: Watchdog | None = None

    def mode(self) -> str:
        """"auto" and "signal" both fall back to the watchdog off the main thread (signal
        handlers can only be installed there; forcing it would dead-letter every page)."""
        mode = self.config.timeout_mode
        if mode in ("auto", "signal"):
            main = threading.current_thread() is threading.main_thread()
            return "signal" if main and hasattr(signal, "setitimer") else "process"
        return mode

    def __call__(self, html: bytes, charset: str | None) -> str | Drop:
        mode = self.mode()
        if mode == "signal":
            return run_with_alarm(lambda: extract_or_drop(html, charset, self.config),
                                  self.config.timeout_seconds)
        if mode == "process":
            if self.watchdog is None:
                self.watchdog = Watchdog(self.config)  # child starts lazily on first use
            return self.watchdog(html, charset)
        return extract_or_drop(html, charset, self.config)


def make_core(config: Config, context: object = None) -> Callable[[Doc], Doc | Drop]:
    """Runs in DoFn.setup (once per worker): the core with its time limit."""
    return partial(extract_doc, config=config, extractor=TimedExtractor(config))


SPEC = Stage(name=STAGE, make_core=make_core,
             reasons=("html_too_large", "too_many_nodes", "text_too_large", "extract_timeout",
                      "empty_extraction", "extract_failed", "extract_crashed"),
             reads=frozenset({"html", "charset"}), writes=frozenset({"text", "html"}))
