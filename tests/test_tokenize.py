"""tokenize stage: counts equal direct sentencepiece, deterministic training, token shards."""
from __future__ import annotations

import os

import gzip
import html as htmllib
import json
import random
import re
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
import sentencepiece as spm
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that, equal_to
from pydantic import ValidationError

from pipeline import io as pio
from pipeline.config import ConfigError, load_config
from pipeline.registry import RunContext
from stages import token_shards, tokenize
from stages.record import Doc
from tests.conftest import PROJECT, shared_path

DEMO = PROJECT / "configs" / "demo" / "demo_shard.jsonl.gz"
SMALL_TRAIN = tokenize.TrainConfig(vocab_size=2000)


def demo_texts() -> list[tuple[str, str]]:
    """(id, paragraph text) of the demo shard's HTML records, without running extract."""
    out = []
    with gzip.open(DEMO, "rt", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle):
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the demo holds deliberately broken lines
            if not isinstance(record, dict) or not isinstance(record.get("html"), str):
                continue
            paragraphs = re.findall(r"<p>(.*?)</p>", record["html"], flags=re.S)
            text = "\n".join(htmllib.unescape(re.sub(r"<[^>]+>", "", p)) for p in paragraphs)
            if text.strip():
                out.append((str(record.get("id") or number), text))
    return out


@pytest.fixture(scope="module")
def demo_model() -> bytes:
    texts = [text for _, text in demo_texts()]
    return tokenize.train_model(texts, SMALL_TRAIN, seed=7)


@pytest.fixture(scope="module")
def llama_bytes() -> bytes:
    return shared_path("tokenizers", "llama2_tokenizer.model").read_bytes()


