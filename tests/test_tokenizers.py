"""stages.tokenizers: SentencePiece and Hugging Face tokenizer.json, counts equal to each library
called directly, no BOS/EOS counted, kind detection, EOS resolution, identity."""
from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path

import pytest
import sentencepiece as spm
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

from stages import spm_model, tokenize, tokenizers
from stages.tokenizers import TokenizerSource
from tests.conftest import shared_path

BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"
WORDS = ("the cat sat on a mat while rain fell over old stone bridges and quiet rivers "
         "numbers 12345 6789 café naïve 東京 北京 新闻 体育 — “quotes” ok").split()


def synthetic_texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 60))) +
            ("\n" + " ".join(rng.choice(WORDS) for _ in range(5)) if rng.random() < 0.3 else "")
            for _ in range(count)]


def train_hf(texts: list[str], vocab: int = 600, template: bool = False,
             truncate: int | None = None) -> str:
    """A byte-level BPE tokenizer.json (GPT-2 / Llama 3 style) trained with the tokenizers library."""
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=[BOS, EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    if template:  # BOS before, EOS after every text, as many model tokenizer.json files do
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A {EOS}", special_tokens=[(BOS, tok.token_to_id(BOS)),
                                                       (EOS, tok.token_to_id(EOS))])
    if truncate:
        tok.enable_truncation(truncate)
        tok.enable_padding(length=truncate)
    return tok.to_str()


@pytest.fixture(scope="module")
def hf_json() -> str:
    return train_hf(synthetic_texts(400))


@pytest.fixture(scope="module")
def sp_model() -> bytes:
    return tokenize.train_model(synthetic_texts(400), tokenize.TrainConfig(vocab_size=500), seed=3)


def hf_source(data: str, **kw) -> TokenizerSource:
    return TokenizerSource("huggingface", data.encode(), "tokenizer.json", **kw)


def direct_hf(data: str) -> HFTokenizer:
    return HFTokenizer.from_str(data)


# ----------------------------------------------------------------- counts vs the libraries

def test_hf_counts_equal_tokenizers_library(hf_json: str) -> None:
    texts = synthetic_texts(120, seed=9) + ["", " ", "x\ud800y"]
    ours = tokenizers.load(hf_source(hf_json)).encode(texts)
    direct = direct_hf(hf_json)
    expected = [direct.encode(t.encode("utf-8", "replace").decode(), add_special_tokens=False).ids
                for t in texts]
    assert ours == expected
    assert sum(map(len, ours)) > 1000


def test_sp_counts_equal_sentencepiece_library(sp_model: bytes) -> None:
    texts = synthetic_texts(120, seed=9) + ["", " ", "x\ud800y"]
    ours = tokenizers.load(TokenizerSource("sentencepiece", sp_model, None)).encode(texts)
    direct = spm.SentencePieceProcessor(model_proto=sp_model)
    assert ours == [direct.encode(t.encode("utf-8", "replace").decode()) for t in texts]


def test_template_truncation_and_padding_in_the_file_are_not_counted() -> None:
    data = train_hf(synthetic_texts(300), template=True, truncate=8)
    text = synthetic_texts(1, seed=4)[0] + " and more words to pass eight tokens easily"
    tokenizer = tokenizers.load(hf_source(data))
    ours = tokenizer.encode([text])[0]
    direct = direct_hf(data)
    capped = direct.encode(text)  # the file as a model would use it: BOS/EOS, cut to 8
    assert len(capped.ids) == 8 and capped.ids[0] == direct.token_to_id(BOS)
    direct.no_truncation()
    direct.no_padding()
    assert ours == direct.encode(text, add_special_tokens=False).ids
    assert len(direct.encode(text).ids) == len(ours) + 2  # the template's BOS and EOS
    assert len(ours) > 8
    ident = tokenizers.identity(hf_source(data))
    assert ident["special_tokens_added"] == [BOS, EOS]  # reported as "not counted"


