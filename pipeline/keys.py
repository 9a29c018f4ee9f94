"""Keyed records grouped through files instead of a Beam shuffle.

Why: the local runner holds every shuffled element in memory (~350 bytes each, no spilling), and
dedup emits ~19 small records per document (an exact key, 18 LSH band keys): a shuffle of those
grows ~7 KB per document. Here a pass appends each record to its input file's *key file*,
partitioned by a hash of the key; after the pass, one task per partition reads that partition's
row groups from every key file, sorts by key, and yields only the groups someone asked for
(``min_size`` members, or a key with an ``extra``). Memory per task is one partition; the
runner holds only partition numbers and the groups that matter (duplicates, not documents).

Layout: ``<work>/keys/<stage>.<channel>/part-<file>.parquet`` with columns ``partition``
(int32; one partition per row group, named by the column's statistics), ``key``
(fixed-size binary) and ``value`` (pickled). Values keep their write order inside a key group
(files in input order, records in document order), so groups are deterministic on any runner.
"""
from __future__ import annotations

import pickle
from typing import Any, Iterable, Iterator

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from apache_beam.io.filesystems import FileSystems

from pipeline.shards import _tmp_name, ensure_dir

BUFFER_RECORDS = 1 << 18
# ... or this many bytes of keys and pickled values (gathered payloads are kilobytes each).
BUFFER_BYTES = 64 << 20
# Keys of gathered payloads (DecideInputs.gather): a 128-bit digest the caller computes.
GATHER_KEY_BYTES = 16


def key_file(work: str, stage: str, channel: str, file_index: int) -> str:
    return f"{work}/keys/{stage}.{channel}/part-{file_index:05d}.parquet"


def partition_of(key: bytes, partitions: int) -> int:
    return xxhash.xxh64_intdigest(key) % partitions


def _schema(key_bytes: int) -> pa.Schema:
    return pa.schema([("partition", pa.int32()), ("key", pa.binary(key_bytes)),
                      ("value", pa.binary())])


class KeyWriter:
    """One input file's records of one channel -> its key file (always written, maybe empty,
    so a reader can tell "no records" from "file missing")."""

    def __init__(self, path: str, key_bytes: int, partitions: int) -> None:
        self.path, self.key_bytes, self.partitions = path, key_bytes, partitions
        self.schema = _schema(key_bytes)
        self.records = 0
        self._buffer: dict[int, tuple[list[bytes], list[bytes]]] = {}
        self._buffered = self._buffered_bytes = 0
        ensure_dir(path.rpartition("/")[0])
        self._tmp = _tmp_name(path)
        self._handle = FileSystems.create(self._tmp)
        self._writer = pq.ParquetWriter(self._handle, self.schema, compression="zstd",
                                        write_statistics=["partition"])

    def add(self, key: bytes, value: Any) -> None:
        if len(key) != self.key_bytes:
            raise ValueError(f"key of {len(key)} bytes, channel declares {self.key_bytes}")
        keys, values = self._buffer.setdefault(partition_of(key, self.partitions), ([], []))
        pickled = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        keys.append(key)
        values.append(pickled)
        self.records += 1
        self._buffered += 1
        self._buffered_bytes += len(key) + len(pickled)
        if self._buffered >= BUFFER_RECORDS or self._buffered_bytes >= BUFFER_BYTES:
            self._flush()

    def _flush(self) -> None:
        for partition in sorted(self._buffer):
            keys, values = self._buffer[partition]
            table = pa.table({"partition": pa.array([partition] * len(keys), pa.int32()),
                              "key": pa.array(keys, pa.binary(self.key_bytes)),
                              "value": pa.array(values, pa.binary())}, schema=self.schema)
            self._writer.write_table(table, row_group_size=len(keys))
        self._buffer = {}
        self._buffered = self._buffered_bytes = 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._handle.close()
        FileSystems.rename([self._tmp], [self.path])

    def abort(self) -> None:
        try:
            self._writer.close()
            self._handle.close()
            FileSystems.delete([self._tmp])
        except Exception:  # noqa: BLE001 - best effort
            pass


def read_partition(paths: Iterable[str], partition: int, key_bytes: int
                   ) -> tuple[np.ndarray, list[bytes]]:
    """(keys as an (n, key_bytes) uint8 array, pickled values) of one partition, in file order."""
    keys: list[pa.Array] = []
    values: list[bytes] = []
    for path in paths:
        with FileSystems.open(path) as handle:
            parquet = pq.ParquetFile(handle)
            for index in range(parquet.num_row_groups):
                stats = parquet.metadata.row_group(index).column(0).statistics
                if stats is None or not stats.has_min_max:
                    raise RuntimeError(f"{path}: row group {index} has no partition statistics")
                if stats.min != partition:
                    continue
                table = parquet.read_row_group(index, columns=["key", "value"])
                keys.append(table.column("key").combine_chunks())
                values.extend(table.column("value").to_pylist())
    if not keys:
        return np.zeros((0, key_bytes), dtype=np.uint8), []
    array = pa.concat_arrays(keys)
    data = np.frombuffer(array.buffers()[1], dtype=np.uint8,
                         count=len(array) * key_bytes, offset=array.offset * key_bytes)
    return data.reshape(len(array), key_bytes), values


