"""Training-ready token shards in the formats trainers read: Megatron-LM and nanoGPT.

One shard (``name`` = ``part-NNNNN-of-MMMMM``, chosen by the sink) is written as files side by
side in one directory (flat, so a sink can move them with one ``*`` match on any filesystem):

- ``<name>.bin`` + ``<name>.idx``: Megatron-LM's indexed dataset (the
  ``MMapIndexedDataset`` / ``IndexedDataset`` "MMIDIDX" layout). ``.bin`` holds every
  document's ids back to back; ``.idx`` is ``b"MMIDIDX\\x00\\x00"``, version ``<Q`` 1, dtype code
  ``<B``, sequence count ``<Q``, document count ``<Q``, then int32 sequence lengths, int64 byte
  pointers into ``.bin`` and int64 document indices ``[0, 1, ..., n]`` (one sequence per
  document, as ``tools/preprocess_data.py`` writes without ``--split-sentences``). The prefix
  ``<dir>/<name>`` is what ``--data-path`` takes. dtype: Megatron's own
  ``DType.optimal_dtype`` rule, ``uint16`` (code 8) when the vocabulary is below 65,500 ids,
  else ``int32`` (code 4); with ``append_eos`` every sequence ends with the EOS id, as
  ``preprocess_data.py --append-eod``.
- ``<name>.nanogpt.bin``: nanoGPT's flat stream (``data/openwebtext/prepare.py``): every
  document's ids followed by the EOS id, little-endian ``uint16`` (vocabulary up to 65,536 ids)
  or ``uint32``; read with ``np.memmap(path, dtype=np.uint16, mode="r")``.
- ``<name>.doc_ids.parquet``: ``id`` and ``tokens`` (ids without EOS) per document, in shard
  order: row *i* is Megatron sequence *i* and the *i*-th EOS-terminated run of the nanoGPT
  stream. Neither trainer format stores document ids; this file traces every sequence back to
  its kept row (and so to the input record).

Documents are ordered by id inside a shard (ties, i.e. repeated ids, by their token bytes), so a
shard's bytes depend only on its set of documents. Documents with no tokens are left out (a
Megatron sequence of length 0, or a bare EOS, teaches nothing). Everything except
:func:`write_shard`'s file writes is pure and unit-tested without Beam.
"""
from __future__ import annotations

import io
import itertools
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

FORMATS: tuple[str, ...] = ("megatron", "nanogpt")
# tokenize.shard_format values -> the formats written.
FORMAT_CHOICES: dict[str, tuple[str, ...]] = {"megatron": ("megatron",), "nanogpt": ("nanogpt",),
                                              "both": ("megatron", "nanogpt")}
# File name suffixes after the shard name.
SUFFIXES = {"megatron_bin": ".bin", "megatron_idx": ".idx", "nanogpt_bin": ".nanogpt.bin",
            "doc_ids": ".doc_ids.parquet"}
MEGATRON_HEADER = b"MMIDIDX\x00\x00"
MEGATRON_VERSION = 1
# Megatron-LM megatron/core/datasets/indexed_dataset.py DType codes.
MEGATRON_DTYPE_CODES = {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5, "float64": 6,
                        "float32": 7, "uint16": 8}
# DType.optimal_dtype: uint16 below this many ids, else int32 (Megatron has no uint32 code).
MEGATRON_UINT16_BELOW = 65500
UINT16_IDS = 65536
DOC_IDS_SCHEMA = pa.schema([("id", pa.string()), ("tokens", pa.int64())])


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """The narrowest unsigned width that holds every id (ids run 0..vocab_size-1)."""
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    if vocab_size <= UINT16_IDS:
        return np.dtype("<u2")
    if vocab_size <= 2**32:
        return np.dtype("<u4")
    raise ValueError(f"vocab_size {vocab_size} does not fit in uint32")


def as_ids(ids: Sequence[int], vocab_size: int) -> np.ndarray:
    """A document's ids in the narrowest dtype (what a Doc carries); refuses ids outside it."""
    dtype = dtype_for_vocab(vocab_size)
    array = np.asarray(ids, dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() >= vocab_size):
        raise ValueError(f"token id outside vocabulary of {vocab_size}")
    return array.astype(dtype)