def cc_texts(limit: int) -> list[str]:
    path = shared_path("corpora", "en_commoncrawl",
                       "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for _, line in zip(range(limit), handle)]


# ----------------------------------------------------------------- counts and encoding

def test_counts_equal_direct_sentencepiece_llama(llama_bytes: bytes) -> None:
    texts = cc_texts(150) + ["", "新浪体育讯北京时间4月12日", "x\ud800y"]
    docs = [Doc(id=str(i), text=t) for i, t in enumerate(texts)]
    out = tokenize.tokenize_docs(tokenize.load_processor(llama_bytes), docs, tokenize.Config())
    direct = spm.SentencePieceProcessor(model_proto=llama_bytes)  # an independent instance
    expected = [len(direct.encode(t.encode("utf-8", "replace").decode())) for t in texts]
    assert [d.token_count for d in out] == expected
    assert sum(expected) > 10_000  # real documents, not a degenerate sample


def test_counts_equal_direct_sentencepiece_trained(demo_model: bytes) -> None:
    texts = [t for _, t in demo_texts()][:40]
    docs = [Doc(id=str(i), text=t) for i, t in enumerate(texts)]
    out = tokenize.tokenize_docs(tokenize.load_processor(demo_model), docs, tokenize.Config())
    direct = spm.SentencePieceProcessor(model_proto=demo_model)
    assert [d.token_count for d in out] == [len(direct.encode(t)) for t in texts]


def test_batch_encode_equals_single(demo_model: bytes) -> None:
    processor = tokenize.load_processor(demo_model)
    texts = [t for _, t in demo_texts()][:30] + ["", " ", "12345 67"]
    batched = tokenize.encode_texts(processor, texts)
    assert batched == [tokenize.encode_texts(processor, [t])[0] for t in texts]
    assert batched == [processor.encode(t) for t in texts]


def test_empty_text_has_zero_tokens(demo_model: bytes) -> None:
    docs = [Doc(id="a", text=""), Doc(id="b", text=None), Doc(id="c", text="Botchan")]
    config = tokenize.Config(write_token_ids=True)
    out = tokenize.tokenize_docs(tokenize.load_processor(demo_model), docs, config)
    assert [d.token_count for d in out][:2] == [0, 0]
    assert out[2].token_count > 0 and len(out[2].token_ids) == out[2].token_count
    assert out[0].token_ids.dtype == np.dtype("<u2")


def test_model_parsed_once_per_process(demo_model: bytes) -> None:
    key = tokenize.model_key(demo_model)
    first = tokenize.load_processor(demo_model)
    again = tokenize.load_processor(bytes(demo_model))  # equal bytes, different object
    assert first is again
    assert tokenize.LOADS[key] == 1


def test_model_info_reads_llama(llama_bytes: bytes) -> None:
    info = tokenize.model_info(llama_bytes)
    assert (info["vocab_size"], info["model_type"], info["byte_fallback"], info["normalizer"]) == (
        32000, "bpe", True, "identity")


# ----------------------------------------------------------------- training

def test_training_is_deterministic(demo_model: bytes) -> None:
    texts = [text for _, text in demo_texts()]
    again = tokenize.train_model(texts, SMALL_TRAIN, seed=7)
    assert again == demo_model
    bpe = tokenize.TrainConfig(vocab_size=2000, model_type="bpe")
    assert tokenize.train_model(texts, bpe, 7) == tokenize.train_model(texts, bpe, 7)
    info = tokenize.model_info(demo_model)
    assert info["model_type"] == "unigram" and info["byte_fallback"] and info["vocab_size"] <= 2000


def test_identity_model_round_trips_text(demo_model: bytes) -> None:
    processor = tokenize.load_processor(demo_model)
    text = "CHAPTER I  Because of an hereditary recklessness,\n  2024 — naïve 東京"
    assert processor.decode(processor.encode(text)) == text


def test_long_lines_are_cut_not_skipped() -> None:
    pieces = list(tokenize.training_sentences(["a" * 1000 + "\n\n  \nb"], 400))
    assert pieces == ["a" * 100] * 10 + ["b"]


def test_sample_key_is_seeded() -> None:
    doc = Doc(id="x", source="s", text="hello world")
    assert tokenize.sample_key(doc, 1, 5) == tokenize.sample_key(doc, 1, 5)
    assert tokenize.sample_key(doc, 1, 5)[0] != tokenize.sample_key(doc, 2, 5)[0]
    assert tokenize.sample_key(doc, 1, 5)[3] == "hello"
    assert tokenize.sample_key(Doc(id="y", text=""), 1, 5) is None


def test_stage_trains_on_demo_text_in_beam(tmp_path: Path) -> None:
    pairs = demo_texts()
    docs = [Doc(id=i, source="demo", text=t) for i, t in pairs]
    config = tokenize.Config(train=SMALL_TRAIN, batch_size=16)
    context = RunContext(artefact_dir=str(tmp_path), seed=7)
    with BeamPipeline() as pipeline:
        out = pipeline | beam.Create(docs) | tokenize.Stage(config, context)
        counts = out.kept | beam.Map(lambda d: (d.id, d.token_count))
        reports = out.reports["summary"] | "report json" >> beam.Map(json.dumps, sort_keys=True)
        reports | "report" >> beam.io.WriteToText(str(tmp_path / "report"), shard_name_template="")
        counts | "count json" >> beam.Map(json.dumps) | "counts" >> beam.io.WriteToText(
            str(tmp_path / "counts"), shard_name_template="")
        assert_that(out.rejected | beam.combiners.Count.Globally(), equal_to([0]), label="no rejects")
    model = (tmp_path / tokenize.MODEL_ARTEFACT).read_bytes()
    # Same bytes as training directly on the sample in key order: the Beam path is deterministic.
    ordered = sorted(tokenize.sample_key(d, 7, SMALL_TRAIN.max_doc_chars) for d in docs)
    assert model == tokenize.train_model([k[3] for k in ordered], SMALL_TRAIN, 7)
    direct = spm.SentencePieceProcessor(model_proto=model)
    got = dict(tuple(json.loads(line)) for line in (tmp_path / "counts").read_text().splitlines())
    assert got == {i: len(direct.encode(t)) for i, t in pairs}
    report = json.loads((tmp_path / "report").read_text())
    assert report["model"]["source"] == "trained" and report["model"]["vocab_size"] <= 2000
    assert report["training"]["sample_docs"] == len(docs)
    total = report["compression"]["total"]
    assert total["tokens"] == sum(got.values())
    assert total["chars"] == sum(len(t) for _, t in pairs)
    assert total["chars_per_token"] == round(total["chars"] / total["tokens"], 4)
    assert tokenize.LOADS[tokenize.model_key(model)] == 1  # many batches, one parse


def test_sample_is_bounded(tmp_path: Path) -> None:
    docs = [Doc(id=f"d{i}", text=f"line {i} " * 50) for i in range(60)]
    train = tokenize.TrainConfig(vocab_size=400, sample_docs=10, max_doc_chars=200)
    config = tokenize.Config(train=train)
    with BeamPipeline() as pipeline:
        out = pipeline | beam.Create(docs) | tokenize.Stage(config, RunContext(str(tmp_path), 3))
        sample = out.reports["summary"] | beam.Map(
            lambda r: (r["training"]["sample_docs"], r["training"]["sample_chars"]))
        assert_that(sample, equal_to([(10, 2000)]))


# ----------------------------------------------------------------- report

def test_compression_stats_per_language() -> None:
    docs = [Doc(id="1", lang="en", text="a bc déf", token_count=4),
            Doc(id="2", lang="zh-Hans", text="新浪体育", token_count=3),
            Doc(id="3", lang=None, text="", token_count=0)]
    fn = tokenize.CompressionStats(("zh", "ja"))
    acc = fn.merge_accumulators([fn.add_input(fn.create_accumulator(), d) for d in docs])
    out = fn.extract_output(acc)
    en, zh = out["by_lang"]["en"], out["by_lang"]["zh"]
    assert (en["chars"], en["bytes"], en["words"], en["tokens_per_word"]) == (8, 9, 3, round(4 / 3, 4))
    assert (zh["chars"], zh["bytes"], zh["words"], zh["tokens_per_word"]) == (4, 12, None, None)
    assert zh["bytes_per_token"] == 4.0 and zh["chars_per_token"] == round(4 / 3, 4)
    assert out["total"]["tokens"] == 7 and out["total"]["tokens_per_word"] == round(4 / 3, 4)
    assert out["by_lang"]["unknown"]["chars_per_token"] is None


# ----------------------------------------------------------------- config errors

def test_bad_model_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="model"):
        tokenize.Config(model=str(tmp_path / "missing.model"))
    not_a_model = tmp_path / "x.model"
    not_a_model.write_bytes(b"hello")
    with pytest.raises(ValidationError, match="not a SentencePiece model"):
        tokenize.Config(model=str(not_a_model))
    with pytest.raises(ConfigError, match=r"tokenize\.model.*missing\.model"):
        load_config(None, [f"tokenize.model={tmp_path / 'missing.model'}"])


