"""Beam I/O: read any supported input into Docs, and write deterministic Parquet shards.

The sink does not use Beam's WriteToParquet: its shard assignment is random, so two runs would
differ byte for byte. Here a row's shard is ``xxh64(id) % n`` with ``n`` derived from the total
bytes (a side input), and rows are sorted within a shard, so the same input and config give
byte-identical files on every runner. Files go to a staging directory; the driver moves them
into place only after the whole pipeline succeeded (see :mod:`pipeline.outputs`).
"""
from __future__ import annotations

import json
import math
import time
from typing import Any, Callable, Iterable

import apache_beam as beam
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from pipeline.inputs import common_root, file_size, read_path, source_name
from pipeline.readers import READ_STAGE
from stages.base import DEAD_LETTER, REJECTED
from stages.progress import PROGRESS
from stages.record import AUDIT_TEXT_CHARS, DeadLetter, Doc, Rejected

FILE_STATS = "file_stats"

KEPT_SCHEMA = pa.schema([
    ("id", pa.string()), ("url", pa.string()), ("source", pa.string()), ("text", pa.string()),
    ("lang", pa.string()), ("lang_score", pa.float32()), ("token_count", pa.int64()),
    ("date", pa.string()), ("meta", pa.string()), ("metadata", pa.string()), ("position", pa.int64()),
])
REJECTED_SCHEMA = pa.schema([
    ("id", pa.string()), ("url", pa.string()), ("source", pa.string()), ("stage", pa.string()),
    ("reason", pa.string()), ("detail", pa.string()), ("bytes", pa.int64()), ("text", pa.string()),
    ("lang", pa.string()), ("meta", pa.string()), ("position", pa.int64()),
])
DEAD_LETTER_SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("stage", pa.string()), ("error", pa.string()),
    ("raw", pa.binary()),
])


def _meta_json(meta: dict) -> str:
    return orjson.dumps(meta, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                        default=str).decode() if meta else "{}"


def _clean(text: str | None) -> str | None:
    """Parquet needs valid UTF-8; lone surrogates (from broken input) become U+FFFD."""
    if text is None:
        return None
    return text.encode("utf-8", "replace").decode("utf-8")


def kept_row(doc: Doc) -> dict[str, Any]:
    return {"id": doc.id, "url": _clean(doc.url), "source": doc.source, "text": _clean(doc.text),
            "lang": doc.lang, "lang_score": doc.lang_score, "token_count": doc.token_count,
            "date": doc.date, "meta": _meta_json(doc.meta), "metadata": _clean(doc.metadata),
            "position": doc.position}


def rejected_row(rejected: Rejected) -> dict[str, Any]:
    doc = rejected.doc
    text = doc.text[:AUDIT_TEXT_CHARS] if doc.text else None
    return {"id": doc.id, "url": _clean(doc.url), "source": doc.source, "stage": rejected.stage,
            "reason": rejected.reason, "detail": _clean(rejected.detail),
            "bytes": rejected.bytes or doc.raw_bytes, "text": _clean(text), "lang": doc.lang,
            "meta": _meta_json(doc.meta), "position": doc.position}


def dead_letter_row(dead: DeadLetter) -> dict[str, Any]:
    return {"id": _clean(dead.id), "source": dead.source, "stage": dead.stage,
            "error": _clean(dead.error), "raw": dead.raw}