@dataclass(frozen=True)
class ShardSettings:
    """Run-wide shard choices, fixed before any shard is written so every shard agrees."""

    formats: tuple[str, ...]
    # Largest token id + 1 (the tokenizer's vocabulary, or train.vocab_size for a model trained
    # in the run: an upper bound known before training).
    id_bound: int
    eos_id: int | None
    # End every Megatron sequence with EOS (preprocess_data.py --append-eod).
    megatron_eos: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.formats) - set(FORMATS)
        if unknown or not self.formats:
            raise ValueError(f"shard formats must be among {FORMATS}, got {self.formats}")
        dtype_for_vocab(self.id_bound)
        needs_eos = "nanogpt" in self.formats or ("megatron" in self.formats and self.megatron_eos)
        if needs_eos and self.eos_id is None:
            raise ValueError("these shard formats need an EOS id and the tokenizer has none")
        if self.eos_id is not None and not 0 <= self.eos_id < self.id_bound:
            raise ValueError(f"EOS id {self.eos_id} outside the vocabulary of {self.id_bound}")

    @classmethod
    def from_report(cls, token_ids: dict[str, Any]) -> "ShardSettings":
        """The settings a run used, from its report's ``token_ids`` (see :meth:`describe`)."""
        megatron = token_ids.get("megatron") or {}
        return cls(formats=tuple(token_ids["formats"]), id_bound=int(token_ids["id_bound"]),
                   eos_id=token_ids.get("eos_id"),
                   megatron_eos=bool(megatron.get("eos_ends_each_document", False)))

    @property
    def megatron_dtype(self) -> np.dtype:
        return np.dtype("<u2") if self.id_bound < MEGATRON_UINT16_BELOW else np.dtype("<i4")

    @property
    def nanogpt_dtype(self) -> np.dtype:
        return np.dtype("<u2") if self.id_bound <= UINT16_IDS else np.dtype("<u4")

    def describe(self) -> dict[str, Any]:
        """The report's view: formats, dtypes and EOS use, so a reader never guesses a width."""
        out: dict[str, Any] = {"formats": list(self.formats), "eos_id": self.eos_id,
                               "id_bound": self.id_bound}
        if "megatron" in self.formats:
            out["megatron"] = {"dtype": self.megatron_dtype.name,
                               "dtype_code": MEGATRON_DTYPE_CODES[self.megatron_dtype.name],
                               "eos_ends_each_document": self.megatron_eos,
                               "files": "part-*.bin + part-*.idx (prefix = path without .idx)"}
        if "nanogpt" in self.formats:
            out["nanogpt"] = {"dtype": self.nanogpt_dtype.name, "eos_after_each_document": True,
                              "files": "part-*.nanogpt.bin"}
        out["doc_ids"] = "part-*.doc_ids.parquet"
        return out


def shard_name(shard: int, shards: int) -> str:
    return f"part-{shard:05d}-of-{shards:05d}"


def order_docs(docs: Iterable[tuple[str, Any]]) -> list[tuple[str, np.ndarray]]:
    """(id, ids) pairs with at least one token, sorted by id; repeated ids by their token bytes."""
    by_id = sorted(((doc_id, np.asarray(tokens)) for doc_id, tokens in docs),
                   key=lambda item: item[0])
    ordered: list[tuple[str, np.ndarray]] = []
    # Only documents sharing an id (rare) get a byte key: keys for all of them at once would
    # copy the whole shard's tokens.
    for _, same_id in itertools.groupby(by_id, key=lambda item: item[0]):
        group = [item for item in same_id if item[1].size]
        if len(group) > 1:
            group.sort(key=lambda item: item[1].astype("<u4").tobytes())
        ordered.extend(group)
    return ordered


