"""Token shards: Megatron-LM indexed dataset and nanoGPT flat stream, read back independently.

The readers below are written from the formats' specifications, not from stages.token_shards:
Megatron-LM ``megatron/core/datasets/indexed_dataset.py`` (``_IndexReader``: 9-byte magic
``MMIDIDX\\0\\0``, ``<Q`` version 1, ``<B`` dtype code, ``<Q`` sequence count, ``<Q`` document
count, int32 lengths, int64 byte pointers, int64 document indices; ``IndexedDataset[i]`` reads
``length`` items of the code's dtype at ``pointer`` in ``.bin``) and nanoGPT's ``train.py``
(``np.memmap(path, dtype=np.uint16, mode="r")`` over ids with the EOS after every document).
"""
from __future__ import annotations

import gzip
import json
import mmap
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from stages import token_shards
from stages.token_shards import ShardSettings
from tests.conftest import shared_path

# Megatron-LM DType enum: uint8=1 int8=2 int16=3 int32=4 int64=5 float64=6 float32=7 uint16=8.
SPEC_DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64,
               7: np.float32, 8: np.uint16}


def spec_read_megatron(prefix: Path) -> dict:
    """Megatron's _IndexReader + IndexedDataset.__getitem__, from the layout description."""
    with open(f"{prefix}.idx", "rb") as stream:
        magic = stream.read(9)
        (version,) = struct.unpack("<Q", stream.read(8))
        (code,) = struct.unpack("<B", stream.read(1))
        (sequence_count,) = struct.unpack("<Q", stream.read(8))
        (document_count,) = struct.unpack("<Q", stream.read(8))
        offset = stream.tell()
    raw = Path(f"{prefix}.idx").read_bytes()
    lengths = np.frombuffer(raw, dtype=np.int32, count=sequence_count, offset=offset)
    pointers = np.frombuffer(raw, dtype=np.int64, count=sequence_count, offset=offset + lengths.nbytes)
    documents = np.frombuffer(raw, dtype=np.int64, count=document_count,
                              offset=offset + lengths.nbytes + pointers.nbytes)
    dtype = SPEC_DTYPES[code]
    sequences = []
    with open(f"{prefix}.bin", "rb") as handle:
        size = Path(f"{prefix}.bin").stat().st_size
        buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        for length, pointer in zip(lengths, pointers):
            sequences.append(np.frombuffer(buffer, dtype=dtype, count=int(length),
                                           offset=int(pointer)).tolist())
    return {"magic": magic, "version": version, "code": code, "lengths": lengths.tolist(),
            "pointers": pointers.tolist(), "documents": documents.tolist(), "sequences": sequences,
            "index_bytes": len(raw), "end_of_index": offset + lengths.nbytes + pointers.nbytes
            + documents.nbytes, "bin_bytes": size}


def spec_read_nanogpt(path: Path, dtype: type) -> list[int]:
    """nanoGPT train.py: a memory map of the whole flat file."""
    if path.stat().st_size == 0:
        return []
    return np.memmap(path, dtype=dtype, mode="r").tolist()


