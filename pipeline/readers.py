"""Record readers for WARC/ARC, JSON Lines (and JSON documents) and Parquet: plain generators.

Each reader yields, for every input record, exactly one of: a :class:`Doc` (to process), a
:class:`Rejected` at stage ``read`` (a readable record that is not a document, e.g. a WARC
request record or an HTTP 404), or a :class:`DeadLetter` (unreadable, with the cause).

All byte-stream formats go through one :class:`DecodedStream`: compression is sniffed from the
magic bytes (falling back to the file name), every member/frame of a multi-member file is read,
and damage never ends the file silently. A truncated member, a corrupt member or bytes that are
not compressed data become a *gap*: the reader sees the end of the readable bytes, reports the
record the gap cut (and how many bytes it skipped) as one dead letter, then resumes at the next
member that decodes. The record readers resynchronise the same way on their own framing (next
line, next ``WARC/`` record, next Parquet row group). Memory per record is bounded by
``input.max_record_bytes``; decompressed bytes per file by ``input.max_decompressed_bytes``.
"""
from __future__ import annotations

import bz2
import codecs
import datetime as _dt
import decimal
import json
import lzma
import os
import re
import zlib
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import IO, Any, Callable, Iterator

import orjson
import xxhash

from stages.record import DeadLetter, Doc, Rejected

try:  # Python 3.14 ships the backport's module as compression.zstd
    from compression import zstd as _zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd as _zstd  # type: ignore[no-redef]

READ_STAGE = "read"
HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
ReadResult = Doc | Rejected | DeadLetter

UTF8_BOM = b"\xef\xbb\xbf"
FORMAT_SUFFIXES = {".warc": "warc", ".arc": "warc", ".jsonl": "jsonl", ".ndjson": "jsonl",
                   ".json": "jsonl", ".parquet": "parquet"}
CODEC_SUFFIXES = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2", ".xz": "xz"}
# Magic numbers of the compressed formats read here (RFC 1952, RFC 8878, bzip2, xz).
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_SKIPPABLE = re.compile(rb"[\x50-\x5f]\x2a\x4d\x18", re.DOTALL)
_CODEC_MAGIC = {
    "gzip": re.compile(rb"\x1f\x8b\x08"),
    "zstd": re.compile(rb"\x28\xb5\x2f\xfd|[\x50-\x5f]\x2a\x4d\x18"),
    "bz2": re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)"),
    "xz": re.compile(rb"\xfd7zXZ\x00"),
}
_MAGIC_LOOKAHEAD = 10  # bytes needed to recognise any of the magics above
# Header lines and header blocks (WARC, HTTP) larger than this are damage, not records.
HEADER_MAX_BYTES = 1 << 20
_WARC_TYPES = ("warcinfo", "response", "resource", "request", "metadata", "revisit",
               "conversion", "continuation")


# --------------------------------------------------------------------------- formats and codecs
def _split_name(path: str) -> tuple[str, str | None]:
    """(name without a compression suffix, codec named by the suffix)."""
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    for suffix, codec in CODEC_SUFFIXES.items():
        if name.endswith(suffix):
            return name[: -len(suffix)], codec
    return name, None


def detect_format(path: str) -> str | None:
    """Format from the file name; ``None`` if it cannot be told."""
    name, _ = _split_name(path)
    for suffix, fmt in FORMAT_SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None


def is_supported_name(path: str) -> bool:
    """Whether a folder listing should pick this file up (a known format, maybe compressed)."""
    return detect_format(path) is not None


def sniff_codec(head: bytes) -> str | None:
    """Compression from the first bytes (magic numbers); None for uncompressed or unknown."""
    for codec, magic in _CODEC_MAGIC.items():
        if magic.match(head):
            return codec
    return None


def sniff_format(head: bytes) -> str | None:
    """Record format from the first decompressed bytes; None if they do not say."""
    text = head.lstrip(b" \t\r\n")
    if text.startswith(UTF8_BOM):
        text = text[len(UTF8_BOM):].lstrip(b" \t\r\n")
    if head.startswith(b"PAR1"):
        return "parquet"
    if text.startswith(b"WARC/") or text.startswith(b"filedesc://"):
        return "warc"
    if text[:1] in (b"{", b"["):
        return "jsonl"
    return None


def stable_id(url: str, content: bytes | str) -> str:
    """Id for records that carry none: a hash of url and content, so reruns agree."""
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    digest = xxhash.xxh3_128()
    digest.update(url.encode("utf-8", "surrogatepass"))
    digest.update(b"\0")
    digest.update(content)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the shared stream
@dataclass(slots=True)
class Damage:
    """Bytes a stream could not decode: ``cause`` is a short class, ``message`` says where and
    how many bytes were skipped."""

    cause: str
    message: str
    offset: int
    skipped: int = 0


class _ZlibMember:
    """zlib's gzip decoder behind the bz2/lzma/zstd decompressor interface."""

    def __init__(self) -> None:
        self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._tail = b""
        self._full = False

    @property
    def eof(self) -> bool:
        return self._decoder.eof

    @property
    def unused_data(self) -> bytes:
        return self._decoder.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._tail and not self._full and not self._decoder.eof

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._decoder.decompress(self._tail + data, max_length)
        self._tail = self._decoder.unconsumed_tail
        self._full = len(out) >= max_length
        return out


def _new_member(codec: str) -> Any:
    if codec == "gzip":
        return _ZlibMember()
    if codec == "zstd":
        return _zstd.ZstdDecompressor()
    if codec == "bz2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor(memlimit=1 << 28)  # xz can ask for GiBs of dictionary


_DECODE_ERRORS: tuple[type[BaseException], ...] = (zlib.error, OSError, EOFError, ValueError,
                                                   lzma.LZMAError, _zstd.ZstdError)


