"""Training-ready token shards: flat binary ids plus a Parquet index of document offsets.

Layout of one shard (``<dir>/part-NNNNN-of-MMMMM``):

- ``.bin``: the token ids of every document in the shard, concatenated, little-endian,
  ``uint16`` when the vocabulary has at most 65,536 pieces, else ``uint32`` (what nanoGPT /
  Megatron-style loaders memory-map directly).
- ``.idx.parquet``: one row per document, sorted by id: ``id``, ``offset`` (in tokens, not
  bytes), ``length`` (tokens). The file's schema metadata carries ``dtype`` so a reader never
  guesses the width.

Everything here is pure (bytes and tables in, bytes and tables out) so it is unit-tested
without Beam; :mod:`pipeline.io` only decides which documents go to which shard.
"""
from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

UINT16_MAX_VOCAB = 65536
INDEX_SCHEMA = pa.schema([("id", pa.string()), ("offset", pa.int64()), ("length", pa.int64())])
BIN_SUFFIX, INDEX_SUFFIX = ".bin", ".idx.parquet"


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """The narrowest unsigned width that holds every id (ids run 0..vocab_size-1)."""
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    if vocab_size <= UINT16_MAX_VOCAB:
        return np.dtype("<u2")
    if vocab_size <= 2**32:
        return np.dtype("<u4")
    raise ValueError(f"vocab_size {vocab_size} does not fit in uint32")


def as_ids(ids: Sequence[int], vocab_size: int) -> np.ndarray:
    """A document's ids as the shard dtype; refuses ids outside the vocabulary."""
    dtype = dtype_for_vocab(vocab_size)
    array = np.asarray(ids, dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() >= vocab_size):
        raise ValueError(f"token id outside vocabulary of {vocab_size}")
    return array.astype(dtype)


def pack_shard(docs: Iterable[tuple[str, np.ndarray]], dtype: np.dtype | str) -> tuple[bytes, pa.Table]:
    """(id, ids) pairs -> (.bin bytes, index table), sorted by (id, ids) so order never matters."""
    dtype = np.dtype(dtype).newbyteorder("<")
    if dtype not in (np.dtype("<u2"), np.dtype("<u4")):
        raise ValueError(f"token shards hold uint16 or uint32 ids, not {dtype}")
    by_id = sorted(((doc_id, np.asarray(tokens)) for doc_id, tokens in docs),
                   key=lambda item: item[0])
    # Same order as sorting by (id, token bytes), but only documents sharing an id (rare) get a
    # byte key: keys for all of them at once would copy the whole shard's tokens.
    ordered: list[tuple[str, np.ndarray]] = []
    for _, same_id in itertools.groupby(by_id, key=lambda item: item[0]):
        group = list(same_id)
        if len(group) > 1:
            group.sort(key=lambda item: item[1].astype("<u4").tobytes())
        ordered.extend(group)
    ids, offsets, lengths = [], [], []
    offset = 0
    for doc_id, tokens in ordered:
        if tokens.size and int(tokens.max()) > np.iinfo(dtype).max:
            raise ValueError(f"document {doc_id}: token id {int(tokens.max())} does not fit {dtype.name}")
        ids.append(doc_id)
        offsets.append(offset)
        lengths.append(int(tokens.size))
        offset += int(tokens.size)
    flat = (np.concatenate([tokens.astype(dtype) for _, tokens in ordered])
            if ordered else np.zeros(0, dtype=dtype))
    table = pa.Table.from_pydict({"id": ids, "offset": offsets, "length": lengths},
                                 schema=INDEX_SCHEMA)
    table = table.replace_schema_metadata({"dtype": dtype.str, "format": "token-shard-v1"})
    return flat.tobytes(), table


def index_bytes(table: pa.Table) -> bytes:
    """The index table as Parquet bytes (uncompressed columns are tiny; no statistics -> stable)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    return sink.getvalue()


def shard_name(shard: int, shards: int) -> str:
    return f"part-{shard:05d}-of-{shards:05d}"


def read_index(path: str | Path) -> tuple[pa.Table, np.dtype]:
    table = pq.read_table(str(path))
    meta = table.schema.metadata or {}
    return table, np.dtype(meta[b"dtype"].decode())


def read_shard(bin_path: str | Path) -> Iterator[tuple[str, np.ndarray]]:
    """(id, ids) for every document of one shard, via a read-only memory map of the .bin."""
    bin_path = Path(bin_path)
    index_path = bin_path.with_name(bin_path.name[: -len(BIN_SUFFIX)] + INDEX_SUFFIX)
    table, dtype = read_index(index_path)
    if bin_path.stat().st_size == 0:
        flat = np.zeros(0, dtype=dtype)
    else:
        flat = np.memmap(bin_path, dtype=dtype, mode="r")
    for doc_id, offset, length in zip(table.column("id").to_pylist(),
                                      table.column("offset").to_pylist(),
                                      table.column("length").to_pylist()):
        yield doc_id, flat[offset: offset + length]


def read_tokens(directory: str | Path) -> Iterator[tuple[str, np.ndarray]]:
    """Every document of every shard under ``directory``, shard by shard, in file order."""
    for bin_path in sorted(Path(directory).glob(f"part-*{BIN_SUFFIX}")):
        yield from read_shard(bin_path)