class ReadFileFn(beam.DoFn):
    """Reads one file; every record goes to docs, rejected (stage read) or dead letters."""

    def __init__(self, input_config: Any, root: str = "") -> None:
        self.input_config = input_config
        self.root = root  # `source` is a file's path below it (pipeline.inputs.common_root)
        self.records = Metrics.counter(READ_STAGE, "records")
        self.docs_out = Metrics.counter(READ_STAGE, "docs_out")
        self.bytes_out = Metrics.counter(READ_STAGE, "bytes_out")
        self.bytes_in = Metrics.counter(READ_STAGE, "bytes_in")
        self.micros = Metrics.counter(READ_STAGE, "micros")

    def process(self, path: str) -> Iterable:
        """Times only the reading: downstream stages run inside each ``yield`` (fusion)."""
        results = iter(self._read(path))
        spent = 0.0
        while True:
            started = time.perf_counter()
            try:
                item = next(results)
            except StopIteration:
                spent += time.perf_counter() - started
                break
            spent += time.perf_counter() - started
            PROGRESS.tick(READ_STAGE)
            yield item
        self.micros.inc(int(spent * 1e6))

    def _read(self, path: str) -> Iterable:
        records = 0
        source = source_name(path, self.root)
        for result in read_path(path, self.input_config, self.input_config.source or source):
            records += 1
            yield from self._route(result)
        file_bytes = file_size(path)
        self.records.inc(records)
        self.bytes_in.inc(file_bytes)
        yield TaggedOutput(FILE_STATS, {"path": path, "records": records, "bytes": file_bytes})

    def _route(self, result: Any) -> Iterable:
        if isinstance(result, Doc):
            self.docs_out.inc()
            self.bytes_out.inc(result.size())
            yield result
        elif isinstance(result, Rejected):
            Metrics.counter(READ_STAGE, result.reason).inc()
            result.bytes = result.bytes or result.doc.raw_bytes
            yield TaggedOutput(REJECTED, result)
        else:
            Metrics.counter(READ_STAGE, "dead_letter").inc()
            yield TaggedOutput(DEAD_LETTER, result)


class ReadDocuments(beam.PTransform):
    """Files (already matched, sorted) -> docs, plus rejected, dead letters and per-file stats.

    Only file names are reshuffled, so each file is read by one worker and HTML never crosses
    a shuffle; files spread across workers.
    """

    def __init__(self, files: list[str], input_config: Any) -> None:
        super().__init__()
        self.files = files
        self.input_config = input_config

    def expand(self, pbegin: beam.pvalue.PBegin) -> Any:
        return (pbegin
                | "files" >> beam.Create(self.files)
                | "spread files" >> beam.Reshuffle()
                | "parse" >> beam.ParDo(ReadFileFn(self.input_config, common_root(self.files))).with_outputs(
                    REJECTED, DEAD_LETTER, FILE_STATS, main="docs"))


ROW_GROUP_ROWS = 8192


def shard_of(doc_id: str, shards: int) -> int:
    return xxhash.xxh64_intdigest(doc_id.encode("utf-8", "replace")) % shards


class _WriteShard(beam.DoFn):
    def __init__(self, directory: str, schema: pa.Schema, sort_columns: tuple[str, ...],
                 compression: str) -> None:
        self.directory, self.schema = directory, schema
        self.sort_columns, self.compression = sort_columns, compression

    def process(self, item: tuple[tuple[int, int], Iterable[dict]]) -> Iterable[dict]:
        (shard, shards), rows = item
        rows = sorted(rows, key=lambda row: tuple(
            (row.get(c) if row.get(c) is not None else "") for c in self.sort_columns))
        path = f"{self.directory}/part-{shard:05d}-of-{shards:05d}.parquet"
        # One row group at a time, each row released once written: the shard is held once (as
        # rows), never twice (rows + a whole Arrow table).
        with FileSystems.create(path) as handle, pq.ParquetWriter(
                handle, self.schema, write_statistics=False,
                compression=None if self.compression == "none" else self.compression) as writer:
            for start in range(0, len(rows), ROW_GROUP_ROWS):
                end = min(start + ROW_GROUP_ROWS, len(rows))
                writer.write_table(pa.Table.from_pylist(rows[start:end], schema=self.schema))
                rows[start:end] = [None] * (end - start)
        yield {"path": path, "rows": len(rows)}