class DecodedStream:
    """Decompressed, damage-aware view of one file's bytes.

    ``read``/``readline`` return ``b""`` at the end of the file *and* at a gap (damage); then
    :attr:`gap` says which. :meth:`resume` clears the gap and reading continues at the next
    member that decodes. :meth:`file_offset` maps a decompressed offset to the file offset of
    the member starting there (what WARC indexes such as CDX record).
    """

    FEED = 1 << 14  # compressed bytes per decoder call: little is lost when a call fails
    OUT = 1 << 20  # most decompressed bytes per decoder call (bombs stay bounded)

    def __init__(self, raw: IO[bytes], codec: str | None, head: bytes = b"",
                 limit: int = 1 << 62, size: int | None = None) -> None:
        self.raw, self.codec, self.limit, self.size = raw, codec, limit, size
        self.gap: Damage | None = None
        self._in = head  # raw bytes read from the file but not yet decoded
        self._fed = 0  # file offset of self._in[0]
        self._raw_eof = False
        self._member: Any = None
        self._member_start = 0
        self._produced = 0  # decompressed bytes produced so far
        self._done = False
        self._buf = b""
        self._i = 0
        self._buf_start = 0  # decompressed offset of self._buf[0]
        self._starts: deque[tuple[int, int]] = deque(maxlen=64)  # (decoded, file) member starts
        self._resume_at: bytes | None = None

    # -- raw side -------------------------------------------------------------------------
    def _raw_more(self, need: int) -> None:
        """Make ``self._in`` hold at least ``need`` bytes, or all that is left."""
        while len(self._in) < need and not self._raw_eof:
            chunk = self.raw.read(max(need - len(self._in), 1 << 16))
            if not chunk:
                self._raw_eof = True
            else:
                self._in += chunk

    def _take(self, n: int) -> bytes:
        self._raw_more(1)
        data, self._in = self._in[:n], self._in[n:]
        self._fed += len(data)
        return data

    def _skip(self, n: int) -> None:
        self._in = self._in[n:]
        self._fed += n

    def _unread_raw(self, data: bytes) -> None:
        self._in = data + self._in
        self._fed -= len(data)

    def _unread_bytes(self) -> int | None:
        if self.size is None:
            return None
        return max(0, self.size - self._fed) + len(self._in)

    # -- damage ---------------------------------------------------------------------------
    def _find_member(self, start_note: str, cause: str, offset: int) -> None:
        """Scan for the next member whose first bytes decode; the bytes before it are a gap."""
        magic = _CODEC_MAGIC[self.codec or "gzip"]
        skipped = 0
        while True:
            self._raw_more(1 << 16)
            match = magic.search(self._in)
            if match is None:
                keep = min(len(self._in), _MAGIC_LOOKAHEAD - 1) if not self._raw_eof else 0
                drop = len(self._in) - keep
                skipped += drop
                self._skip(drop)
                if self._raw_eof and not self._in:
                    self._done = True
                    self.gap = Damage(cause, f"{start_note}; skipped {skipped} bytes to the end "
                                      f"of the file (no readable {self.codec} data after it)",
                                      offset, skipped)
                    return
                continue
            skipped += match.start()
            self._skip(match.start())
            if self._trial_decode():
                self.gap = Damage(cause, f"{start_note}; skipped {skipped} bytes to the next "
                                  f"{self.codec} member at byte {self._fed}", offset, skipped)
                return
            skipped += 1
            self._skip(1)

    def _trial_decode(self) -> bool:
        """Whether a member decodes from the start of ``self._in`` (a false magic does not)."""
        self._raw_more(1 << 16)
        try:
            member = _new_member(self.codec or "gzip")
            member.decompress(self._in[: 1 << 16], 1 << 12)
        except _DECODE_ERRORS:
            return False
        return True

    # -- decoded side ---------------------------------------------------------------------
    def _start_member(self) -> bool:
        """Position at the next member; False at the end of the file or at a gap."""
        while True:
            self._raw_more(_MAGIC_LOOKAHEAD)
            stripped = self._in.lstrip(b"\0")  # zero padding between members (tape blocks)
            self._skip(len(self._in) - len(stripped))
            if not stripped:
                if self._raw_eof:
                    self._done = True
                    return False
                continue
            if _CODEC_MAGIC[self.codec or "gzip"].match(self._in):
                self._member = _new_member(self.codec or "gzip")
                self._member_start = self._fed
                self._starts.append((self._produced, self._fed))
                return True
            offset = self._fed
            self._find_member(f"not {self.codec} data: bytes at byte {offset} are not a "
                              f"{self.codec} member", "garbage", offset)
            return False

    def _fill(self) -> bool:
        """Decode more bytes into the buffer; False at the end of the file or at a gap."""
        if self.gap is not None or self._done:
            return False
        if self.codec is None:
            data = self._take(self.OUT)
            if not data:
                self._done = True
                return False
            return self._emit(data)
        idle = 0  # decoder calls that neither took input nor gave output
        while True:
            if self._member is None and not self._start_member():
                return False
            member = self._member
            chunk = b""
            if member.needs_input:
                chunk = self._take(self.FEED)
                if not chunk:
                    self._done = True
                    self.gap = Damage("truncated", f"truncated: the {self.codec} data ends inside "
                                      f"the member that starts at byte {self._member_start}: "
                                      f"{self._fed - self._member_start} bytes of it are in the "
                                      "file, its end is missing", self._member_start)
                    return False
            try:
                out = member.decompress(chunk, self.OUT)
            except _DECODE_ERRORS as error:
                self._member = None
                failed_at = self._fed - len(chunk)
                self._unread_raw(chunk[1:] if failed_at == self._member_start else chunk)
                note = (f"corrupt {self.codec} data: {type(error).__name__}: {error} in the "
                        f"member that starts at byte {self._member_start}")
                self._find_member(note, "corrupt", self._member_start)
                return False
            if member.eof:
                self._unread_raw(member.unused_data)
                self._member = None
            if out:
                return self._emit(out)
            idle = 0 if chunk else idle + 1
            if idle > 1000:  # a decoder that makes no progress: treat the member as corrupt
                self._member = None
                self._find_member(f"corrupt {self.codec} data: the decoder made no progress in "
                                  f"the member that starts at byte {self._member_start}",
                                  "corrupt", self._member_start)
                return False

    def _emit(self, data: bytes) -> bool:
        self._produced += len(data)
        if self._produced > self.limit:
            self._done = True
            left = self._unread_bytes()
            self.gap = Damage("too_large", "decompressed size exceeds input.max_decompressed_bytes="
                              f"{self.limit}; {'the rest' if left is None else left} of the "
                              "file's bytes not read", self._fed)
            return False
        self._buf_start += len(self._buf)
        self._buf, self._i = data, 0
        return True

    def resume(self) -> Damage | None:
        """Clear the gap (returning it) so reading goes on after the damage."""
        gap, self.gap = self.gap, None
        return gap

    def tell(self) -> int:
        return self._buf_start + self._i

    def file_offset(self, decoded: int) -> int | None:
        """File offset of the record at decoded offset ``decoded``: itself for plain files, the
        member's offset when a member starts there, else None."""
        if self.codec is None:
            return decoded
        for produced, offset in reversed(self._starts):
            if produced == decoded:
                return offset
            if produced < decoded:
                break
        return None

    def unread(self, data: bytes) -> None:
        """Push bytes back in front of the stream (format detection peeks, then rewinds)."""
        if not data:
            return
        rest = self._buf[self._i:]
        self._buf_start = self.tell() - len(data)
        self._buf, self._i = data + rest, 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 62
        parts: list[bytes] = []
        while size > 0:
            if self._i >= len(self._buf) and not self._fill():
                break
            piece = self._buf[self._i: self._i + size]
            self._i += len(piece)
            size -= len(piece)
            parts.append(piece)
        return b"".join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        """One line ending in LF (capped at ``size``, or at HEADER_MAX_BYTES when unbounded)."""
        if size is None or size < 0:
            size = HEADER_MAX_BYTES
        parts: list[bytes] = []
        while size > 0:
            if self._i >= len(self._buf) and not self._fill():
                break
            end = self._buf.find(b"\n", self._i, self._i + size)
            stop = end + 1 if end >= 0 else min(len(self._buf), self._i + size)
            piece = self._buf[self._i: stop]
            self._i = stop
            size -= len(piece)
            parts.append(piece)
            if end >= 0:
                break
        return b"".join(parts)

    def readline_any(self, size: int) -> bytes:
        """One line ending in LF, CRLF or a lone CR (old Mac files), capped at ``size``."""
        parts: list[bytes] = []
        while size > 0:
            if self._i >= len(self._buf) and not self._fill():
                break
            window = min(len(self._buf), self._i + size)
            lf = self._buf.find(b"\n", self._i, window)
            cr = self._buf.find(b"\r", self._i, lf if lf >= 0 else window)
            end = cr if cr >= 0 else lf
            stop = end + 1 if end >= 0 else window
            piece = self._buf[self._i: stop]
            self._i = stop
            size -= len(piece)
            parts.append(piece)
            if end >= 0:
                if cr >= 0:  # CRLF counts as one line end
                    if self._i >= len(self._buf):
                        self._fill()
                    if self._buf[self._i: self._i + 1] == b"\n":
                        self._i += 1
                        parts.append(b"\n")
                break
        return b"".join(parts)

    def drain(self) -> int:
        """Read to the end of the readable bytes (not past a gap); the count read."""
        count = 0
        while True:
            chunk = self.read(1 << 20)
            if not chunk:
                return count
            count += len(chunk)