def test_relative_model_path_resolves_against_the_config_file(llama_bytes: bytes,
                                                              tmp_path: Path) -> None:
    shared = shared_path("tokenizers", "llama2_tokenizer.model")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "c.yaml").write_text(
        f"tokenize: {{model: {os.path.relpath(shared, tmp_path / 'cfg')}}}\n")
    config = load_config(tmp_path / "cfg" / "c.yaml").tokenize
    assert tokenize.read_model_bytes(config.model) == llama_bytes


# ----------------------------------------------------------------- binary shards

def test_dtype_choice() -> None:
    assert token_shards.dtype_for_vocab(32000) == np.dtype("<u2")
    assert token_shards.dtype_for_vocab(65536) == np.dtype("<u2")
    assert token_shards.dtype_for_vocab(65537) == np.dtype("<u4")
    with pytest.raises(ValueError):
        token_shards.as_ids([5, 400], 400)


@pytest.mark.parametrize("vocab", [1000, 100_000])
def test_shard_round_trip_and_order_independence(tmp_path: Path, vocab: int) -> None:
    rng = random.Random(vocab)
    docs = [(f"doc{i}", token_shards.as_ids([rng.randrange(vocab) for _ in range(rng.randrange(0, 50))],
                                            vocab)) for i in range(40)]
    dtype = token_shards.dtype_for_vocab(vocab)
    data, index = token_shards.pack_shard(docs, dtype)
    shuffled = docs[:]
    rng.shuffle(shuffled)
    assert token_shards.pack_shard(shuffled, dtype)[0] == data
    assert len(data) == sum(len(t) for _, t in docs) * dtype.itemsize
    base = tmp_path / token_shards.shard_name(0, 1)
    Path(str(base) + token_shards.BIN_SUFFIX).write_bytes(data)
    Path(str(base) + token_shards.INDEX_SUFFIX).write_bytes(token_shards.index_bytes(index))
    back = {doc_id: ids.tolist() for doc_id, ids in token_shards.read_tokens(tmp_path)}
    assert back == {doc_id: ids.tolist() for doc_id, ids in docs}
    if vocab > 65536:
        assert max(max(v, default=0) for v in back.values()) > 65535  # really needs uint32