class GroupIntoShards(beam.PTransform):
    """Items -> ``((shard, shards), items)``: shards = ceil(total size / target), the total a
    side input; shard = xxh64(id) % shards. The same input always lands in the same shards."""

    def __init__(self, id_of: Callable[[Any], str | None], size_of: Callable[[Any], int],
                 target: int) -> None:
        super().__init__()
        self.id_of, self.size_of, self.target = id_of, size_of, target

    def expand(self, items: beam.PCollection) -> beam.PCollection:
        total = (items | "size" >> beam.Map(self.size_of)
                 | "total size" >> beam.CombineGlobally(sum))
        id_of, target = self.id_of, self.target

        def keyed(item: Any, total_size: int) -> tuple[tuple[int, int], Any]:
            shards = max(1, math.ceil(total_size / target))
            return (shard_of(id_of(item) or "", shards), shards), item

        return (items
                | "assign shard" >> beam.Map(keyed, total_size=beam.pvalue.AsSingleton(total))
                | "group shard" >> beam.GroupByKey())


class WriteParquetShards(beam.PTransform):
    """Rows -> ``<directory>/part-NNNNN-of-MMMMM.parquet``, deterministic, sorted by id."""

    def __init__(self, directory: str, schema: pa.Schema, to_row: Callable[[Any], dict],
                 size_of: Callable[[dict], int], target_shard_bytes: int, compression: str,
                 sort_columns: tuple[str, ...] = ("id",)) -> None:
        super().__init__()
        self.directory, self.schema, self.to_row, self.size_of = directory, schema, to_row, size_of
        self.target, self.compression, self.sort_columns = target_shard_bytes, compression, sort_columns

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return (records
                | "to row" >> beam.Map(self.to_row)
                | "shard" >> GroupIntoShards(lambda row: row["id"], self.size_of, self.target)
                | "write shard" >> beam.ParDo(_WriteShard(self.directory, self.schema,
                                                          self.sort_columns, self.compression)))


class _WriteTokenShard(beam.DoFn):
    def __init__(self, directory: str) -> None:
        self.directory = directory

    def process(self, item: tuple[tuple[int, int], Iterable[tuple[str, Any]]]) -> Iterable[dict]:
        from stages import token_shards

        (shard, shards), docs = item
        docs = list(docs)
        data, index = token_shards.pack_shard(docs, docs[0][1].dtype)
        base = f"{self.directory}/{token_shards.shard_name(shard, shards)}"
        with FileSystems.create(base + token_shards.BIN_SUFFIX) as handle:
            handle.write(data)
        with FileSystems.create(base + token_shards.INDEX_SUFFIX) as handle:
            handle.write(token_shards.index_bytes(index))
        yield {"path": base, "docs": len(docs), "bytes": len(data)}


class WriteTokenShards(beam.PTransform):
    """Docs with ``token_ids`` -> ``<directory>/part-NNNNN-of-MMMMM.{bin,idx.parquet}``.

    Same idea as :class:`WriteParquetShards`: shard = xxh64(id) % n with n from the total token
    count (a side input), documents sorted by id inside a shard, so output is byte-identical.
    """

    def __init__(self, directory: str, tokens_per_shard: int) -> None:
        super().__init__()
        self.directory, self.target = directory, tokens_per_shard

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        pairs = (docs
                 | "with ids" >> beam.Filter(lambda doc: doc.token_ids is not None)
                 | "id and ids" >> beam.Map(lambda doc: (doc.id, doc.token_ids)))
        return (pairs
                | "shard" >> GroupIntoShards(lambda pair: pair[0], lambda pair: len(pair[1]),
                                             self.target)
                | "write shard" >> beam.ParDo(_WriteTokenShard(self.directory)))


def write_json(path: str, value: Any) -> None:
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode())


def read_json(path: str) -> Any:
    """The JSON value at ``path``, or None when there is no such file."""
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as handle:
        return json.loads(handle.read().decode("utf-8"))


class WriteSingleJson(beam.PTransform):
    """A PCollection holding one JSON-able value -> one file."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def expand(self, value: beam.PCollection) -> beam.PCollection:
        path = self.path
        return value | "write json" >> beam.Map(lambda v: write_json(path, v) or path)