def open_decoded(raw: IO[bytes], path: str, limit: int, size: int | None = None,
                 head: bytes = b"") -> DecodedStream:
    """A :class:`DecodedStream` over ``raw``; the codec is sniffed from the first bytes and only
    falls back to the file name when the bytes do not say (no magic number, and not the start
    of an uncompressed WARC or JSON file either)."""
    if len(head) < _MAGIC_LOOKAHEAD:
        head += raw.read(_MAGIC_LOOKAHEAD - len(head))
    codec = sniff_codec(head) or (None if sniff_format(head) else _split_name(path)[1])
    return DecodedStream(raw, codec, head=head, limit=limit, size=size)


# --------------------------------------------------------------------------- field paths
MISSING = object()  # what get_path returns for an absent field


def get_path(record: Any, path: str) -> Any:
    """The value at a dotted path (``metadata.url``) in nested dicts; a key that itself contains
    dots wins over descending. Returns ``MISSING`` when absent."""
    if not isinstance(record, dict):
        return MISSING
    if path in record:
        return record[path]
    head, dot, rest = path.partition(".")
    while dot:
        if head in record:
            found = get_path(record[head], rest)
            if found is not MISSING:
                return found
        more, dot, rest = rest.partition(".")
        head = f"{head}.{more}"
    return MISSING


class JsonNumber(float):
    """A JSON float that remembers how it was written (``1e30`` stays ``1e30`` as an id)."""

    text: str

    def __new__(cls, text: str) -> "JsonNumber":
        number = super().__new__(cls, text)
        number.text = text
        return number


def _json_default(value: Any) -> Any:
    """orjson fallback for values Parquet and the stdlib parser produce."""
    if isinstance(value, JsonNumber):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (decimal.Decimal, _dt.time, _dt.timedelta)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def to_json(value: Any) -> str:
    """JSON text of a record's metadata; input key order is kept (it is deterministic)."""
    return orjson.dumps(value, default=_json_default,
                        option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def _text_of(value: Any, field: str, raw: bytes = b"", path: str = "") -> str | None:
    """A field value as text: strings as they are, UTF-8 bytes decoded, numeric ids as written,
    dates from timestamps; anything else is a TypeError naming the field."""
    if value is None or value is MISSING:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if field in ("id", "date") and isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, JsonNumber):
            return value.text
        if isinstance(value, float) and raw:
            written = get_path(json.loads(raw, parse_float=JsonNumber), path)
            if isinstance(written, JsonNumber):
                return written.text
            if isinstance(written, int) and not isinstance(written, bool):
                return str(written)  # an integer beyond 64 bits, which orjson reads as a float
        return str(value)
    if field == "date" and isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    raise TypeError(f"field {path or field!r} must be a string, got {type(value).__name__}")


