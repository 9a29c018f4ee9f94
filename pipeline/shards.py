"""Parquet files a pass writes and reads: streamed row groups, atomic renames, any filesystem.

Why files: documents never cross a Beam shuffle. A pass writes each input file's surviving
documents to a shard of its own (``work/seg<k>/part-<file>.parquet``), the next pass streams it
back; the final pass writes the kept/rejected/dead-letter outputs the same way. Memory per
writer is one row group; a file appears under its final name only once complete (written under
a temporary name, then renamed), so a reader - or ``--resume`` - never sees half a file.
"""
from __future__ import annotations

import dataclasses
import os
import uuid
from typing import Any, Callable, Iterable, Iterator, Sequence

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from stages.record import Doc

ROW_GROUP_ROWS = 4096
ROW_GROUP_BYTES = 64 << 20

# Doc field annotation -> (Arrow type, to-column, from-column). ``token_ids`` never goes to an
# intermediate shard: it is set by the last pass, which writes token shards itself.
_JSON = ("json",)


def _json_dump(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                        default=str).decode()


def _arrow_type(annotation: str) -> Any:
    base = annotation.replace(" ", "").replace("|None", "")
    if base == "str":
        return pa.string()
    if base == "bytes":
        return pa.binary()
    if base == "float":
        return pa.float64()
    if base == "int":
        return pa.int64()
    if base == "bool":
        return pa.bool_()
    if base.startswith("dict[") or base.startswith("list["):
        return _JSON
    raise TypeError(f"Doc field annotation {annotation!r} has no shard column type; "
                    "extend pipeline/shards.py when adding a Doc field of a new type")


DOC_FIELDS: list[tuple[str, Any]] = [
    (f.name, _arrow_type(str(f.type))) for f in dataclasses.fields(Doc) if f.name != "token_ids"]
DOC_SCHEMA = pa.schema([(name, pa.string() if kind is _JSON else kind) for name, kind in DOC_FIELDS])
_JSON_FIELDS = frozenset(name for name, kind in DOC_FIELDS if kind is _JSON)
# Non-optional Doc fields with a default: a null cell (an older shard) reads back as the default.
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Doc)
             if f.default is not dataclasses.MISSING and f.default is not None}


def _valid(text: Any) -> Any:
    """Parquet needs valid UTF-8; lone surrogates (from broken input) become U+FFFD."""
    if isinstance(text, str):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return text.encode("utf-8", "replace").decode("utf-8")
    return text


def doc_row(doc: Doc) -> dict[str, Any]:
    """A Doc as one intermediate-shard row."""
    row = {}
    for name, _ in DOC_FIELDS:
        value = getattr(doc, name)
        row[name] = _json_dump(value) if name in _JSON_FIELDS else _valid(value)
    return row


def row_doc(row: dict[str, Any]) -> Doc:
    """Inverse of :func:`doc_row`."""
    values = {}
    for name, _ in DOC_FIELDS:
        value = row.get(name)
        if name in _JSON_FIELDS:
            value = orjson.loads(value) if value else ({} if name == "meta" else None)
        elif value is None and name in _DEFAULTS:
            value = _DEFAULTS[name]
        values[name] = value
    return Doc(**values)


_TMP_MARK = ".tmp-"


def _tmp_name(path: str) -> str:
    """Where a writer builds ``path`` before renaming it into place (see :func:`is_tmp_name`)."""
    head, _, tail = path.rpartition("/")
    return f"{head}/.{tail}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"


def is_tmp_name(name: str) -> bool:
    """A file name :func:`_tmp_name` makes: a writer's unfinished file, never a result."""
    return name.startswith(".") and _TMP_MARK in name


def ensure_dir(path: str) -> None:
    """Create a folder if missing; another worker creating it at the same moment is fine."""
    if FileSystems.exists(path):
        return
    try:
        FileSystems.mkdirs(path)
    except OSError:
        if not FileSystems.exists(path):
            raise


