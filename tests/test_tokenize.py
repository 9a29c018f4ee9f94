"""tokenize stage: counts equal direct sentencepiece / tokenizers, deterministic training, the
report's tokenizer identity, config errors, token shards from a whole run."""
from __future__ import annotations

import gzip
import hashlib
import os
import html as htmllib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
from pydantic import ValidationError

from pipeline.config import ConfigError, load_config
from stages import token_shards, tokenize, tokenizers
from stages.record import Doc
from tests.helpers import run_docs
from stages.tokenizers import TokenizerSource
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


def sp(model: bytes) -> tokenizers.Tokenizer:
    return tokenizers.load(TokenizerSource("sentencepiece", model, None))


def cc_texts(limit: int) -> list[str]:
    path = shared_path("corpora", "en_commoncrawl",
                       "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for _, line in zip(range(limit), handle)]


# ----------------------------------------------------------------- counts and encoding

def test_counts_equal_direct_sentencepiece_llama(llama_bytes: bytes) -> None:
    texts = cc_texts(150) + ["", "新浪体育讯北京时间4月12日", "x\ud800y"]
    docs = [Doc(id=str(i), text=t) for i, t in enumerate(texts)]
    out = tokenize.tokenize_docs(sp(llama_bytes), docs, tokenize.Config())
    direct = spm.SentencePieceProcessor(model_proto=llama_bytes)  # an independent instance
    expected = [len(direct.encode(t.encode("utf-8", "replace").decode())) for t in texts]
    assert [d.token_count for d in out] == expected
    assert sum(expected) > 10_000  # real documents, not a degenerate sample


def test_counts_equal_direct_sentencepiece_trained(demo_model: bytes) -> None:
    texts = [t for _, t in demo_texts()][:40]
    docs = [Doc(id=str(i), text=t) for i, t in enumerate(texts)]
    out = tokenize.tokenize_docs(sp(demo_model), docs, tokenize.Config())
    direct = spm.SentencePieceProcessor(model_proto=demo_model)
    assert [d.token_count for d in out] == [len(direct.encode(t)) for t in texts]


def test_batch_encode_equals_single(demo_model: bytes) -> None:
    tokenizer = sp(demo_model)
    texts = [t for _, t in demo_texts()][:30] + ["", " ", "12345 67"]
    batched = tokenizer.encode(texts)
    assert batched == [tokenizer.encode([t])[0] for t in texts]
    assert batched == [tokenizer.processor.encode(t) for t in texts]


def test_empty_text_has_zero_tokens(demo_model: bytes) -> None:
    docs = [Doc(id="a", text=""), Doc(id="b", text=None), Doc(id="c", text="Botchan")]
    config = tokenize.Config(write_token_ids=True)
    out = tokenize.tokenize_docs(sp(demo_model), docs, config)
    assert [d.token_count for d in out][:2] == [0, 0]
    assert out[2].token_count > 0 and len(out[2].token_ids) == out[2].token_count
    assert out[0].token_ids.dtype == np.dtype("<u2")


def test_token_ids_hold_no_eos_and_decode_to_the_text(demo_model: bytes) -> None:
    """Doc.token_ids are the text's ids; EOS is the shard writer's business, per format."""
    tokenizer = sp(demo_model)
    texts = dict(demo_texts()[:25])
    docs = tokenize.tokenize_docs(tokenizer, [Doc(id=i, text=t) for i, t in texts.items()],
                                  tokenize.Config(write_token_ids=True, append_eos=True))
    for doc in docs:
        assert tokenizer.eos_id not in doc.token_ids.tolist()
        assert tokenizer.decode(doc.token_ids) == texts[doc.id]  # identity-normalised model


# ----------------------------------------------------------------- training

def test_training_is_deterministic(demo_model: bytes) -> None:
    texts = [text for _, text in demo_texts()]
    again = tokenize.train_model(texts, SMALL_TRAIN, seed=7)
    assert again == demo_model
    bpe = tokenize.TrainConfig(vocab_size=2000, model_type="bpe")
    assert tokenize.train_model(texts, bpe, 7) == tokenize.train_model(texts, bpe, 7)
    info = tokenizers.identity(tokenize.trained_source(demo_model, None))
    assert info["model_type"] == "unigram" and info["byte_fallback"] and info["vocab_size"] <= 2000
    assert (info["eos_id"], info["eos_token"]) == (tokenize.TRAINED_EOS_ID, tokenize.TRAINED_EOS_TOKEN)


def test_identity_model_round_trips_text(demo_model: bytes) -> None:
    tokenizer = sp(demo_model)
    text = "CHAPTER I  Because of an hereditary recklessness,\n  2024 — naïve 東京"
    assert tokenizer.decode(tokenizer.encode([text])[0]) == text


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
    out = run_docs(docs, [(tokenize.SPEC, config)], tmp_path, files=3, overrides=["run.seed=7"])
    assert out["rejected"] == [] and out["dead_letter"] == []
    model = (out["output"] / "artefacts" / tokenize.MODEL_ARTEFACT).read_bytes()
    # Same bytes as training directly on the sample in key order: the Beam path is deterministic.
    ordered = sorted(tokenize.sample_key(d, 7, SMALL_TRAIN.max_doc_chars) for d in docs)
    assert model == tokenize.train_model([k[3] for k in ordered], SMALL_TRAIN, 7)
    direct = spm.SentencePieceProcessor(model_proto=model)
    got = {row["id"]: row["token_count"] for row in out["kept"]}
    assert got == {i: len(direct.encode(t)) for i, t in pairs}
    report = out["summary"]["reports"]["tokenize"]["summary"]
    ident = report["model"]
    assert ident["source"] == "trained" and ident["vocab_size"] <= 2000
    assert (ident["kind"], ident["file"], ident["trained_in_run"], ident["eos_id"]) == (
        "sentencepiece", "artefacts/tokenizer.model", True, 2)
    assert ident["sha256"] == hashlib.sha256(model).hexdigest()
    assert ident["typical_difference"]["basis"] == "in-sample"  # the sample held every document
    assert ident["typical_difference"]["not_measured"] == ["unknown"]  # no language ID ran
    assert report["training"]["sample_docs"] == len(docs)
    total = report["compression"]["total"]
    assert total["tokens"] == sum(got.values())
    assert total["chars"] == sum(len(t) for _, t in pairs)
    assert total["chars_per_token"] == round(total["chars"] / total["tokens"], 4)
    assert tokenizers.LOADS[tokenizers.model_key(model)] == 1  # many batches, one parse


def test_sample_is_bounded(tmp_path: Path) -> None:
    docs = [Doc(id=f"d{i}", text=f"line {i} " * 50) for i in range(60)]
    train = tokenize.TrainConfig(vocab_size=400, sample_docs=10, max_doc_chars=200)
    out = run_docs(docs, [(tokenize.SPEC, tokenize.Config(train=train))], tmp_path)
    training = out["summary"]["reports"]["tokenize"]["summary"]["training"]
    assert (training["sample_docs"], training["sample_chars"]) == (10, 2000)


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


def test_trained_vs_reference_selects_measured_rows() -> None:
    rows = tokenize.TRAINED_VS_REFERENCE_ROWS
    assert all(r[3] <= r[4] and r[5] <= r[6] for r in rows)
    everything = tokenize.trained_vs_reference()
    assert set(everything["by_lang"]) == {"en", "zh"} and everything["basis"] == "held-back text"
    near = tokenize.trained_vs_reference(vocab_size=30_000, model_type="unigram",
                                         langs=["en", "zh-Hans", "ja"])
    assert near["by_lang"]["en"]["vocab_sizes"] == [32000]
    en32 = next(r for r in rows if r[:3] == ("en", "unigram", 32000))
    assert (near["by_lang"]["en"]["low"], near["by_lang"]["en"]["high"]) == en32[3:5]
    assert near["by_lang"]["zh"]["low"] > 0.9  # Llama 2 needs about twice the tokens on Chinese
    assert near["not_measured"] == ["ja"]
    small = tokenize.trained_vs_reference(vocab_size=6000, model_type="bpe", langs=["en"],
                                          in_sample=True)
    en8 = next(r for r in rows if r[:3] == ("en", "bpe", 8000))
    assert small["basis"] == "in-sample" and small["by_lang"]["en"]["low"] == en8[5]


def test_report_for_a_given_tokenizer_names_it(llama_bytes: bytes) -> None:
    config = tokenize.Config(model=str(shared_path("tokenizers", "llama2_tokenizer.model")),
                             write_token_ids=True, shard_format="both")
    source = tokenize.configured_source(config)
    fn = tokenize.CompressionStats(config.unspaced_langs)
    compression = fn.extract_output(fn.add_input(fn.create_accumulator(),
                                                 Doc(id="1", lang="en", text="ab", token_count=1)))
    report = tokenize.build_report(compression, {"tokenizer": source, "artefact": None}, config)
    model = report["model"]
    assert (model["kind"], model["vocab_size"], model["eos_id"], model["trained_in_run"]) == (
        "sentencepiece", 32000, 2, False)
    assert model["file"].endswith("llama2_tokenizer.model") and model["source"] == model["file"]
    assert model["sha256"] == hashlib.sha256(llama_bytes).hexdigest()
    assert model["typical_difference"] is None and report["training"] is None
    shards = report["token_ids"]
    assert shards["formats"] == ["megatron", "nanogpt"] and shards["eos_id"] == 2
    assert (shards["megatron"]["dtype"], shards["megatron"]["dtype_code"]) == ("uint16", 8)
    assert shards["nanogpt"]["dtype"] == "uint16"


# ----------------------------------------------------------------- config errors

def test_bad_model_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="model"):
        tokenize.Config(model=str(tmp_path / "missing.model"))
    not_a_model = tmp_path / "x.model"
    not_a_model.write_bytes(b"hello")
    with pytest.raises(ValidationError, match=r"tokenize\.model: .*neither a SentencePiece"):
        tokenize.Config(model=str(not_a_model))
    with pytest.raises(ConfigError, match=r"tokenize\.model.*missing\.model"):
        load_config(None, [f"tokenize.model={tmp_path / 'missing.model'}"])