class RecordMapper:
    """Maps a JSON/Parquet record (a dict) to a Doc, using ``input.fields`` (dotted paths) and
    keeping the record's other fields as metadata per ``input.metadata``."""

    def __init__(self, input_config: Any) -> None:
        fields = input_config.fields
        self.paths = {name: getattr(fields, name) for name in ("id", "url", "text", "html", "date")}
        self.metadata = getattr(input_config, "metadata", "all")
        self.mapped = set(self.paths.values())

    def metadata_of(self, record: dict) -> str | None:
        if self.metadata == "none":
            return None
        if self.metadata == "all":
            kept = {k: v for k, v in record.items() if k not in self.mapped}
        else:
            kept = {}
            for path in self.metadata:
                value = get_path(record, path)
                if value is not MISSING:
                    kept[path] = value
        return to_json(kept)

    def safe_metadata(self, record: dict) -> str | None:
        """Metadata JSON, or a note saying why it could not be written (orjson stops at 255
        levels of nesting); never an exception that would end the file."""
        try:
            return self.metadata_of(record)
        except (TypeError, ValueError, RecursionError, OverflowError) as error:
            return to_json({"_unreadable_metadata": f"{type(error).__name__}: {error}"[:500]})

    def __call__(self, record: Any, source: str, position: int, raw: bytes = b"",
                 size: int | None = None, unit: str = "line") -> ReadResult:
        """``position``: where the record starts in its file, in ``unit`` (line or row)."""
        if not isinstance(record, dict):
            return DeadLetter.of(source, READ_STAGE, f"not an object: the record at {unit} "
                                 f"{position} is a {type(record).__name__}", raw)
        paths = self.paths
        values = {name: get_path(record, path) for name, path in paths.items()}
        try:
            doc_id = _text_of(values["id"], "id", raw, paths["id"])
            url = _text_of(values["url"], "url", path=paths["url"]) or ""
            text = _text_of(values["text"], "text", path=paths["text"])
            date = _text_of(values["date"], "date", path=paths["date"])
            html_value = values["html"]
            if html_value is MISSING or html_value is None:
                html = None
            elif isinstance(html_value, str):
                html = html_value.encode("utf-8", "surrogatepass")
            elif isinstance(html_value, (bytes, bytearray, memoryview)):
                html = bytes(html_value)
            else:
                raise TypeError(f"field {paths['html']!r} must be a string, got "
                                f"{type(html_value).__name__}")
        except TypeError as error:
            found = values["id"]
            return DeadLetter.of(source, READ_STAGE, f"wrong field type: {error} ({unit} "
                                 f"{position})", raw,
                                 found if isinstance(found, str) else "")
        except (ValueError, RecursionError) as error:  # the numeric id could not be re-read
            return DeadLetter.of(source, READ_STAGE, f"invalid JSON: {error} ({unit} {position})",
                                 raw)
        content: bytes | str = text if text else (html or b"")
        doc = Doc(id=doc_id or stable_id(url, content), url=url, source=source, date=date,
                  raw_bytes=len(raw) if size is None else size, position=position,
                  metadata=self.safe_metadata(record))
        if text and text.strip():
            doc.text = text
        elif html and html.strip():
            doc.html = html
        else:
            return Rejected(doc=doc, stage=READ_STAGE, reason="empty_record",
                            detail=f"no text in {paths['text']!r} and no html in {paths['html']!r}")
        return doc


# --------------------------------------------------------------------------- JSON
@dataclass(slots=True)
class RawRecord:
    """One record as parsed (``value``), or why it could not be (``error``)."""

    position: int  # 1-based line where the record starts
    value: Any = None
    raw: bytes = b""
    error: str | None = None


