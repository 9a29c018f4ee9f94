"""Record readers for WARC, JSONL and Parquet: plain generators, no Beam.

Each reader yields, for every input record, exactly one of: a :class:`Doc` (to process), a
:class:`Rejected` at stage ``read`` (a readable record that is not a document, e.g. a WARC
request record), or a :class:`DeadLetter` (unreadable). A file that fails part-way yields one
dead letter for the failure and stops; everything read before it still counts. Memory per
record is bounded by ``max_record_bytes``.
"""
from __future__ import annotations

import bz2
import io
import os
import zlib
from typing import IO, Any, Iterator

import orjson
import xxhash

from stages.record import DeadLetter, Doc, Rejected

READ_STAGE = "read"
HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
ReadResult = Doc | Rejected | DeadLetter


def detect_format(path: str) -> str | None:
    """Format from the file name; ``None`` if it cannot be told."""
    name = os.path.basename(path).lower()
    for suffix in (".gz", ".zst", ".zstd", ".bz2"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    if name.endswith((".warc", ".arc")):
        return "warc"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
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


class _BoundedReader(io.RawIOBase):
    """Raises once more than ``limit`` decompressed bytes were read (gzip bombs)."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self.inner, self.limit, self.count = inner, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(min(len(buffer), 1 << 16))  # small reads: little lost on a cut
        self.count += len(data)
        if self.count > self.limit:
            raise IOError(f"decompressed size exceeds input.max_decompressed_bytes={self.limit}")
        buffer[: len(data)] = data
        return len(data)


class _GzipStream(io.RawIOBase):
    """Streaming gzip (multi-member) that hands out every byte decompressed before a
    truncation, then raises: ``gzip.GzipFile.read`` drops the whole chunk it was decoding, so
    the lines just before the cut would be lost."""

    CHUNK = 1 << 16

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self.input = b""
        self.pending = b""
        self.in_member = False
        self.finished = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self.pending and not self.finished:
            if self.decoder.eof:  # next member (or padding) starts in unused_data
                self.input = self.decoder.unused_data + self.input
                self.decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
                self.in_member = False
            if not self.input:
                self.input = self.inner.read(self.CHUNK)
                if not self.input:
                    self.finished = True
                    if self.in_member:
                        raise EOFError("compressed stream ended before its end-of-stream marker "
                                       "(truncated gzip)")
                    return
            if not self.in_member:
                self.input = self.input.lstrip(b"\0")  # zero padding between members
                if not self.input:
                    continue
                self.in_member = True
            self.pending = self.decoder.decompress(self.input, self.CHUNK * 16)
            self.input = self.decoder.unconsumed_tail

    def readinto(self, buffer: Any) -> int:
        self._fill()
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def decompressed(raw: IO[bytes], path: str, limit: int) -> IO[bytes]:
    """A buffered, size-bounded, decompressed view of ``raw`` chosen by the file name."""
    name = path.lower()
    if name.endswith(".gz"):
        inner: IO[bytes] = _GzipStream(raw)
    elif name.endswith((".zst", ".zstd")):
        import zstandard

        inner = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    elif name.endswith(".bz2"):
        inner = bz2.BZ2File(raw)
    else:
        inner = raw
    return io.BufferedReader(_BoundedReader(inner, limit), buffer_size=1 << 20)


def _as_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and field == "id":
        return str(value)
    raise TypeError(f"field {field!r} must be a string, got {type(value).__name__}")


def doc_from_record(record: Any, fields: Any, source: str, raw_size: int,
                    raw: bytes = b"") -> ReadResult:
    """Map one JSONL/Parquet record (a dict) to a Doc, a read-stage reject, or a dead letter."""
    if not isinstance(record, dict):
        return DeadLetter.of(source, READ_STAGE, f"record is a {type(record).__name__}, not an object", raw)
    try:
        doc_id = _as_text(record.get(fields.id), "id")
        url = _as_text(record.get(fields.url), "url") or ""
        text = _as_text(record.get(fields.text), "text")
        date = _as_text(record.get(fields.date), "date")
        html_value = record.get(fields.html)
        if html_value is not None and not isinstance(html_value, (str, bytes)):
            raise TypeError(f"field {fields.html!r} must be a string, got {type(html_value).__name__}")
    except TypeError as error:
        return DeadLetter.of(source, READ_STAGE, error, raw, str(record.get(fields.id, "")))
    html = html_value.encode("utf-8", "surrogatepass") if isinstance(html_value, str) else html_value
    content: bytes | str = text if text else (html or b"")
    doc_id = doc_id if doc_id else stable_id(url, content)
    doc = Doc(id=doc_id, url=url, source=source, date=date, raw_bytes=raw_size)
    if text and text.strip():
        doc.text = text
    elif html and html.strip():
        doc.html = html
    else:
        return Rejected(doc=doc, stage=READ_STAGE, reason="empty_record",
                        detail="no text and no html")
    return doc


def read_jsonl(stream: IO[bytes], source: str, fields: Any, max_record_bytes: int) -> Iterator[ReadResult]:
    """One result per line; malformed lines and oversize lines become dead letters."""
    line_no = 0
    while True:
        try:
            line = stream.readline(max_record_bytes + 1)
        except (OSError, EOFError, ValueError) as error:  # truncated or corrupt compressed stream
            yield DeadLetter.of(source, READ_STAGE, f"input stream failed after line {line_no}: "
                                f"{type(error).__name__}: {error}")
            return
        if not line:
            return
        line_no += 1
        if len(line) > max_record_bytes and not line.endswith(b"\n"):
            head = line[:4096]
            try:
                while True:  # skip the rest of the oversize line without holding it
                    chunk = stream.readline(1 << 20)
                    if not chunk or chunk.endswith(b"\n"):
                        break
            except (OSError, EOFError, ValueError):
                pass
            yield DeadLetter.of(source, READ_STAGE,
                                f"line {line_no} longer than input.max_record_bytes={max_record_bytes}", head)
            continue
        if not line.strip():
            continue  # blank separator lines are not records
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield DeadLetter.of(source, READ_STAGE, f"line {line_no}: invalid JSON: {error}", line)
            continue
        result = doc_from_record(record, fields, source, len(line), line)
        if isinstance(result, DeadLetter):
            result.error = f"line {line_no}: {result.error}"
        yield result


def read_parquet(stream: IO[bytes], source: str, fields: Any, max_record_bytes: int) -> Iterator[ReadResult]:
    """Rows of a Parquet file; only the configured columns are read."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(stream)
        wanted = [f for f in {fields.id, fields.url, fields.html, fields.text, fields.date}
                  if f in parquet.schema_arrow.names]
    except Exception as error:  # noqa: BLE001 - any unreadable file is one dead letter
        yield DeadLetter.of(source, READ_STAGE, f"unreadable Parquet: {type(error).__name__}: {error}")
        return
    row_no = 0
    try:
        for batch in parquet.iter_batches(batch_size=256, columns=sorted(wanted)):
            for record in batch.to_pylist():
                row_no += 1
                size = sum(len(v) for v in record.values() if isinstance(v, (str, bytes)))
                if size > max_record_bytes:
                    yield DeadLetter.of(source, READ_STAGE,
                                        f"row {row_no} larger than input.max_record_bytes={max_record_bytes}")
                    continue
                result = doc_from_record(record, fields, source, size)
                if isinstance(result, DeadLetter):
                    result.error = f"row {row_no}: {result.error}"
                yield result
    except Exception as error:  # noqa: BLE001
        yield DeadLetter.of(source, READ_STAGE, f"Parquet read failed after row {row_no}: "
                            f"{type(error).__name__}: {error}")


def _warc_url(record: Any) -> str:
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    return url.strip().strip("<>")  # wget writes <https://...>


def _http_charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'").lower()
    return None


def read_warc(stream: IO[bytes], source: str, max_record_bytes: int) -> Iterator[ReadResult]:
    """Response (and resource) records with HTML become documents; every other record is a
    read-stage reject naming its type, so the accounting covers the whole file."""
    from warcio.archiveiterator import ArchiveIterator

    count = 0
    try:
        for record in ArchiveIterator(stream, arc2warc=True):
            count += 1
            rec_type = record.rec_type or "unknown"
            url = _warc_url(record)
            record_id = (record.rec_headers.get_header("WARC-Record-ID") or "").strip("<>")
            date = record.rec_headers.get_header("WARC-Date")
            if record.http_headers is not None:
                content_type = record.http_headers.get_header("Content-Type") or ""
            else:
                content_type = record.rec_headers.get_header("Content-Type") or ""
            doc = Doc(id=record_id or stable_id(url, f"{source}#{count}"), url=url,
                      source=source, date=date)
            if rec_type not in ("response", "resource"):
                yield Rejected(doc=doc, stage=READ_STAGE, reason=f"warc_{rec_type}",
                               detail="not a response record")
                continue
            mime = content_type.split(";")[0].strip().lower()
            if rec_type == "response" and record.http_headers is None:
                yield Rejected(doc=doc, stage=READ_STAGE, reason="warc_not_http",
                               detail=content_type[:200])
                continue
            if mime not in HTML_TYPES:
                yield Rejected(doc=doc, stage=READ_STAGE, reason="not_html",
                               detail=mime[:200] or "no content type")
                continue
            payload = record.content_stream().read(max_record_bytes + 1)
            if len(payload) > max_record_bytes:
                yield DeadLetter.of(source, READ_STAGE, f"WARC record {count} payload larger than "
                                    f"input.max_record_bytes={max_record_bytes}", payload, doc.id)
                continue
            missing = getattr(record.raw_stream, "limit", 0) or 0
            if missing > 0:  # the file ended inside this record
                yield DeadLetter.of(source, READ_STAGE, f"WARC record {count} truncated: {missing} "
                                    "bytes of its declared Content-Length missing", payload, doc.id)
                continue
            doc.raw_bytes = len(payload)
            if not payload.strip():
                yield Rejected(doc=doc, stage=READ_STAGE, reason="empty_record", detail="empty payload")
                continue
            doc.html = payload
            doc.charset = _http_charset(content_type)
            yield doc
    except Exception as error:  # noqa: BLE001 - a broken file is one dead letter, not a crash
        yield DeadLetter.of(source, READ_STAGE, f"WARC read failed after record {count}: "
                            f"{type(error).__name__}: {error}")


def read_file(stream: IO[bytes], path: str, fmt: str, input_config: Any) -> Iterator[ReadResult]:
    """Dispatch on format; ``stream`` is the raw (still compressed) file."""
    source = input_config.source or os.path.basename(path)
    limit = input_config.max_record_bytes
    if fmt == "warc":  # warcio decompresses per-record gzip members itself
        yield from read_warc(stream, source, limit)
    elif fmt == "jsonl":
        yield from read_jsonl(decompressed(stream, path, input_config.max_decompressed_bytes),
                              source, input_config.fields, limit)
    elif fmt == "parquet":
        yield from read_parquet(stream, source, input_config.fields, limit)
    else:
        yield DeadLetter.of(source, READ_STAGE, f"unknown input format {fmt!r} for {path}; "
                            "set input.format to one of warc, jsonl, parquet")


__all__ = ["detect_format", "read_file", "stable_id", "doc_from_record"]