def test_tokenizer_config_errors_name_the_key(tmp_path: Path, demo_model: bytes) -> None:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers

    word_level = HFTokenizer(models.WordLevel({"a": 0, "b": 1, "[UNK]": 2}, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    hf = tmp_path / "tokenizer.json"
    hf.write_text(word_level.to_str())
    spm_file = tmp_path / "demo.model"
    spm_file.write_bytes(demo_model)
    assert tokenize.Config(model=str(hf)).model == str(hf)  # no EOS is fine for counting
    cases = [
        ({"model": str(hf), "kind": "sentencepiece"}, r"tokenize\.model: .*is a huggingface"),
        ({"model": str(hf), "eos_token": "</s>"}, r"tokenize\.eos_token: .*not in this"),
        ({"model": str(hf), "write_token_ids": True}, r"tokenize\.eos_token: .*has none.*shard_format=megatron"),
        ({"model": str(hf), "write_token_ids": True, "shard_format": "nanogpt", "append_eos": False},
         r"tokenize\.eos_token"),
        ({"model": str(spm_file), "eos_token": "<eos>"}, r"tokenize\.eos_token: .*not a piece"),
        ({"kind": "huggingface"}, r"tokenize\.kind: huggingface needs tokenize\.model"),
        ({"eos_token": "<|endoftext|>"}, r"tokenize\.eos_token: a model trained in the run"),
    ]
    for settings, message in cases:
        with pytest.raises(ValidationError, match=message):
            tokenize.Config(**settings)
    # Megatron without EOS needs none; a trained model always has '</s>'.
    tokenize.Config(model=str(hf), write_token_ids=True, append_eos=False)
    tokenize.Config(write_token_ids=True, shard_format="both", eos_token="</s>")
    with pytest.raises(ConfigError, match=r"tokenize\.eos_token"):
        load_config(None, [f"tokenize.model={hf}", "tokenize.write_token_ids=true",
                             "tokenize.shard_format=nanogpt"])


def test_relative_model_path_resolves_against_the_config_file(llama_bytes: bytes,
                                                              tmp_path: Path) -> None:
    shared = shared_path("tokenizers", "llama2_tokenizer.model")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "c.yaml").write_text(
        f"tokenize: {{model: {os.path.relpath(shared, tmp_path / 'cfg')}}}\n")
    config = load_config(tmp_path / "cfg" / "c.yaml").tokenize
    assert tokenize.read_model_bytes(config.model) == llama_bytes
    assert Path(tokenize.configured_source(config).file).resolve() == shared.resolve()


# ----------------------------------------------------------------- whole runs


def test_stage_counts_with_a_tokenizer_json_in_beam(tmp_path: Path) -> None:
    """A Hugging Face tokenizer.json named in config: counts equal the tokenizers library."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers

    pairs = demo_texts()
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([t for _, t in pairs], trainers.BpeTrainer(
        vocab_size=1500, special_tokens=["<s>", "</s>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    path = tmp_path / "tokenizer.json"
    path.write_text(tok.to_str())
    config = tokenize.Config(model=str(path), batch_size=16)
    docs = [Doc(id=i, source="demo", lang="en", text=t) for i, t in pairs]
    out = run_docs(docs, [(tokenize.SPEC, config)], tmp_path, overrides=["run.seed=7"])
    got = {row["id"]: row["token_count"] for row in out["kept"]}
    direct = HFTokenizer.from_file(str(path))
    assert got == {i: len(direct.encode(t, add_special_tokens=False).ids) for i, t in pairs}
    model = out["summary"]["reports"]["tokenize"]["summary"]["model"]
    assert (model["kind"], model["file"], model["eos_id"], model["trained_in_run"]) == (
        "huggingface", str(path), 1, False)
    assert model["special_tokens_added"] == ["<s>"] and model["typical_difference"] is None
    assert not (out["output"] / "artefacts" / tokenize.MODEL_ARTEFACT).exists()


def test_token_sink_rolls_over_at_tokens_per_shard(tmp_path: Path) -> None:
    """A file's shard closes after the document that reaches the limit; documents are never
    split and the continuation shards hold the rest in order."""
    from pipeline.token_sink import TokenSink
    from stages.record import Doc

    settings = token_shards.ShardSettings(("megatron",), 100, 2)
    sink = TokenSink(str(tmp_path), "part-00000-of-00001", settings, tokens_per_shard=10)
    sizes = [4, 4, 4, 0, 9, 30, 1]
    for i, size in enumerate(sizes):
        sink.add(Doc(id=f"d{i}", source="s", text="x", token_ids=list(range(1, size + 1))))
    sink.close()
    names = sorted(p.name[:-len(".idx")] for p in tmp_path.glob("*.idx"))
    assert names == ["part-00000-of-00001", "part-00000-of-00001-c00001",
                     "part-00000-of-00001-c00002"]
    held = [[len(seq) - 1 for seq in token_shards.read_megatron(tmp_path / name)]
            for name in names]  # - 1: the EOS after every document
    assert held == [[4, 4, 4], [9, 30], [1]]
    assert [token_shards.read_doc_ids(tmp_path / f"{name}.doc_ids.parquet")[0] for name in names] \
        == [["d0", "d1", "d2"], ["d4", "d5"], ["d6"]]


def test_pipeline_writes_token_shards_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """graph.py wiring: kept token_count, trained artefact and tokens/ agree on a tiny run."""
    from pipeline.registry import available_stages
    from tests.helpers import assert_conserved, rows, run

    texts = demo_texts()[:30]
    sources = []
    for part in range(3):  # one token shard per input file
        source = tmp_path / f"in-{part}.jsonl"
        source.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in texts[part::3]))
        sources.append(str(source))
    off = [f"{name}.enabled=false" for name, _ in available_stages() if name != "tokenize"]
    out = run(sources, tmp_path / "out", off + [
        "tokenize.write_token_ids=true", "tokenize.train.vocab_size=2000",
        "tokenize.shard_format=both", "tokenize.append_eos=true",
        "tokenize.tokens_per_shard=3000"])  # continuation shards, read back like any other
    assert_conserved(out)
    kept = {r["id"]: r for r in rows(out, "kept")}
    sp_direct = spm.SentencePieceProcessor(model_file=str(out / "artefacts" / tokenize.MODEL_ARTEFACT))
    settings = token_shards.ShardSettings(("megatron", "nanogpt"), 2000, 2)
    assert len(list((out / "tokens").glob("*.idx"))) > 1
    assert list((out / "tokens").glob("part-00000-of-00003-c00001.idx"))
    for fmt in ("megatron", "nanogpt"):
        back = dict(token_shards.read_tokens(out / "tokens", settings, fmt))
        assert set(back) == set(kept) and len(kept) == 30
        for doc_id, row in kept.items():
            assert row["token_count"] == len(sp_direct.encode(row["text"])) == len(back[doc_id])
            assert sp_direct.decode(back[doc_id].tolist()) == row["text"]
    from tools.verify_token_shards import verify  # the check docs/tokenize.md tells users to run

    tokens = sum(row["token_count"] for row in kept.values())
    assert verify(out) == {"megatron": {"docs": 30, "tokens": tokens},
                           "nanogpt": {"docs": 30, "tokens": tokens}}
    stream = next((out / "tokens").glob("*.nanogpt.bin"))
    data = bytearray(stream.read_bytes())
    data[0] ^= 1  # one token id changed
    stream.write_bytes(bytes(data))
    with pytest.raises(AssertionError, match="nanogpt: .* ids differ"):
        verify(out)