def _parse_line(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "64-bit" not in str(error):  # orjson refuses integers beyond 64 bits; json does not
            raise
        return json.loads(body, parse_float=JsonNumber)


def _body(line: bytes) -> bytes:
    body = line.rstrip(b"\r\n")
    return body[len(UTF8_BOM):] if body.startswith(UTF8_BOM) else body


def json_records(stream: DecodedStream, max_record_bytes: int) -> Iterator[RawRecord]:
    """Records of a JSON Lines file, or of a JSON document (one array or one object, possibly
    pretty-printed), told apart by the first lines. Lines end in LF or CRLF; in a lone CR only
    when the first MiB has CRs and no LF at all (old Mac files): elsewhere a CR is data."""
    head = stream.read(1 << 20)
    stream.unread(head)
    cr_only = b"\r" in head and b"\n" not in head
    readline = stream.readline_any if cr_only else stream.readline
    peeked: list[bytes] = []
    bodies: list[bytes] = []
    whole = True  # an oversize first line is JSON Lines damage, not a document
    while len(bodies) < 2 and sum(map(len, peeked)) <= max_record_bytes:
        line = readline(max_record_bytes + 1)
        if not line:
            break
        peeked.append(line)
        if _body(line).strip():
            bodies.append(_body(line).strip())
            whole = whole and (len(line) <= max_record_bytes or line.endswith((b"\n", b"\r")))
    blank = 0
    for line in peeked:
        if _body(line).strip():
            break
        blank += 1
    stream.unread(b"".join(peeked[blank:]))
    if bodies and whole and _looks_like_document(bodies):
        records = _document_records(stream, max_record_bytes, first_line=blank + 1)
        for record in records:
            if record is _NOT_A_DOCUMENT:
                break
            yield record
        else:
            return
    yield from _line_records(stream, max_record_bytes, blank + 1, readline)


def _looks_like_document(bodies: list[bytes]) -> bool:
    """A '[' opens an array; a first line that is not a whole object, followed by a line that
    is not one either, is a pretty-printed object."""
    if bodies[0].startswith(b"["):
        return True
    if not bodies[0].startswith(b"{"):
        return False
    for body in bodies:
        try:
            _parse_line(body)
            return False
        except (orjson.JSONDecodeError, ValueError):
            continue
    return True


def _line_records(stream: DecodedStream, max_record_bytes: int, first_line: int,
                  readline: Callable[[int], bytes]) -> Iterator[RawRecord]:
    line_no = first_line - 1
    while True:
        line = readline(max_record_bytes + 1)
        if not line:
            gap = stream.resume()
            if gap is None:
                return
            yield RawRecord(position=line_no + 1, error=f"{gap.message}; input stream failed "
                            f"after line {line_no}")
            continue
        line_no += 1
        if not line.endswith((b"\n", b"\r")):
            if len(line) > max_record_bytes:
                head = line[:4096]
                while True:  # skip the rest of the oversize line without holding it
                    rest = readline(1 << 20)
                    if not rest or rest.endswith((b"\n", b"\r")):
                        break
                yield RawRecord(position=line_no, raw=head, error=f"record too large: line {line_no} "
                                f"longer than input.max_record_bytes={max_record_bytes}")
                continue
            gap = stream.resume()
            if gap is not None:  # the damage cut this line
                yield RawRecord(position=line_no, raw=line, error=f"{gap.message}; input stream "
                                f"failed at line {line_no}, cut after {len(line)} bytes")
                continue
        body = _body(line)
        if not body.strip():
            continue  # blank separator lines are not records
        try:
            value = _parse_line(body)
        except (orjson.JSONDecodeError, ValueError) as error:
            yield RawRecord(position=line_no, raw=line, error=f"invalid JSON: line {line_no}: {error}")
            continue
        yield RawRecord(position=line_no, value=value, raw=body)


_NOT_A_DOCUMENT = RawRecord(position=0, error="not a JSON document")


def _document_records(stream: DecodedStream, max_record_bytes: int, first_line: int) -> Iterator[RawRecord]:
    """Top-level values of a JSON document, each array's elements one by one, with bounded
    memory per element. If the very first value does not parse, the bytes go back to the
    stream and ``_NOT_A_DOCUMENT`` says to read it as JSON Lines; a later syntax error ends the
    document (its remaining bytes are counted in the dead letter)."""
    decoder = json.JSONDecoder(parse_float=JsonNumber)
    # surrogateescape: the text re-encodes to the exact bytes when falling back to lines
    utf8 = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    text, index, line_no, eof, started = "", 0, first_line, False, False
    depth = 0  # 0: top level, 1: inside a top-level array
    want = 1 << 16

    def more() -> bool:
        nonlocal text, index, eof, want
        if eof:
            return False
        data = stream.read(want)
        want = min(want * 2, max_record_bytes + 1)
        if started:  # before the first value nothing is dropped (it may go back to the stream)
            text, index = text[index:], 0
        if not data:
            eof = True
            text += utf8.decode(b"", final=True)
            return False
        text += utf8.decode(data)
        return True

    def skip_ws() -> str:
        """The next non-blank character ('' at the end), counting lines."""
        nonlocal index, line_no
        while True:
            while index < len(text) and text[index] in " \t\r\n\ufeff":
                if text[index] == "\n":
                    line_no += 1
                index += 1
            if index < len(text):
                return text[index]
            if not more():
                return ""

    def fail(message: str, start_line: int) -> RawRecord:
        rest = len(text[index:].encode("utf-8", "surrogateescape")) + stream.drain()
        gap = stream.resume()
        if gap is not None:
            message = f"{gap.message}; {message}"
        return RawRecord(position=start_line,
                         raw=text[index: index + 4096].encode("utf-8", "surrogateescape"),
                         error=f"{message}; the remaining {rest} bytes of the document were not read")

    while True:
        char = skip_ws()
        if not char:
            if depth:
                yield fail(f"invalid JSON: the array opened before line {line_no} is not closed",
                           line_no)
            elif stream.gap is not None:
                yield fail("input stream failed inside the JSON document", line_no)
            return
        if depth and char == "]":
            depth, index = 0, index + 1
            continue
        if depth and char == ",":
            index += 1
            continue
        if not depth and char == "[":
            depth, index = 1, index + 1
            continue
        start_line = line_no
        while True:
            try:
                value, end = decoder.raw_decode(text, index)
                break
            except (json.JSONDecodeError, RecursionError) as error:
                too_large = len(text) - index > max_record_bytes
                if not too_large and more():
                    continue
                if not started:
                    stream.unread(text.encode("utf-8", "surrogateescape"))
                    yield _NOT_A_DOCUMENT
                    return
                if too_large:
                    yield fail(f"record too large: the value at line {start_line} is longer than "
                               f"input.max_record_bytes={max_record_bytes}", start_line)
                elif isinstance(error, RecursionError):
                    yield fail(f"invalid JSON: the value at line {start_line} is nested too deeply",
                               start_line)
                else:
                    yield fail(f"invalid JSON: line {start_line + error.lineno - 1}: {error.msg}",
                               start_line)
                return
        raw = text[index:end]
        line_no += raw.count("\n")
        index, started, want = end, True, 1 << 16
        if len(raw) > max_record_bytes:
            yield RawRecord(position=start_line, raw=raw[:4096].encode("utf-8", "surrogateescape"),
                            error=f"record too large: the value at line {start_line} is longer than "
                                  f"input.max_record_bytes={max_record_bytes}")
            continue
        yield RawRecord(position=start_line, value=value,
                        raw=raw[:4096].encode("utf-8", "surrogateescape"))


def _mapped(mapper: RecordMapper, record: RawRecord, source: str, unit: str) -> ReadResult:
    """One record mapped; an unexpected error is this record's dead letter, never the file's."""
    try:
        size = len(record.raw) if unit == "line" else _size(record.value)
        return mapper(record.value, source, record.position, record.raw, size, unit)
    except Exception as error:  # noqa: BLE001
        return DeadLetter.of(source, READ_STAGE, f"unmappable record: {unit} {record.position}: "
                             f"{type(error).__name__}: {error}", record.raw)


def read_json(stream: DecodedStream, source: str, mapper: RecordMapper,
              max_record_bytes: int) -> Iterator[ReadResult]:
    for record in json_records(stream, max_record_bytes):
        if record.error is not None:
            yield DeadLetter.of(source, READ_STAGE, record.error, record.raw)
        else:
            yield _mapped(mapper, record, source, "line")


# --------------------------------------------------------------------------- Parquet
def _top_columns(names: list[str], paths: list[str]) -> list[str]:
    """Top-level columns holding the given dotted paths (a column name may contain dots)."""
    wanted: set[str] = set()
    for path in paths:
        if path in names:
            wanted.add(path)
            continue
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:cut])
            if head in names:
                wanted.add(head)
                break
    return [name for name in names if name in wanted]