def test_special_token_strings_in_text_are_plain_text(hf_json: str) -> None:
    text = f"a page quoting {EOS} and {BOS} literally"
    tokenizer = tokenizers.load(hf_source(hf_json))
    ids = tokenizer.encode([text])[0]
    assert tokenizer.eos_id not in ids and direct_hf(hf_json).token_to_id(BOS) not in ids
    assert tokenizer.decode(ids) == text
    direct = direct_hf(hf_json)
    assert direct.token_to_id(EOS) in direct.encode(text, add_special_tokens=False).ids  # default
    llama_like = spm.SentencePieceProcessor(model_proto=tokenize.train_model(
        synthetic_texts(300), tokenize.TrainConfig(vocab_size=500), seed=1))
    assert 2 not in tokenizers.load(TokenizerSource(
        "sentencepiece", llama_like.serialized_model_proto(), None)).encode(["x </s> y"])[0]


def test_real_text_counts_equal_each_library() -> None:
    """Common Crawl English and THUCNews Chinese: Llama 2 via sentencepiece, and a byte-level BPE
    tokenizer.json (trained here on botchan.txt) via tokenizers, each against a direct call."""
    cc = shared_path("corpora", "en_commoncrawl",
                     "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")
    with gzip.open(cc, "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for _, line in zip(range(150), handle)]
    news = shared_path("corpora", "zh_thucnews", "cnews.val.txt")
    texts += [line.partition("\t")[2] for line in news.read_text(encoding="utf-8").splitlines()[:60]]
    llama = shared_path("tokenizers", "llama2_tokenizer.model").read_bytes()
    source = TokenizerSource("sentencepiece", llama, "llama2_tokenizer.model")
    direct_sp = spm.SentencePieceProcessor(model_proto=llama)
    sp_counts = [len(ids) for ids in tokenizers.load(source).encode(texts)]
    assert sp_counts == [len(direct_sp.encode(t)) for t in texts]

    botchan = shared_path("corpora", "literature", "botchan.txt").read_text(encoding="utf-8")
    data = train_hf(botchan.splitlines(), vocab=4000, template=True)
    direct = direct_hf(data)
    hf_counts = [len(ids) for ids in tokenizers.load(hf_source(data)).encode(texts, threads=2)]
    assert hf_counts == [len(direct.encode(t, add_special_tokens=False).ids) for t in texts]
    assert sum(sp_counts) > 100_000 and sum(hf_counts) > sum(sp_counts)  # a 4k vocab, less compact


# ----------------------------------------------------------------- files, kinds, EOS

def test_detect_kind_by_content(tmp_path: Path, sp_model: bytes, hf_json: str) -> None:
    assert tokenizers.detect_kind(sp_model) == "sentencepiece"
    assert tokenizers.detect_kind(hf_json.encode()) == "huggingface"
    with pytest.raises(ValueError, match="tokenizer_config.json"):
        tokenizers.detect_kind(json.dumps({"eos_token": "</s>", "tokenizer_class": "X"}).encode())
    with pytest.raises(ValueError, match="not a Hugging Face"):
        tokenizers.detect_kind(b'{"vocab": {}}')
    with pytest.raises(ValueError, match="neither"):
        tokenizers.detect_kind(b"IQ== 0\nIg== 1\n")  # a tiktoken file
    renamed = tmp_path / "my_tokenizer.bin"
    renamed.write_bytes(hf_json.encode())
    assert tokenizers.read_source(str(renamed)).kind == "huggingface"


def test_folder_prefers_tokenizer_json_and_reads_its_eos(tmp_path: Path, sp_model: bytes) -> None:
    data = train_hf(synthetic_texts(200))
    (tmp_path / "tokenizer.model").write_bytes(sp_model)
    (tmp_path / "tokenizer.json").write_text(data)
    source = tokenizers.read_source(str(tmp_path))
    assert (source.kind, Path(source.file).name, source.eos_token) == ("huggingface", "tokenizer.json", None)
    assert tokenizers.load(source).eos_token == EOS  # a known name, found in the vocabulary
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": {"content": BOS}}))
    source = tokenizers.read_source(str(tmp_path))
    assert (source.eos_token, source.eos_source) == (BOS, "tokenizer_config.json")
    assert tokenizers.load(source).eos_id == direct_hf(data).token_to_id(BOS)
    forced = tokenizers.read_source(str(tmp_path), kind="sentencepiece")
    assert (forced.kind, Path(forced.file).name) == ("sentencepiece", "tokenizer.model")
    with pytest.raises(ValueError, match="is a huggingface tokenizer"):
        tokenizers.read_source(str(tmp_path / "tokenizer.json"), kind="sentencepiece")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no tokenizer.json or tokenizer.model"):
        tokenizers.read_source(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="cannot read tokenizer .*missing"):
        tokenizers.read_source(str(tmp_path / "missing"))


def test_eos_resolution(sp_model: bytes) -> None:
    no_eos = HFTokenizer(models.WordLevel({"a": 0, "b": 1, "[UNK]": 2}, unk_token="[UNK]"))
    no_eos.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = tokenizers.load(hf_source(no_eos.to_str()))
    assert (tokenizer.eos_id, tokenizer.eos_token) == (None, None)
    assert tokenizer.encode(["a b c"]) == [[0, 1, 2]]
    with pytest.raises(ValueError, match="not in this tokenizer's vocabulary"):
        tokenizers.load(hf_source(no_eos.to_str(), eos_token="</s>"))
    sp = tokenizers.load(TokenizerSource("sentencepiece", sp_model, None))
    assert (sp.eos_id, sp.eos_token, sp.eos_source) == (2, "</s>", "sentencepiece model")
    assert (sp.eos_id, sp.eos_token) == (tokenize.TRAINED_EOS_ID, tokenize.TRAINED_EOS_TOKEN)
    named = tokenizers.load(TokenizerSource("sentencepiece", sp_model, None, eos_token="<s>",
                                            eos_source="tokenize.eos_token"))
    assert named.eos_id == 1
    with pytest.raises(ValueError, match="not a piece"):
        tokenizers.load(TokenizerSource("sentencepiece", sp_model, None, eos_token="<nope>"))


def test_loaded_once_per_process(hf_json: str) -> None:
    source = hf_source(hf_json)
    first = tokenizers.load(source)
    again = tokenizers.load(hf_source(str(hf_json)))  # equal bytes, a different object
    assert first is again and tokenizers.LOADS[source.key] == 1


def test_identity(hf_json: str, sp_model: bytes) -> None:
    ident = tokenizers.identity(hf_source(hf_json))
    assert ident["kind"] == "huggingface" and ident["file"] == "tokenizer.json"
    assert ident["sha256"] == hashlib.sha256(hf_json.encode()).hexdigest()
    assert ident["vocab_size"] == direct_hf(hf_json).get_vocab_size() and ident["model_type"] == "bpe"
    assert ident["eos_id"] == direct_hf(hf_json).token_to_id(EOS) and not ident["trained_in_run"]
    ident = tokenizers.identity(tokenize.trained_source(sp_model, "artefacts/tokenizer.model"))
    assert (ident["kind"], ident["trained_in_run"], ident["eos_id"]) == ("sentencepiece", True, 2)
    assert ident["model_type"] == "unigram" and ident["byte_fallback"] and ident["normalizer"] == "identity"


def test_spm_model_reader_on_llama2() -> None:
    llama = shared_path("tokenizers", "llama2_tokenizer.model").read_bytes()
    assert spm_model.model_info(llama) == {"model_type": "bpe", "byte_fallback": True,
                                           "normalizer": "identity"}
    ja = shared_path("tokenizers", "sentencepiece_test_ja_model.model").read_bytes()
    assert spm_model.model_info(ja)["normalizer"] == "nfkc"
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        spm_model.parse(b"\x00\x01garbage")