def megatron_index(lengths: Sequence[int], dtype: np.dtype | str) -> bytes:
    """The ``.idx`` bytes for sequences of these lengths (one sequence per document)."""
    dtype = np.dtype(dtype)
    code = MEGATRON_DTYPE_CODES[dtype.name]
    sizes = np.asarray(lengths, dtype=np.int64)
    if sizes.size and (sizes.min() < 0 or sizes.max() > np.iinfo(np.int32).max):
        raise ValueError("a Megatron sequence length must fit int32")
    pointers = np.zeros(sizes.size, dtype=np.int64)
    if sizes.size > 1:
        np.cumsum(sizes[:-1] * dtype.itemsize, out=pointers[1:])
    documents = np.arange(sizes.size + 1, dtype=np.int64)
    return b"".join([MEGATRON_HEADER, struct.pack("<Q", MEGATRON_VERSION), struct.pack("<B", code),
                     struct.pack("<Q", sizes.size), struct.pack("<Q", documents.size),
                     sizes.astype("<i4").tobytes(), pointers.astype("<i8").tobytes(),
                     documents.astype("<i8").tobytes()])


def doc_ids_bytes(ids: Sequence[str], lengths: Sequence[int]) -> bytes:
    """The doc_ids Parquet (no statistics, so bytes depend only on the rows)."""
    table = pa.Table.from_pydict({"id": list(ids), "tokens": list(lengths)}, schema=DOC_IDS_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    return sink.getvalue()


def _cast(doc_id: str, tokens: np.ndarray, dtype: np.dtype, bound: int) -> np.ndarray:
    if tokens.size and (int(tokens.min()) < 0 or int(tokens.max()) >= bound):
        raise ValueError(f"document {doc_id}: token id outside the vocabulary of {bound}")
    return tokens.astype(dtype, copy=False)


def shard_files(directory: str, name: str, formats: Sequence[str]) -> dict[str, str]:
    """Paths a shard's files are written to, by role."""
    roles = ["doc_ids"] + (["megatron_bin", "megatron_idx"] if "megatron" in formats else []) + (
        ["nanogpt_bin"] if "nanogpt" in formats else [])
    return {role: FileSystems.join(directory, name + SUFFIXES[role]) for role in roles}


class ShardWriter:
    """One shard written document by document (each ``.bin`` streamed; the ``.idx`` and the
    doc ids at :meth:`close`): memory is the lengths and ids, never the tokens."""

    def __init__(self, directory: str, name: str, settings: ShardSettings) -> None:
        self.name, self.settings = name, settings
        self.paths = shard_files(directory, name, settings.formats)
        self.ids: list[str] = []
        self.lengths: list[int] = []
        self.meg_eos = "megatron" in settings.formats and settings.megatron_eos
        eos = settings.eos_id
        self.handles: dict[str, Any] = {}
        self.tails: dict[str, bytes] = {}
        if "megatron" in settings.formats:
            self.handles["megatron_bin"] = FileSystems.create(self.paths["megatron_bin"])
            self.tails["megatron_bin"] = (np.asarray([eos], dtype=settings.megatron_dtype).tobytes()
                                          if self.meg_eos else b"")
        if "nanogpt" in settings.formats:
            self.handles["nanogpt_bin"] = FileSystems.create(self.paths["nanogpt_bin"])
            self.tails["nanogpt_bin"] = np.asarray([eos], dtype=settings.nanogpt_dtype).tobytes()

    def add(self, doc_id: str, tokens: Any) -> None:
        """One document's ids (without BOS/EOS); documents without tokens are left out."""
        tokens = np.asarray(tokens)
        if not tokens.size:
            return
        bound = self.settings.id_bound
        for role, handle in self.handles.items():
            dtype = self.settings.megatron_dtype if role == "megatron_bin" else self.settings.nanogpt_dtype
            handle.write(_cast(doc_id, tokens, dtype, bound).tobytes() + self.tails[role])
        self.ids.append(doc_id)
        self.lengths.append(int(tokens.size))

    def close(self) -> dict[str, Any]:
        for handle in self.handles.values():
            handle.close()
        written: dict[str, int] = {}
        lengths, settings = self.lengths, self.settings
        if "megatron" in settings.formats:
            dtype = settings.megatron_dtype
            index = megatron_index([n + (1 if self.meg_eos else 0) for n in lengths], dtype)
            with FileSystems.create(self.paths["megatron_idx"]) as handle:
                handle.write(index)
            written["megatron_bin"] = (sum(lengths) + (len(lengths) if self.meg_eos else 0)) * dtype.itemsize
            written["megatron_idx"] = len(index)
        if "nanogpt" in settings.formats:
            written["nanogpt_bin"] = (sum(lengths) + len(lengths)) * settings.nanogpt_dtype.itemsize
        ids = doc_ids_bytes(self.ids, lengths)
        with FileSystems.create(self.paths["doc_ids"]) as handle:
            handle.write(ids)
        written["doc_ids"] = len(ids)
        return {"name": self.name, "docs": len(lengths), "tokens": sum(lengths),
                "files": {self.paths[role]: size for role, size in written.items()}}

    def abort(self) -> None:
        for handle in self.handles.values():
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - best effort
                pass


def write_shard(docs: Iterable[tuple[str, Any]], directory: str, name: str,
                settings: ShardSettings) -> dict[str, Any]:
    """Write one shard's files under ``directory`` (any Beam filesystem); return its stats.
    ``docs`` are (document id, token ids without BOS/EOS), written sorted by id."""
    writer = ShardWriter(directory, name, settings)
    for doc_id, tokens in order_docs(docs):
        writer.add(doc_id, tokens)
    return writer.close()


# --------------------------------------------------------------------------- reading back

def read_doc_ids(path: str | Path) -> tuple[list[str], list[int]]:
    table = pq.read_table(str(path))
    return table.column("id").to_pylist(), table.column("tokens").to_pylist()


def read_megatron(prefix: str | Path) -> Iterator[np.ndarray]:
    """Every sequence of ``<prefix>.bin`` via ``<prefix>.idx`` (read-only memory map)."""
    index = Path(f"{prefix}.idx").read_bytes()
    if index[:9] != MEGATRON_HEADER or struct.unpack_from("<Q", index, 9)[0] != MEGATRON_VERSION:
        raise ValueError(f"{prefix}.idx is not a Megatron MMIDIDX version 1 index")
    code = index[17]
    dtype = np.dtype(next(d for d, c in MEGATRON_DTYPE_CODES.items() if c == code)).newbyteorder("<")
    count = struct.unpack_from("<Q", index, 18)[0]
    sizes = np.frombuffer(index, dtype="<i4", count=count, offset=34)
    pointers = np.frombuffer(index, dtype="<i8", count=count, offset=34 + 4 * count)
    data = _memmap(Path(f"{prefix}.bin"), dtype)
    for size, pointer in zip(sizes.tolist(), pointers.tolist()):
        start = pointer // dtype.itemsize
        yield data[start: start + size]


def _memmap(path: Path, dtype: np.dtype) -> np.ndarray:
    if path.stat().st_size == 0:  # np.memmap refuses empty files
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")


def read_tokens(directory: str | Path, settings: ShardSettings | None = None,
                fmt: str = "megatron") -> Iterator[tuple[str, np.ndarray]]:
    """(document id, ids without EOS) of every shard under ``directory``, shard by shard.

    ``fmt`` picks the files read back (``megatron`` or ``nanogpt``); the nanoGPT stream is cut
    by the doc_ids lengths (not by searching EOS), and each document's EOS is checked.
    """
    directory = Path(directory)
    for ids_path in sorted(directory.glob("part-*" + SUFFIXES["doc_ids"])):
        name = ids_path.name[: -len(SUFFIXES["doc_ids"])]
        ids, lengths = read_doc_ids(ids_path)
        if fmt == "megatron":
            sequences = read_megatron(directory / name)
            for doc_id, length, sequence in zip(ids, lengths, sequences, strict=True):
                if settings is not None and settings.megatron_eos and (
                        len(sequence) != length + 1 or int(sequence[-1]) != settings.eos_id):
                    raise ValueError(f"{name}: document {doc_id} does not end with EOS")
                yield doc_id, sequence[:length]
        elif fmt == "nanogpt":
            dtype = settings.nanogpt_dtype if settings else np.dtype("<u2")
            stream = _memmap(directory / (name + SUFFIXES["nanogpt_bin"]), dtype)
            offset = 0
            for doc_id, length in zip(ids, lengths):
                if settings is not None and int(stream[offset + length]) != settings.eos_id:
                    raise ValueError(f"{name}: document {doc_id} is not followed by EOS")
                yield doc_id, stream[offset: offset + length]
                offset += length + 1
        else:
            raise ValueError(f"unknown shard format {fmt!r}; expected one of {FORMATS}")