def parquet_records(stream: IO[bytes], columns: Callable[[list[str]], list[str]] | None,
                    max_record_bytes: int) -> Iterator[RawRecord]:
    """Rows of a Parquet file, one row group at a time; ``position`` is the 0-based row index.
    ``columns`` picks the columns to read from the file's column names (None: all). An
    unreadable row group is one error naming its rows; the next row group is still read."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(stream)
        names = parquet.schema_arrow.names
        groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    except Exception as error:  # noqa: BLE001 - any unreadable file is one dead letter
        yield RawRecord(position=0, error=f"unreadable Parquet: {type(error).__name__}: "
                        f"{_one_line(error)}")
        return
    selected = names if columns is None else columns(names)
    first = 0
    for group, rows in enumerate(groups):
        row = first
        try:
            for batch in parquet.iter_batches(batch_size=256, row_groups=[group], columns=selected):
                for record in batch.to_pylist():
                    if _size(record) > max_record_bytes:
                        yield RawRecord(position=row, error=f"record too large: row {row} larger "
                                        f"than input.max_record_bytes={max_record_bytes}")
                    else:
                        yield RawRecord(position=row, value=record)
                    row += 1
        except Exception as error:  # noqa: BLE001 - a corrupt row group; the next may be fine
            yield RawRecord(position=row, error=f"corrupt Parquet: row group {group} unreadable "
                            f"after row {row}: {type(error).__name__}: {_one_line(error)}; rows {row} to "
                            f"{first + rows - 1} ({first + rows - row} rows) not read")
        first += rows


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _size(value: Any) -> int:
    """Approximate bytes of a row (strings and bytes counted, other values 8)."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return 8


def read_parquet(stream: IO[bytes], source: str, mapper: RecordMapper,
                 max_record_bytes: int) -> Iterator[ReadResult]:
    """Rows of a Parquet file; only the needed columns are read (all when metadata is "all")."""
    columns = None
    if mapper.metadata != "all":
        wanted = list(mapper.paths.values()) + (list(mapper.metadata) if mapper.metadata != "none" else [])
        columns = partial(_top_columns, paths=wanted)
    for record in parquet_records(stream, columns, max_record_bytes):
        if record.error is not None:
            yield DeadLetter.of(source, READ_STAGE, record.error)
        else:
            yield _mapped(mapper, record, source, "row")