class RowWriter:
    """Rows -> one Parquet file, a row group at a time; the file exists (under ``path``) only
    after :meth:`close` and only if a row was written. ``rows``/``bytes`` count what went in."""

    def __init__(self, path: str, schema: pa.Schema, compression: str = "zstd",
                 size_of: Callable[[dict], int] | None = None) -> None:
        self.path, self.schema = path, schema
        self.compression = None if compression == "none" else compression
        self.size_of = size_of or (lambda row: 0)
        self.rows = 0
        self._buffer: list[dict] = []
        self._buffered_bytes = 0
        self._handle: Any = None
        self._writer: pq.ParquetWriter | None = None
        self._tmp: str | None = None

    def write(self, row: dict) -> None:
        self._buffer.append(row)
        self.rows += 1
        self._buffered_bytes += self.size_of(row)
        if len(self._buffer) >= ROW_GROUP_ROWS or self._buffered_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        if self._writer is None:
            ensure_dir(self.path.rpartition("/")[0])
            self._tmp = _tmp_name(self.path)
            self._handle = FileSystems.create(self._tmp)
            self._writer = pq.ParquetWriter(self._handle, self.schema, compression=self.compression,
                                            write_statistics=False)
        self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=self.schema))
        self._buffer = []
        self._buffered_bytes = 0

    def close(self) -> None:
        """Flush, close and rename into place (no file when nothing was written)."""
        self._flush()
        if self._writer is None:
            return
        self._writer.close()
        self._handle.close()
        FileSystems.rename([self._tmp], [self.path])
        self._writer = self._handle = None

    def abort(self) -> None:
        """Drop a partly written file (the pass failed)."""
        try:
            if self._writer is not None:
                self._writer.close()
                self._handle.close()
                FileSystems.delete([self._tmp])
        except Exception:  # noqa: BLE001 - best effort; a rerun overwrites it
            pass
        self._writer = self._handle = None


def iter_rows(path: str, columns: Sequence[str] | None = None) -> Iterator[dict]:
    """Rows of a Parquet file, a row group at a time (bounded memory)."""
    with FileSystems.open(path) as handle:
        parquet = pq.ParquetFile(handle)
        for index in range(parquet.num_row_groups):
            yield from parquet.read_row_group(index, columns=columns).to_pylist()


def iter_docs(path: str) -> Iterator[Doc]:
    for row in iter_rows(path):
        yield row_doc(row)


def read_docs_at(path: str, rows: Iterable[int], columns: Sequence[str] | None = None
                 ) -> Iterator[tuple[int, Doc]]:
    """(row, Doc) for the given row numbers, reading only the row groups that hold them."""
    wanted = sorted(set(rows))
    if not wanted:
        return
    with FileSystems.open(path) as handle:
        parquet = pq.ParquetFile(handle)
        start = 0
        position = 0
        for index in range(parquet.num_row_groups):
            count = parquet.metadata.row_group(index).num_rows
            end = start + count
            if position < len(wanted) and wanted[position] < end:
                table = parquet.read_row_group(index, columns=columns).to_pylist()
                while position < len(wanted) and wanted[position] < end:
                    yield wanted[position], row_doc(table[wanted[position] - start])
                    position += 1
            start = end
            if position >= len(wanted):
                break


def write_doc_shard(docs: Iterable[Doc], path: str) -> str:
    """Documents as a pipeline document shard (``input.format: docs``), in the given order: how
    a test or an evaluation feeds documents it made to the stages it wants to run."""
    writer = RowWriter(path, DOC_SCHEMA)
    for doc in docs:
        writer.write(doc_row(doc))
    writer.close()
    return path


def count_rows(path: str) -> int:
    """Rows in a Parquet file, from its footer only (the evidence check reads no data)."""
    with FileSystems.open(path) as handle:
        return pq.ParquetFile(handle).metadata.num_rows


def list_files(pattern: str) -> list[str]:
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # noqa: BLE001 - no match
        return []


__all__ = ["DOC_SCHEMA", "RowWriter", "count_rows", "doc_row", "ensure_dir", "is_tmp_name",
           "iter_docs", "iter_rows", "list_files", "read_docs_at", "row_doc"]