def spec_read_doc_ids(path: Path) -> tuple[list[str], list[int]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table.column("id").to_pylist(), table.column("tokens").to_pylist()


def random_docs(seed: int, bound: int, count: int = 60) -> list[tuple[str, np.ndarray]]:
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        length = rng.choice([0, 1, 2, rng.randrange(3, 80)])
        ids = [rng.randrange(bound) for _ in range(length)]
        docs.append((f"doc{rng.randrange(count // 2)}", np.asarray(ids, dtype=np.int64)))
    docs.append(("top", np.asarray([bound - 1, 0], dtype=np.int64)))  # the largest id fits
    return docs


def expected_order(docs: list[tuple[str, np.ndarray]]) -> list[tuple[str, list[int]]]:
    """By id, then (repeated ids) by the ids' little-endian uint32 bytes; empty documents out."""
    kept = [(doc_id, ids.tolist()) for doc_id, ids in docs if ids.size]
    return sorted(kept, key=lambda d: (d[0], np.asarray(d[1], dtype="<u4").tobytes()))


@pytest.mark.parametrize("bound,eos_each", [(1000, True), (1000, False), (65_499, True),
                                            (100_000, True)])
def test_megatron_files_read_back_by_spec(tmp_path: Path, bound: int, eos_each: bool) -> None:
    docs = random_docs(bound, bound)
    eos = 3 % bound
    settings = ShardSettings(("megatron",), id_bound=bound, eos_id=eos, megatron_eos=eos_each)
    stats = token_shards.write_shard(docs, str(tmp_path), "part-00000-of-00001", settings)
    want = expected_order(docs)
    got = spec_read_megatron(tmp_path / "part-00000-of-00001")
    assert got["magic"] == b"MMIDIDX\x00\x00" and got["version"] == 1
    assert got["code"] == (8 if bound < 65500 else 4)  # uint16, else int32 (Megatron's rule)
    itemsize = 2 if bound < 65500 else 4
    extra = 1 if eos_each else 0
    assert got["lengths"] == [len(ids) + extra for _, ids in want]
    assert got["documents"] == list(range(len(want) + 1))  # one sequence per document
    assert got["pointers"] == [itemsize * sum(len(ids) + extra for _, ids in want[:i])
                               for i in range(len(want))]
    assert got["end_of_index"] == got["index_bytes"]  # no trailing bytes
    assert got["bin_bytes"] == itemsize * sum(len(ids) + extra for _, ids in want)
    assert got["sequences"] == [ids + [eos] * extra for _, ids in want]  # every document's ids
    ids, lengths = spec_read_doc_ids(tmp_path / "part-00000-of-00001.doc_ids.parquet")
    assert ids == [doc_id for doc_id, _ in want] and lengths == [len(t) for _, t in want]
    assert stats["docs"] == len(want) and stats["tokens"] == sum(lengths)
    assert not (tmp_path / "part-00000-of-00001.nanogpt.bin").exists()


@pytest.mark.parametrize("bound,dtype", [(1000, np.uint16), (65_536, np.uint16), (65_537, np.uint32)])
def test_nanogpt_stream_read_back_by_spec(tmp_path: Path, bound: int, dtype: type) -> None:
    docs = random_docs(bound + 1, bound)
    eos = bound - 2
    settings = ShardSettings(("nanogpt",), id_bound=bound, eos_id=eos)
    token_shards.write_shard(docs, str(tmp_path), "part-00003-of-00007", settings)
    want = expected_order(docs)
    stream = spec_read_nanogpt(tmp_path / "part-00003-of-00007.nanogpt.bin", dtype)
    assert stream == [i for _, ids in want for i in ids + [eos]]
    # Every document, cut by the doc_ids lengths, with its EOS right after it.
    ids, lengths = spec_read_doc_ids(tmp_path / "part-00003-of-00007.doc_ids.parquet")
    position = 0
    for (doc_id, doc_ids), name, length in zip(want, ids, lengths, strict=True):
        assert name == doc_id and stream[position: position + length] == doc_ids
        assert stream[position + length] == eos
        position += length + 1
    assert position == len(stream)
    assert not (tmp_path / "part-00003-of-00007.idx").exists()


def test_both_formats_and_project_reader_agree(tmp_path: Path) -> None:
    docs = random_docs(5, 5000)
    settings = ShardSettings(("megatron", "nanogpt"), id_bound=5000, eos_id=2)
    stats = token_shards.write_shard(docs, str(tmp_path), "part-00000-of-00001", settings)
    assert sorted(Path(p).name for p in stats["files"]) == [
        "part-00000-of-00001.bin", "part-00000-of-00001.doc_ids.parquet",
        "part-00000-of-00001.idx", "part-00000-of-00001.nanogpt.bin"]
    assert all(Path(p).stat().st_size == size for p, size in stats["files"].items())
    want = [(d, ids) for d, ids in expected_order(docs)]
    for fmt in ("megatron", "nanogpt"):
        back = [(d, ids.tolist()) for d, ids in token_shards.read_tokens(tmp_path, settings, fmt)]
        assert back == want


def test_shard_bytes_do_not_depend_on_input_order(tmp_path: Path) -> None:
    docs = random_docs(11, 300)
    settings = ShardSettings(("megatron", "nanogpt"), id_bound=300, eos_id=2)
    token_shards.write_shard(docs, str(tmp_path / "a"), "part-00000-of-00001", settings)
    shuffled = docs[:]
    random.Random(3).shuffle(shuffled)
    token_shards.write_shard(shuffled, str(tmp_path / "b"), "part-00000-of-00001", settings)
    first = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    assert first == {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert len(first) == 4


def test_repeated_ids_are_ordered_by_their_tokens() -> None:
    docs = [("b", np.array([5, 1])), ("a", np.array([9])), ("b", np.array([2, 7, 7])),
            ("b", np.array([2, 7])), ("c", np.array([], dtype=np.int64))]
    for order in ([3, 1, 0, 2, 4], [4, 2, 0, 3, 1]):
        got = token_shards.order_docs([docs[i] for i in order])
        assert [(d, ids.tolist()) for d, ids in got] == [
            ("a", [9]), ("b", [2, 7]), ("b", [2, 7, 7]), ("b", [5, 1])]  # "c" has no tokens


def test_dtype_rules() -> None:
    def settings(bound: int) -> ShardSettings:
        return ShardSettings(("megatron", "nanogpt"), id_bound=bound, eos_id=0)

    assert settings(65_499).megatron_dtype == np.uint16 and settings(65_500).megatron_dtype == np.int32
    assert settings(65_536).nanogpt_dtype == np.uint16 and settings(65_537).nanogpt_dtype == np.uint32
    assert settings(32_000).describe()["megatron"]["dtype_code"] == 8
    assert settings(128_256).describe()["megatron"]["dtype_code"] == 4
    assert token_shards.dtype_for_vocab(65536) == np.dtype("<u2")
    assert token_shards.dtype_for_vocab(65537) == np.dtype("<u4")


def test_settings_and_writer_refuse_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="EOS"):
        ShardSettings(("nanogpt",), id_bound=100, eos_id=None)
    with pytest.raises(ValueError, match="EOS"):
        ShardSettings(("megatron",), id_bound=100, eos_id=None, megatron_eos=True)
    ShardSettings(("megatron",), id_bound=100, eos_id=None, megatron_eos=False)  # no EOS needed
    with pytest.raises(ValueError, match="formats"):
        ShardSettings(("arrow",), id_bound=100, eos_id=1)
    with pytest.raises(ValueError, match="outside"):
        ShardSettings(("nanogpt",), id_bound=100, eos_id=100)
    settings = ShardSettings(("megatron",), id_bound=100, eos_id=1)
    with pytest.raises(ValueError, match="doc1.*outside"):
        token_shards.write_shard([("doc1", np.array([5, 100]))], str(tmp_path), "p", settings)
    with pytest.raises(ValueError):
        token_shards.as_ids([5, 400], 400)


def test_empty_shard_is_valid(tmp_path: Path) -> None:
    settings = ShardSettings(("megatron", "nanogpt"), id_bound=100, eos_id=1)
    token_shards.write_shard([("x", np.array([], dtype=np.int64))], str(tmp_path), "p", settings)
    got = spec_read_megatron(tmp_path / "p")
    assert (got["lengths"], got["documents"], got["sequences"]) == ([], [0], [])
    assert spec_read_nanogpt(tmp_path / "p.nanogpt.bin", np.uint16) == []


def test_llama2_ids_of_real_text_read_back(tmp_path: Path) -> None:
    """Common Crawl text through Llama 2 into both formats: every document's ids come back."""
    import sentencepiece as spm

    model = shared_path("tokenizers", "llama2_tokenizer.model").read_bytes()
    path = shared_path("corpora", "en_commoncrawl",
                       "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for _, line in zip(range(120), handle)]
    sp = spm.SentencePieceProcessor(model_proto=model)
    direct = {r["id"]: sp.encode(r["text"]) for r in records}
    docs = [(doc_id, np.asarray(ids)) for doc_id, ids in direct.items()]
    settings = ShardSettings(("megatron", "nanogpt"), id_bound=32000, eos_id=sp.eos_id())
    token_shards.write_shard(docs, str(tmp_path), "part-00000-of-00001", settings)
    names, lengths = spec_read_doc_ids(tmp_path / "part-00000-of-00001.doc_ids.parquet")
    megatron = spec_read_megatron(tmp_path / "part-00000-of-00001")
    stream = spec_read_nanogpt(tmp_path / "part-00000-of-00001.nanogpt.bin", np.uint16)
    assert megatron["code"] == 8 and sorted(names) == names
    assert set(names) == {d for d, ids in direct.items() if ids}
    position = 0
    for name, length, sequence in zip(names, lengths, megatron["sequences"], strict=True):
        assert sequence == direct[name] + [2]
        assert stream[position: position + length + 1] == direct[name] + [2]
        position += length + 1
    assert sum(lengths) > 50_000


def test_streaming_writer_keeps_the_order_given(tmp_path: Path) -> None:
    """ShardWriter (what each pass's per-file sink uses): documents in the order added, read
    back by the spec readers; write_shard is the same writer over id-sorted documents."""
    from stages.token_shards import ShardWriter, write_shard

    rng = random.Random(1)
    docs = [(f"d{i:03d}", np.asarray([rng.randrange(500) for _ in range(rng.randrange(0, 90))],
                                     dtype=np.uint16)) for i in range(80)]
    settings = ShardSettings(("megatron", "nanogpt"), id_bound=500, eos_id=2)
    order = docs[::-1]
    (tmp_path / "a").mkdir()
    writer = ShardWriter(str(tmp_path / "a"), "part-00000-of-00001", settings)
    for doc_id, ids in order:
        writer.add(doc_id, ids)
    stats = writer.close()
    names, lengths = spec_read_doc_ids(tmp_path / "a" / "part-00000-of-00001.doc_ids.parquet")
    assert names == [d for d, ids in order if ids.size]  # empty documents are left out
    sequences = spec_read_megatron(tmp_path / "a" / "part-00000-of-00001")["sequences"]
    assert [s[:-1] for s in sequences] == [ids.tolist() for _, ids in order if ids.size]
    assert stats["docs"] == len(names) and stats["tokens"] == sum(lengths)
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    write_shard(order, str(tmp_path / "b"), "p", settings)
    sorted_writer = ShardWriter(str(tmp_path / "c"), "p", settings)
    for doc_id, ids in sorted(docs, key=lambda item: item[0]):
        sorted_writer.add(doc_id, ids)
    sorted_writer.close()
    assert ({p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
            == {p.name: p.read_bytes() for p in (tmp_path / "c").iterdir()})