# --------------------------------------------------------------------------- WARC / ARC
_ARC_LINE = re.compile(rb"^\S+ \S+ \d{12,14} \S+ \d+\s*$")
_MIME = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+/[!#$%&'*+.^_`|~0-9a-z-]+$")
# Content types that say nothing (WHATWG MIME sniffing: "unknown" types): sniff the body.
_UNKNOWN_MIME = ("", "application/octet-stream", "application/unknown", "unknown/unknown", "*/*")
_SNIFF_BYTES = 1445  # the WHATWG resource header size


def content_type(values: list[str]) -> tuple[str, str | None]:
    """(essence, charset) from one or more Content-Type values, as Fetch's "extract a MIME
    type" does: comma-separated values, the last valid one wins (``text/html, text/html`` is
    text/html). An absent or invalid type gives ``("", None)``."""
    essence, charset = "", None
    for value in ",".join(values).split(","):
        kind, *params = value.split(";")
        kind = kind.strip().lower()
        if not _MIME.match(kind) or kind == "*/*":
            continue
        found = None
        for param in params:
            key, _, raw_value = param.partition("=")
            if key.strip().lower() == "charset" and raw_value.strip():
                found = raw_value.strip().strip("\"'").lower()
        if kind != essence:
            charset = found
        elif found:
            charset = found
        essence = kind
    return essence, charset


def sniff_html(payload: bytes) -> bool:
    """WHATWG MIME sniffing (via ``mimesniff``) of a body that came without a usable type."""
    import mimesniff

    head = payload[:_SNIFF_BYTES]
    for bom in (UTF8_BOM, b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            head = head[len(bom):]
            break
    sniffed = mimesniff.what(head).split(";")[0].strip().lower()
    return sniffed in HTML_TYPES


def _header_values(headers: Any, name: str) -> list[str]:
    name = name.lower()
    return [value for key, value in headers.headers if key.lower() == name]


def _read_full(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes: loops, since a reader may return less than asked before its end."""
    parts: list[bytes] = []
    while size > 0:
        chunk = stream.read(min(size, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _arc_date(stamp: str | None) -> str | None:
    if not stamp or not stamp.isdigit() or len(stamp) < 8:
        return stamp
    stamp = stamp.ljust(14, "0")
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[8:10]}:{stamp[10:12]}:{stamp[12:14]}Z"


class _Pending:
    """A damaged region of a WARC file not yet reported: bytes skipped after ``note``."""

    def __init__(self, offset: int, note: str, raw: bytes = b"", doc_id: str = "") -> None:
        self.offset, self.note, self.raw, self.id, self.skipped = offset, note, raw, doc_id, 0

    def dead_letter(self, source: str) -> DeadLetter:
        tail = f"; {self.skipped} bytes after it skipped to the next record" if self.skipped else ""
        return DeadLetter.of(source, READ_STAGE, f"{self.note}{tail}", self.raw, self.id)


class WarcReader:
    """WARC (0.17-1.1) and ARC records from a :class:`DecodedStream`, using warcio's header
    parsers and content decoding (chunked, Content-Encoding) record by record, with our own
    framing so that garbage, a cut or a corrupt member skips to the next record instead of
    ending the file."""

    def __init__(self, stream: DecodedStream, source: str, max_record_bytes: int,
                 metadata: Any = "all") -> None:
        from warcio.recordloader import ArcWarcRecordLoader

        self.stream, self.source, self.limit, self.metadata = stream, source, max_record_bytes, metadata
        self.loader = ArcWarcRecordLoader(verify_http=False, arc2warc=False)
        self.known: str | None = None  # "warc" or "arc", from the first record

    def _is_start(self, line: bytes) -> bool:
        if self.known != "arc" and line.startswith(b"WARC/") and len(line) < 40:
            return True
        return self.known != "warc" and len(line) < 8192 and bool(_ARC_LINE.match(line))

    def __iter__(self) -> Iterator[ReadResult]:
        from warcio.limitreader import LimitReader

        stream = self.stream
        pending: _Pending | None = None
        while True:
            start = stream.tell()
            line = stream.readline(HEADER_MAX_BYTES)
            if not line:
                gap = stream.resume()
                if gap is None:
                    break
                if pending is None:
                    pending = _Pending(gap.offset, gap.message)
                else:  # the damage is the cause of what came before it
                    pending.note = f"{gap.message}; {pending.note}"
                yield pending.dead_letter(self.source)
                pending = None
                continue
            if not line.strip(b" \t\r\n\0"):  # blank lines and NUL padding between records
                continue
            if not self._is_start(line):
                glued = line.find(b"WARC/", 1)  # stray bytes with no newline before a header
                if glued > 0 and self._is_start(line[glued:]):
                    stream.unread(line[glued:])
                    line = line[:glued]
                    if not line.strip(b" \t\r\n\0"):
                        continue
                if pending is None:
                    pending = _Pending(stream.file_offset(start) or start,
                                       f"not a WARC record: bytes at {self._offset_text(start)} "
                                       "are not a WARC/ARC record header", line[:4096])
                pending.skipped += len(line)
                continue
            if pending is not None:
                yield pending.dead_letter(self.source)
                pending = None
            position = stream.file_offset(start)
            position = start if position is None else position
            try:
                result, pending = self._record(line, start, position, LimitReader)
            except Exception as error:  # noqa: BLE001 - hostile bytes inside warcio: this record only
                result, pending = None, _Pending(position, f"invalid WARC record at "
                                                 f"{self._offset_text(start)}: "
                                                 f"{type(error).__name__}: {error}", line[:4096])
            if result is not None:
                yield result
        if pending is not None:
            yield pending.dead_letter(self.source)

    def _offset_text(self, decoded: int) -> str:
        offset = self.stream.file_offset(decoded)
        return f"byte {offset}" if offset is not None else f"decompressed byte {decoded}"

    def _record(self, first: bytes, start: int, position: int,
                limit_reader: Any) -> tuple[ReadResult | None, _Pending | None]:
        """Parse one record; returns its result, or a pending damage note when the header is
        unusable (the bytes up to the next record header are then counted into it)."""
        from warcio.recordloader import ArcWarcRecord

        stream, where = self.stream, self._offset_text(start)
        header_reader = limit_reader(stream, HEADER_MAX_BYTES)
        is_warc = first.startswith(b"WARC/")
        try:
            parser = self.loader.warc_parser if is_warc else self.loader.arc_parser
            headers = parser.parse(header_reader, first.decode("latin-1"))
        except Exception as error:  # noqa: BLE001 - any header error is this record's damage
            return None, _Pending(position, f"invalid WARC header: record at {where}: "
                                  f"{type(error).__name__}: {error}", first[:4096])
        self.known = self.known or ("warc" if is_warc else "arc")
        get = headers.get_header
        if is_warc:
            rec_type = (get("WARC-Type") or "").strip().lower() or "unknown"
            url = (get("WARC-Target-URI") or "").strip().strip("<>").replace(" ", "%20")
            record_id = (get("WARC-Record-ID") or "").strip().strip("<>")
            date = get("WARC-Date")
            length_text = get("Content-Length")
            block_type = get("Content-Type") or ""
        else:
            url = (get("uri") or "").strip()
            rec_type = "warcinfo" if url.startswith("filedesc://") else "response"
            record_id = ""  # ARC has none; warcio would invent a random one on every run
            date = _arc_date(get("archive-date"))
            length_text = get("length")
            block_type = get("content-type") or ""
        try:
            length = int((length_text or "").strip())
            if length < 0:
                raise ValueError
            length -= 0 if is_warc else headers.total_len  # ARC's filedesc counts its 2 lines
        except ValueError:
            return None, _Pending(position, f"invalid WARC header: record at {where} has "
                                  f"Content-Length {length_text!r}, not a byte count",
                                  first[:4096], record_id)
        block = limit_reader(stream, max(length, 0))
        header_id = record_id or stable_id(url, f"{rec_type}\0{date}\0{length}\0"
                                           f"{get('WARC-Block-Digest') or ''}")
        doc = Doc(id=header_id, url=url, source=self.source, date=date, position=position)
        result = self._classify(rec_type, url, block, block_type, length, doc, bool(record_id),
                                headers, ArcWarcRecord, limit_reader)
        while block.read(1 << 20):  # the rest of the block (not decoded: only counted)
            pass
        if block.limit > 0:  # the bytes ended inside this record
            gap = stream.resume()
            cause = gap.message if gap is not None else "truncated: the file ends"
            return DeadLetter.of(self.source, READ_STAGE, f"{cause}; WARC record at {where} cut: "
                                 f"{block.limit} of its {length} bytes missing",
                                 doc.html or b"", doc.id), None
        return result, None

    def _metadata(self, headers: Any, http: Any) -> str | None:
        if self.metadata == "none":
            return None
        # mapped to columns, or describing the WARC block rather than the page
        mapped = {"warc-record-id", "warc-target-uri", "warc-date", "uri", "archive-date",
                  "warc-type", "content-type", "content-length", "length"}
        record: dict[str, Any] = {}
        for key, value in headers.headers:
            if key.lower() not in mapped:
                record.setdefault(key, value)
        if http is not None:
            record["http_status"] = http.get_statuscode()
            record["http_content_type"] = http.get_header("Content-Type")
        if self.metadata == "all":
            return to_json(record)
        return to_json({path: record[path] for path in self.metadata if path in record})

    def _classify(self, rec_type: str, url: str, block: Any, block_type: str, length: int,
                  doc: Doc, has_id: bool, headers: Any, record_class: Any,
                  limit_reader: Any) -> ReadResult:
        """The record's one result (the caller checks for truncation afterwards)."""
        if rec_type not in ("response", "resource"):
            name = rec_type if rec_type in _WARC_TYPES else "unknown_type"
            return Rejected(doc=doc, stage=READ_STAGE, reason=f"warc_{name}",
                            detail=f"not a response record ({rec_type[:100]})")
        if length == 0:
            return Rejected(doc=doc, stage=READ_STAGE, reason="empty_record",
                            detail=f"empty {rec_type} record")
        http = None
        if rec_type == "response" and url.lower().startswith(("http:", "https:")):
            try:
                http = self.loader.http_parser.parse(limit_reader(block, HEADER_MAX_BYTES))
            except Exception as error:  # noqa: BLE001
                return DeadLetter.of(self.source, READ_STAGE, f"invalid HTTP header: record "
                                     f"{url[:200]}: {type(error).__name__}: {error}", b"", doc.id)
        doc.metadata = self._metadata(headers, http)
        if rec_type == "response" and http is None:
            return Rejected(doc=doc, stage=READ_STAGE, reason="warc_not_http",
                            detail=block_type[:200] or "no HTTP response in the record")
        if http is not None:
            status = (http.get_statuscode() or "").strip()
            if not (status.isdigit() and 200 <= int(status) < 300):
                return Rejected(doc=doc, stage=READ_STAGE, reason="http_status",
                                detail=f"HTTP {http.statusline[:100]}".strip())
            essence, charset = content_type(_header_values(http, "Content-Type"))
        else:
            essence, charset = content_type([block_type])
        record = record_class("warc", rec_type, headers, block, http, essence, length)
        try:
            content = record.content_stream()
            head = _read_full(content, _SNIFF_BYTES) if essence in _UNKNOWN_MIME else b""
            if essence in _UNKNOWN_MIME and not sniff_html(head):
                return Rejected(doc=doc, stage=READ_STAGE, reason="not_html",
                                detail=f"{essence or 'no content type'}; body not HTML")
            if essence not in _UNKNOWN_MIME and essence not in HTML_TYPES:
                return Rejected(doc=doc, stage=READ_STAGE, reason="not_html", detail=essence[:200])
            payload = head + _read_full(content, self.limit + 1 - len(head))
        except Exception as error:  # noqa: BLE001 - broken chunking or Content-Encoding
            return DeadLetter.of(self.source, READ_STAGE, f"invalid HTTP body: record {url[:200]}: "
                                 f"{type(error).__name__}: {error}", b"", doc.id)
        if not has_id:
            doc.id = stable_id(url, payload)
        if len(payload) > self.limit:
            return DeadLetter.of(self.source, READ_STAGE, f"record too large: WARC record {url[:200]} "
                                 f"payload larger than input.max_record_bytes={self.limit}",
                                 payload, doc.id)
        doc.raw_bytes = len(payload)
        if not payload.strip():
            return Rejected(doc=doc, stage=READ_STAGE, reason="empty_record", detail="empty payload")
        doc.html = payload
        doc.charset = charset
        return doc


# --------------------------------------------------------------------------- dispatch
def read_file(stream: IO[bytes], path: str, fmt: str, input_config: Any,
              source: str | None = None, size: int | None = None) -> Iterator[ReadResult]:
    """Every record of one file. ``stream`` is the raw (still compressed) file, ``fmt`` a
    format or ``"auto"`` (magic bytes first, then the file name). ``source`` is the label
    written to the output (default: the file name); ``size`` the file's size, if known."""
    source = source or input_config.source or os.path.basename(path.rstrip("/"))
    limit = input_config.max_record_bytes
    head = stream.read(_MAGIC_LOOKAHEAD)
    by_name = detect_format(path)
    if fmt == "parquet" or fmt in ("auto", None) and (
            head.startswith(b"PAR1") or by_name == "parquet" and sniff_codec(head) is None):
        stream.seek(0)
        yield from read_parquet(stream, source, RecordMapper(input_config), limit)
        return
    decoded = open_decoded(stream, path, input_config.max_decompressed_bytes, size, head)
    if fmt in ("auto", None):
        peek = decoded.read(64)
        decoded.unread(peek)
        fmt = sniff_format(peek) or by_name
    if fmt == "parquet":
        yield DeadLetter.of(source, READ_STAGE, f"unsupported input: {path} is a compressed "
                            f"Parquet file ({decoded.codec}); decompress it first")
    elif fmt == "warc":
        yield from WarcReader(decoded, source, limit, getattr(input_config, "metadata", "all"))
    elif fmt == "jsonl":
        yield from read_json(decoded, source, RecordMapper(input_config), limit)
    elif decoded.read(1) or decoded.gap is not None:
        yield DeadLetter.of(source, READ_STAGE, f"unknown input format: {path}: neither the name "
                            "nor the first bytes say WARC, JSON Lines or Parquet; set input.format "
                            "to one of warc, jsonl, parquet")


__all__ = ["DecodedStream", "Damage", "JsonNumber", "RecordMapper", "WarcReader", "content_type",
           "detect_format", "get_path", "is_supported_name", "json_records", "open_decoded",
           "parquet_records", "read_file", "sniff_codec", "sniff_format", "sniff_html",
           "stable_id"]