def iter_groups(keys: np.ndarray, values: list[bytes], min_size: int,
                wanted: frozenset[bytes] = frozenset()) -> Iterator[tuple[bytes, list[Any]]]:
    """Key groups with at least ``min_size`` values, or whose key is in ``wanted``; keys in
    byte order, values in their original order (a stable sort). Values are unpickled only for
    the groups yielded: most keys are singletons nobody needs."""
    count = len(values)
    if not count:
        return
    order = np.lexsort(keys.T[::-1])  # first byte most significant; stable
    ordered = keys[order]
    change = np.any(ordered[1:] != ordered[:-1], axis=1)
    starts = np.concatenate(([0], np.flatnonzero(change) + 1))
    ends = np.concatenate((starts[1:], [count]))
    sizes = ends - starts
    for start, end, size in zip(starts.tolist(), ends.tolist(), sizes.tolist()):
        key = ordered[start].tobytes()
        if size >= min_size or key in wanted:
            yield key, [pickle.loads(values[i]) for i in order[start:end].tolist()]


def group_size_histogram(keys: np.ndarray) -> dict[int, int]:
    """{group size: number of groups} over one partition's keys."""
    if not len(keys):
        return {}
    _, sizes = np.unique(keys, axis=0, return_counts=True)
    sizes_of, counts = np.unique(sizes, return_counts=True)
    return {int(s): int(c) for s, c in zip(sizes_of, counts)}


class _ReadGroupsFn(beam.DoFn):
    def __init__(self, paths: list[str], key_bytes: int, min_size: int) -> None:
        self.paths, self.key_bytes, self.min_size = paths, key_bytes, min_size

    def process(self, item: tuple[int, list]) -> Iterator:
        partition, extras = item
        extra: dict[bytes, list] = {}
        for key, value in extras:
            extra.setdefault(key, []).append(value)
        keys, values = read_partition(self.paths, partition, self.key_bytes)
        for key, group in iter_groups(keys, values, self.min_size, frozenset(extra)):
            yield key, group, extra.get(key)


class _HistogramFn(beam.DoFn):
    def __init__(self, paths: list[str], key_bytes: int) -> None:
        self.paths, self.key_bytes = paths, key_bytes

    def process(self, partition: int) -> Iterator[dict[int, int]]:
        keys, _ = read_partition(self.paths, partition, self.key_bytes)
        yield group_size_histogram(keys)


def _merge_histograms(histograms: Iterable[dict[int, int]]) -> dict[int, int]:
    total: dict[int, int] = {}
    for histogram in histograms:
        for size, count in histogram.items():
            total[size] = total.get(size, 0) + count
    return total


class ReadGroups(beam.PTransform):
    """After ``after`` (a PCollection that completes once every key file is written): the
    key groups of a grouped channel, as ``(key, values, extras | None)``."""

    def __init__(self, paths: list[str], key_bytes: int, partitions: int, after: Any,
                 min_size: int = 2, extra: Any = None) -> None:
        super().__init__()
        self.paths, self.key_bytes, self.partitions = paths, key_bytes, partitions
        self.after, self.min_size, self.extra = after, min_size, extra

    def expand(self, pbegin: Any) -> Any:
        partitions = self.partitions
        parts = (self.after
                 | "partitions" >> beam.FlatMap(lambda _: [(p, None) for p in range(partitions)]))
        extra = self.extra
        if extra is None:
            extra = pbegin | "no extras" >> beam.Create([])
        keyed = (extra
                 | "extra to partition" >> beam.MapTuple(
                     lambda key, x: (partition_of(key, partitions), (key, x))))
        # Grouped by partition even without extras: one task per partition however many times
        # a runner delivers the barrier element.
        work = (({"p": parts, "x": keyed})
                | "extras by partition" >> beam.CoGroupByKey()
                | "partition extras" >> beam.MapTuple(lambda p, g: (p, _ordered(g["x"]))))
        return (work
                | "spread partitions" >> beam.Reshuffle()
                | "read groups" >> beam.ParDo(_ReadGroupsFn(self.paths, self.key_bytes,
                                                            self.min_size)))


class GroupSizes(beam.PTransform):
    """One dict {group size: groups} over a whole channel (reads keys only)."""

    def __init__(self, paths: list[str], key_bytes: int, partitions: int, after: Any) -> None:
        super().__init__()
        self.paths, self.key_bytes, self.partitions, self.after = paths, key_bytes, partitions, after

    def expand(self, pbegin: Any) -> Any:
        partitions = self.partitions
        return (self.after
                | "partitions" >> beam.FlatMap(lambda _: [(p, None) for p in range(partitions)])
                | "one per partition" >> beam.GroupByKey()
                | "partition" >> beam.Keys()
                | "histogram" >> beam.ParDo(_HistogramFn(self.paths, self.key_bytes))
                | "merge" >> beam.CombineGlobally(_merge_histograms))


def _ordered(extras: Iterable[tuple[bytes, Any]]) -> list[tuple[bytes, Any]]:
    """A partition's extras in a runner-independent order (GroupByKey order is not)."""
    return sorted(extras, key=lambda kv: (kv[0], pickle.dumps(kv[1], protocol=4)))


def read_stream(paths: list[str]) -> Iterator[tuple[bytes, Any]]:
    """Every (key, value) record of a channel's files, in file order."""
    for path in paths:
        with FileSystems.open(path) as handle:
            table = pq.ParquetFile(handle).read(columns=["key", "value"])
        for key, value in zip(table.column("key").to_pylist(), table.column("value").to_pylist()):
            yield key, pickle.loads(value)