def test_token_shards_round_trip_to_text_via_beam(tmp_path: Path, demo_model: bytes) -> None:
    processor = tokenize.load_processor(demo_model)
    texts = {i: t for i, t in demo_texts()[:25]} | {"empty": ""}
    docs = tokenize.tokenize_docs(processor, [Doc(id=i, text=t) for i, t in texts.items()],
                                  tokenize.Config(write_token_ids=True))
    out_dir = tmp_path / "tokens"
    with BeamPipeline() as pipeline:
        _ = pipeline | beam.Create(docs) | pio.WriteTokenShards(str(out_dir), tokens_per_shard=2000)
    shards = sorted(out_dir.glob("*.bin"))
    assert len(shards) > 1  # the total token count split the output
    back = dict(token_shards.read_tokens(out_dir))
    assert set(back) == set(texts)
    for doc_id, text in texts.items():
        assert processor.decode(back[doc_id].tolist()) == processor.decode(processor.encode(text))
        assert processor.decode(back[doc_id].tolist()) == text  # identity-normalised model
    first = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    again_dir = tmp_path / "again"
    with BeamPipeline() as pipeline:
        _ = pipeline | beam.Create(docs[::-1]) | pio.WriteTokenShards(str(again_dir), 2000)
    assert {p.name: p.read_bytes() for p in again_dir.iterdir()} == first


def test_pipeline_writes_token_shards_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """graph.py wiring: kept token_count, trained artefact and tokens/ agree on a tiny run."""
    from pipeline import outputs
    from pipeline.registry import available_stages
    from tests.helpers import assert_conserved, rows, run

    if "tokens" not in outputs.RESULT_DIRS:  # until pipeline/outputs.py commits tokens/
        monkeypatch.setattr(outputs, "RESULT_DIRS", outputs.RESULT_DIRS + ("tokens",))
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in demo_texts()[:30]))
    off = [f"{name}.enabled=false" for name, _ in available_stages() if name != "tokenize"]
    out = run([str(source)], tmp_path / "out", off + [
        "tokenize.write_token_ids=true", "tokenize.train.vocab_size=2000",
        "tokenize.tokens_per_shard=5000"])
    assert_conserved(out)
    kept = {r["id"]: r for r in rows(out, "kept")}
    sp = spm.SentencePieceProcessor(model_file=str(out / "artefacts" / tokenize.MODEL_ARTEFACT))
    back = dict(token_shards.read_tokens(out / "tokens"))
    assert set(back) == set(kept) and len(kept) == 30
    for doc_id, row in kept.items():
        assert row["token_count"] == len(sp.encode(row["text"])) == len(back[doc_id])
        assert sp.decode(back[doc_id].tolist()) == row["text"]


def test_token_shard_order_ignores_input_order_even_for_repeated_ids() -> None:
    from stages import token_shards

    docs = [("b", np.array([5, 1])), ("a", np.array([9])), ("b", np.array([2, 7, 7])),
            ("b", np.array([2, 7]))]
    data, index = token_shards.pack_shard(docs, "<u2")
    for order in ([3, 1, 0, 2], [2, 0, 3, 1]):
        again, again_index = token_shards.pack_shard([docs[i] for i in order], "<u2")
        assert again == data and again_index.equals(index)
    assert index.column("id").to_pylist() == ["a", "b", "b", "b"]
    # equal ids are ordered by their token bytes (little-endian uint32 per id)
    assert np.frombuffer(data, "<u2").tolist() == [9, 2, 7, 2, 7, 7, 5, 1]
