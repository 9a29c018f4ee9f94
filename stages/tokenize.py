"""tokenize: token counts (and optionally training-ready token ids) for every kept document.

The tokenizer is a file named in config (a SentencePiece ``.model`` or a Hugging Face
``tokenizer.json``, see :mod:`stages.tokenizers`), or a SentencePiece model trained inside the
pipeline:

1. every document with text is keyed by ``xxh64(seed, source, id)``; ``beam.combiners.Top``
   keeps the ``sample_docs`` smallest keys (each text cut to ``max_doc_chars``), so the sample
   is seeded, independent of input order and bounded in memory without collecting the data;
2. one DoFn trains SentencePiece on that sample (a bounded single-worker step: the sample size,
   not the corpus size, sets its cost) single-threaded with a fixed seed, so the ``.model``
   bytes are identical run to run, and writes it to ``<output>/artefacts/tokenizer.model``;
3. the tokenizer (a :class:`stages.tokenizers.TokenizerSource`) reaches the encoding DoFn as a
   side input; each worker parses it once (:func:`stages.tokenizers.load` caches by the bytes'
   hash) and encodes documents in batches.

Counts never include BOS/EOS (the rule for each kind is in :mod:`stages.tokenizers`). Token ids
go to Megatron-LM and/or nanoGPT shards (:mod:`stages.token_shards`). A report
(``reports.tokenize.summary``) names the tokenizer (kind, file, sha256, vocabulary, EOS, trained
in the run or not), the training sample, the shard formats and compression per language
(chars/token, bytes/token, tokens/char, tokens/word) computed by a combiner over all kept
documents; for a model trained in the run it also gives how much counts with a user's own
tokenizer typically differ (:func:`trained_vs_reference`). See docs/tokenize.md.
"""
from __future__ import annotations

import heapq
import io
import math
from typing import Any, Iterable, Literal, Sequence

import apache_beam as beam
import xxhash
from apache_beam.io.filesystems import FileSystems
from pydantic import Field, model_validator

from stages import languages, token_shards, tokenizers
from stages.base import Channel, DecideInputs, Decisions, RunContext, Stage, TwoPass
from stages.record import Doc, Verdict
from stages.settings import ResourcePath, Section, StageSection
from stages.tokenizers import Tokenizer, TokenizerSource

STAGE = "tokenize"
MODEL_ARTEFACT = "tokenizer.model"
# SentencePiece's trainer defaults (unk 0, bos 1, eos 2), which train_model keeps: the EOS of a
# model trained in the run is known before training, so shard settings can be fixed up front.
TRAINED_EOS_TOKEN, TRAINED_EOS_ID = "</s>", 2


SPECIAL_PIECES = 3  # <unk>, <s>, </s> (SentencePiece's defaults; no <pad>)


class TrainConfig(Section):
    """How to train a SentencePiece model when ``tokenize.model`` is null."""

    # Documents in the seeded sample (the K smallest xxh64(seed, source, id)).
    sample_docs: int = Field(default=10_000, ge=1, le=10_000_000)
    # Each sampled text is cut to this many characters: memory <= sample_docs x max_doc_chars.
    max_doc_chars: int = Field(default=10_000, ge=100)
    vocab_size: int = Field(default=32_000, ge=16, le=1_000_000)
    model_type: Literal["bpe", "unigram"] = "unigram"
    # Characters outside the vocabulary become UTF-8 byte pieces instead of <unk>.
    byte_fallback: bool = True
    character_coverage: float = Field(default=0.9995, gt=0.0, le=1.0)
    split_digits: bool = True
    # Lines sampled by SentencePiece from the training text (0 = all).
    input_sentence_size: int = Field(default=1_000_000, ge=0)
    # Lines longer than this (bytes) are cut into pieces rather than skipped by the trainer.
    max_sentence_length: int = Field(default=16_384, ge=64)
    # 1 keeps the trained .model byte-identical between runs (tested); more threads may not.
    num_threads: int = Field(default=1, ge=1, le=256)
    # False: vocab_size is an upper bound, so a small sample (the demo) still trains.
    hard_vocab_limit: bool = False
    # identity keeps decode(encode(text)) == text (as Llama 2); nmt_nfkc normalises first.
    normalization: Literal["identity", "nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf"] = "identity"
    remove_extra_whitespaces: bool = False

    @model_validator(mode="after")
    def _trainable(self) -> "TrainConfig":
        """SentencePiece needs a piece for each of <unk>, <s>, </s>, each of the 256 bytes
        (byte_fallback) and each character of the text before it learns any merge; a smaller
        vocab_size fails in training, after dedup and decontamination ran. Refuse it here."""
        floor = SPECIAL_PIECES + (256 if self.byte_fallback else 0) + 1
        if self.vocab_size < floor:
            raise ValueError(
                f"vocab_size {self.vocab_size} is below what SentencePiece can train with "
                f"byte_fallback={str(self.byte_fallback).lower()}: {SPECIAL_PIECES} special pieces"
                f"{' + 256 byte pieces' if self.byte_fallback else ''} + one per distinct "
                f"character of the text (a 200-line English sample needed 42, Chinese text "
                f"needs thousands), so at least {floor}")
        return self


class Config(StageSection):
    # Your tokenizer: a SentencePiece .model or a Hugging Face tokenizer.json (the kind is read
    # from the file's content), or a model folder holding one (tokenizer.json is preferred, as
    # transformers does); absolute, relative to the config file's folder, or a Beam filesystem
    # URL. null: train a SentencePiece model on this run's cleaned text (see `train`).
    model: ResourcePath | None = None
    # auto: detect from the content; naming a kind makes a mismatching file a config error.
    kind: Literal["auto", "sentencepiece", "huggingface"] = "auto"
    # The EOS token written between documents in token shards (never counted). null: the
    # SentencePiece model's EOS piece; for a tokenizer.json the eos_token of the
    # tokenizer_config.json beside it, else the first of stages.tokenizers.KNOWN_EOS_TOKENS in
    # the vocabulary.
    eos_token: str | None = None
    train: TrainConfig = TrainConfig()
    # Documents per encode call (batched encode is faster than one call per document).
    batch_size: int = Field(default=256, ge=1, le=100_000)
    # Threads the tokenizer may use inside one encode call (1 = leave cores to Beam workers).
    encode_threads: int = Field(default=1, ge=1, le=256)
    # Also write token ids as training-ready shards under <output>/tokens/ (docs/tokenize.md).
    write_token_ids: bool = False
    # megatron: Megatron-LM indexed dataset (.bin + .idx); nanogpt: one flat uint16/uint32
    # .nanogpt.bin per shard with EOS after every document; both. Megatron keeps document
    # boundaries in its index, so it is the default; .doc_ids.parquet is written with either.
    shard_format: Literal["megatron", "nanogpt", "both"] = "megatron"
    # End every Megatron sequence with EOS, as Megatron's GPT recipes do (--append-eod);
    # without it packed training samples run documents together. nanoGPT always has the EOS.
    append_eos: bool = True
    # A shard (one per input file) closes after the document that brings it to this many
    # tokens; the file's next documents go to a continuation shard (pipeline/token_sink.py).
    tokens_per_shard: int = Field(default=500_000_000, gt=0)
    # Languages without spaces: no whitespace words, so no tokens/word in the report.
    unspaced_langs: tuple[str, ...] = tuple(sorted(languages.UNSPACED_LANGUAGES))

    @model_validator(mode="after")
    def _tokenizer_usable(self) -> "Config":
        """Fail at config time, naming the key, rather than after hours of work."""
        if self.model is None:
            if self.kind == "huggingface":
                raise ValueError("tokenize.kind: huggingface needs tokenize.model (a "
                                 "tokenizer.json); a model trained in the run is SentencePiece")
            if self.eos_token not in (None, TRAINED_EOS_TOKEN):
                raise ValueError(f"tokenize.eos_token: a model trained in the run has EOS "
                                 f"{TRAINED_EOS_TOKEN!r}, not {self.eos_token!r}")
        else:
            try:
                source = configured_source(self)
            except ValueError as error:
                raise ValueError(f"tokenize.model: {error}") from None
            try:
                tokenizers.load(source)
            except ValueError as error:  # a named eos_token the vocabulary lacks
                key = "tokenize.eos_token" if self.eos_token else "tokenize.model"
                raise ValueError(f"{key}: {source.file}: {error}") from None
            except Exception as error:  # noqa: BLE001 - each library raises its own types
                raise ValueError(f"tokenize.model: {source.file} does not load as a "
                                 f"{source.kind} tokenizer: {error}") from None
        if self.write_token_ids:
            try:
                shard_settings(self)
            except ValueError as error:
                raise ValueError(
                    f"tokenize.eos_token: {error}; tokenize.shard_format={self.shard_format} "
                    f"(append_eos={self.append_eos}) needs one: name it with "
                    "tokenize.eos_token=..., or use shard_format=megatron with "
                    "append_eos=false") from None
        return self


# --------------------------------------------------------------------------- tokenizer

def configured_source(config: Config) -> TokenizerSource | None:
    """The tokenizer named in config (read once at graph construction), or None: train one."""
    if config.model is None:
        return None
    return tokenizers.read_source(config.model, config.kind, config.eos_token)


def trained_source(model: bytes, artefact: str | None) -> TokenizerSource:
    """A model trained in the run, named by its artefact path for the report."""
    return TokenizerSource(kind="sentencepiece", data=model, file=artefact, trained_in_run=True)


def read_model_bytes(path: str) -> bytes:
    """A tokenizer file's bytes (kept for tools that read a configured model directly)."""
    return tokenizers.read_source(path).data


def shard_settings(config: Config) -> token_shards.ShardSettings:
    """Formats, id bound and EOS of every token shard of a run, known before any work."""
    source = configured_source(config)
    if source is None:  # trained in the run: vocab_size bounds the ids, EOS is the trainer's
        id_bound, eos_id = config.train.vocab_size, TRAINED_EOS_ID
    else:
        tokenizer = tokenizers.load(source)
        id_bound, eos_id = tokenizer.id_bound, tokenizer.eos_id
    return token_shards.ShardSettings(formats=token_shards.FORMAT_CHOICES[config.shard_format],
                                      id_bound=id_bound, eos_id=eos_id,
                                      megatron_eos=config.append_eos)


# --------------------------------------------------------------------------- encoding

def tokenize_docs(tokenizer: Tokenizer | None, docs: Sequence[Doc], config: Config) -> list[Doc]:
    """Sets token_count (and token_ids when configured) on every document of a batch.

    token_ids are the text's ids only; the shard writer adds EOS as each format wants.
    """
    if tokenizer is None:  # no model: only possible when no document had text to train on
        if any(doc.text for doc in docs):
            raise RuntimeError("no tokenizer model (empty training sample) but a document has text")
        encoded: list[list[int]] = [[] for _ in docs]
    else:
        encoded = tokenizer.encode([doc.text or "" for doc in docs], config.encode_threads)
    bound = tokenizer.id_bound if tokenizer is not None else 1
    for doc, ids in zip(docs, encoded):
        doc.token_count = len(ids)
        if config.write_token_ids:
            doc.token_ids = token_shards.as_ids(ids, bound)
    return list(docs)


# --------------------------------------------------------------------------- training

def sample_key(doc: Doc, seed: int, max_chars: int) -> tuple[int, str, str, str] | None:
    """Sort key + text of a sample candidate; the K smallest keys are the training sample."""
    if not doc.text:
        return None
    ident = f"{doc.source}\x00{doc.id}".encode("utf-8", "replace")
    return (xxhash.xxh64_intdigest(ident, seed=seed), doc.source, doc.id, doc.text[:max_chars])


def training_sentences(texts: Iterable[str], max_sentence_bytes: int) -> Iterable[str]:
    """Non-empty lines; a line too long for the trainer is cut in pieces instead of skipped."""
    step = max(1, max_sentence_bytes // 4)  # a character is at most 4 UTF-8 bytes
    for text in texts:
        for line in tokenizers.valid_utf8(text).split("\n"):
            if not line.strip():
                continue
            for start in range(0, len(line), step):
                yield line[start: start + step]


def train_model(texts: Sequence[str], train: TrainConfig, seed: int) -> bytes:
    """SentencePiece .model bytes trained on ``texts`` (deterministic for num_threads=1)."""
    import sentencepiece as spm

    sentences = list(training_sentences(texts, train.max_sentence_length))
    if not sentences:
        return b""
    spm.set_random_generator_seed(seed)
    writer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=writer,
            vocab_size=train.vocab_size, model_type=train.model_type,
            byte_fallback=train.byte_fallback, character_coverage=train.character_coverage,
            split_digits=train.split_digits, input_sentence_size=train.input_sentence_size,
            shuffle_input_sentence=True, max_sentence_length=train.max_sentence_length,
            num_threads=train.num_threads, hard_vocab_limit=train.hard_vocab_limit,
            normalization_rule_name=train.normalization,
            remove_extra_whitespaces=train.remove_extra_whitespaces, minloglevel=2)
    except RuntimeError as error:
        raise RuntimeError(f"tokenize.train: SentencePiece training failed on {len(sentences)} "
                           f"lines ({sum(map(len, sentences))} chars): {error}") from error
    return writer.getvalue()


def train_on_sample(sample: Iterable[tuple[int, str, str, str]], train: TrainConfig,
                    seed: int) -> tuple[bytes, dict[str, int]]:
    """Model bytes trained on a sample of :func:`sample_key` tuples (in key order, so the bytes
    do not depend on the order the sample arrives in), and the sample's size."""
    texts = [item[3] for item in sorted(sample)]
    model = train_model(texts, train, seed)
    return model, {"sample_docs": len(texts), "sample_chars": sum(map(len, texts)),
                   "sample_bytes": sum(len(t.encode("utf-8", "replace")) for t in texts)}


# --------------------------------------------------------------------------- report

def primary_lang(lang: str | None) -> str:
    return (lang or "unknown").replace("_", "-").split("-", 1)[0].lower() or "unknown"


def _empty() -> dict[str, int]:
    return {"docs": 0, "tokens": 0, "chars": 0, "bytes": 0, "words": 0, "worded_tokens": 0}


class CompressionStats(beam.CombineFn):
    """Tokens, characters, UTF-8 bytes and whitespace words per language; small accumulator."""

    def __init__(self, unspaced: Sequence[str]) -> None:
        self.unspaced = frozenset(unspaced)

    def create_accumulator(self) -> dict[str, dict[str, int]]:
        return {}

    def add_input(self, acc: dict[str, dict[str, int]], doc: Doc) -> dict[str, dict[str, int]]:
        text = doc.text or ""
        lang = primary_lang(doc.lang)
        group = acc.setdefault(lang, _empty())
        tokens = doc.token_count or 0
        group["docs"] += 1
        group["tokens"] += tokens
        group["chars"] += len(text)
        group["bytes"] += len(text.encode("utf-8", "replace"))
        if lang not in self.unspaced:
            group["words"] += len(text.split())
            group["worded_tokens"] += tokens
        return acc

    def merge_accumulators(self, accs: Iterable[dict]) -> dict[str, dict[str, int]]:
        merged: dict[str, dict[str, int]] = {}
        for acc in accs:
            for lang, group in acc.items():
                target = merged.setdefault(lang, _empty())
                for key, value in group.items():
                    target[key] += value
        return merged

    def extract_output(self, acc: dict[str, dict[str, int]]) -> dict[str, Any]:
        total = _empty()
        for group in acc.values():
            for key, value in group.items():
                total[key] += value
        return {"total": ratios(total, words_defined=total["words"] > 0),
                "by_lang": {lang: ratios(group, words_defined=lang not in self.unspaced)
                            for lang, group in sorted(acc.items())}}


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def ratios(group: dict[str, int], words_defined: bool) -> dict[str, Any]:
    """Counts plus the compression figures the report prints (definitions in DEFINITIONS)."""
    out: dict[str, Any] = dict(group)
    out["chars_per_token"] = _ratio(group["chars"], group["tokens"])
    out["bytes_per_token"] = _ratio(group["bytes"], group["tokens"])
    out["tokens_per_char"] = _ratio(group["tokens"], group["chars"])
    out["tokens_per_word"] = _ratio(group["worded_tokens"], group["words"]) if words_defined else None
    if not words_defined:
        out["words"] = None
    return out


DEFINITIONS = {
    "tokens": "tokenizer encode of the kept text, no BOS/EOS (model.kind names the library)",
    "chars": "Unicode code points of the kept text",
    "bytes": "UTF-8 bytes of the kept text",
    "words": "whitespace-separated words (str.split); not defined for unspaced languages",
    "chars_per_token": "chars / tokens (higher = better compression)",
    "bytes_per_token": "UTF-8 bytes / tokens (The Pile's measure)",
    "tokens_per_char": "tokens / chars (lower = better; the magnitude of Baichuan's "
                       "undefined 'compress rate' on Chinese)",
    "tokens_per_word": "tokens / words over languages with words (fertility)",
}
COUNT_RULE = ("no BOS/EOS: SentencePiece encode adds none; for tokenizer.json the post-processor "
              "template is skipped (add_special_tokens=False), truncation/padding are off and "
              "special-token strings in the text count as text")

# How token counts made with a model trained in the run differ from counts made with a user's
# own tokenizer: (reference tokens / trained tokens) - 1, measured with Llama 2 as the user's
# tokenizer by `python tools/tokenizer_compare.py trained-vs-reference` (docs/tokenize.md has
# every row). Per (language, train.model_type, train.vocab_size): the lowest and highest value
# over training samples of 400 documents and more (en: 400 and 521 Common Crawl documents,
# 1.03-1.36 M chars; zh: 400 and 794 THUCNews articles, 0.40-0.82 M chars), on held-back text
# (what a run much larger than its sample sees) and on the sample itself (a run whose sample is
# its whole corpus).
TRAINED_VS_REFERENCE_ROWS: tuple[tuple[str, str, int, float, float, float, float], ...] = (
    # lang, model_type, vocab_size, held-back low, high, in-sample low, high
    ("en", "bpe", 8000, -0.0825, -0.077, -0.067, -0.0526),
    ("en", "bpe", 16000, 0.0007, 0.0123, 0.0745, 0.0978),
    ("en", "bpe", 32000, 0.0709, 0.0844, 0.2156, 0.2468),
    ("en", "unigram", 8000, -0.1284, -0.1157, -0.0892, -0.0778),
    ("en", "unigram", 16000, -0.0588, -0.0509, 0.0439, 0.0686),
    ("en", "unigram", 32000, 0.0441, 0.0505, 0.1774, 0.1976),
    ("zh", "bpe", 8000, 1.011, 1.0428, 1.0837, 1.1266),
    ("zh", "bpe", 16000, 1.2029, 1.2613, 1.3819, 1.459),
    ("zh", "bpe", 32000, 1.3109, 1.4274, 1.6813, 1.8784),
    ("zh", "unigram", 8000, 0.987, 1.0236, 1.0722, 1.1152),
    ("zh", "unigram", 16000, 1.1466, 1.2111, 1.3719, 1.4648),
    ("zh", "unigram", 32000, 1.3253, 1.3703, 1.6891, 1.802),
)
TRAINED_VS_REFERENCE_SOURCE = {
    "reference": "Llama 2 tokenizer (SentencePiece BPE, 32,000 pieces)",
    "texts": {"en": "Common Crawl text (dolma CC-MAIN-2019-30 sample, 697 documents)",
              "zh": "Chinese news (THUCNews cnews.val, 1,000 articles)"},
    "command": "python tools/tokenizer_compare.py trained-vs-reference",
    "min_sample_docs": 400,
}


def trained_vs_reference(vocab_size: int | None = None, model_type: str | None = None,
                         langs: Iterable[str] | None = None, in_sample: bool = False) -> dict[str, Any]:
    """The measured range of ``reference / trained - 1`` per language, for the report to print.

    Rows are narrowed to ``model_type`` and to the measured vocabulary size nearest
    ``vocab_size`` (by ratio) when given; languages without a measurement are listed apart.
    """
    rows = [r for r in TRAINED_VS_REFERENCE_ROWS if model_type is None or r[1] == model_type]
    if vocab_size:
        nearest = min({r[2] for r in rows}, key=lambda v: abs(math.log(v / vocab_size)))
        rows = [r for r in rows if r[2] == nearest]
    low, high = (5, 6) if in_sample else (3, 4)
    measured = sorted({r[0] for r in rows})
    wanted = sorted({primary_lang(lang) for lang in langs}) if langs is not None else measured
    by_lang = {}
    for lang in wanted:
        mine = [r for r in rows if r[0] == lang]
        if mine:
            by_lang[lang] = {"low": min(r[low] for r in mine), "high": max(r[high] for r in mine),
                             "model_types": sorted({r[1] for r in mine}),
                             "vocab_sizes": sorted({r[2] for r in mine})}
    return {**TRAINED_VS_REFERENCE_SOURCE, "basis": "in-sample" if in_sample else "held-back text",
            "by_lang": by_lang, "not_measured": [lang for lang in wanted if lang not in by_lang]}


def build_report(compression: dict[str, Any], model: dict[str, Any], config: Config) -> dict[str, Any]:
    """The stage report: tokenizer identity, training sample, compression, shard formats."""
    source: TokenizerSource | None = model.get("tokenizer")
    ident: dict[str, Any] = (model.get("identity") or
                             (tokenizers.identity(source) if source is not None else
                              {"kind": None, "file": None, "sha256": None, "vocab_size": None,
                               "eos_id": None, "trained_in_run": config.model is None}))
    trained = config.model is None
    training = None
    if trained:
        training = {key: model.get(key) for key in ("sample_docs", "sample_chars", "sample_bytes")}
        training["config"] = config.train.model_dump(mode="json")
    difference = None
    if trained and (source is not None or model.get("identity")):
        # The counts were made on the training text itself when the sample held every document.
        in_sample = (training or {}).get("sample_docs", 0) >= compression["total"]["docs"]
        difference = trained_vs_reference(vocab_size=ident["vocab_size"],
                                          model_type=config.train.model_type,
                                          langs=compression.get("by_lang") or {},
                                          in_sample=in_sample)
    token_ids: dict[str, Any] = {"written": config.write_token_ids}
    if config.write_token_ids:
        token_ids |= {"directory": "tokens", **shard_settings(config).describe()}
    return {
        "model": {**ident, "source": "trained" if trained else ident["file"],
                  "artefact": model.get("artefact"), "counts": COUNT_RULE,
                  "typical_difference": difference},
        "training": training,
        "compression": compression,
        "definitions": DEFINITIONS,
        "token_ids": token_ids,
    }


# --------------------------------------------------------------------------- stage shell

def make_prepare(config: Config, context: RunContext):
    """Per worker: every document with text -> one small sample-candidate record (no text:
    only the K chosen documents' texts are read back)."""
    seed = context.seed

    def prepare(doc: Doc, ref: Any) -> list[tuple[str, bytes, Any]]:
        key = sample_key(doc, seed, 0)
        if key is None:
            return []
        return [("sample", key[0].to_bytes(8, "big"), (key[1], key[2], tuple(ref)))]

    return prepare


class _TrainFn(beam.DoFn):
    """The seeded sample -> one dict: the trained tokenizer, its identity and the sample sizes;
    the model is saved as a run artefact."""

    def __init__(self, config: Config, seed: int, artefact_dir: str) -> None:
        self.config, self.seed, self.artefact_dir = config, seed, artefact_dir

    def process(self, sample: list[tuple[int, str, str, str]]) -> Iterable[dict[str, Any]]:
        cap = self.config.train.max_doc_chars
        model, stats = train_on_sample([(*key[:3], text[:cap]) for *key, text in sample],
                                       self.config.train, self.seed)
        artefact = None
        if model:
            with FileSystems.create(FileSystems.join(self.artefact_dir, MODEL_ARTEFACT)) as handle:
                handle.write(model)
            artefact = f"artefacts/{MODEL_ARTEFACT}"
        source = trained_source(model, artefact) if model else None
        yield {"tokenizer": source, "artefact": artefact, **stats}


class Smallest(beam.CombineFn):
    """The K smallest elements, a bounded heap per accumulator. A plain CombineFn rather than
    ``beam.combiners.Top``, whose per-bundle heaps leave in ``finish_bundle`` (dropped by
    Beam's DaskRunner)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, element: Any) -> list:
        heapq.heappush(acc, _Desc(element))  # a max-heap of the K smallest
        if len(acc) > self.k:
            heapq.heappop(acc)
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        merged: list = []
        for acc in accs:
            for item in acc:
                heapq.heappush(merged, item)
                if len(merged) > self.k:
                    heapq.heappop(merged)
        return merged

    def extract_output(self, acc: list) -> list:
        return sorted(item.value for item in acc)


class _Desc:
    """Reverses the order of a value (heapq is a min-heap)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: "_Desc") -> bool:
        return other.value < self.value


def decide(config: Config, context: RunContext, inputs: DecideInputs) -> Decisions:
    """Train on the K smallest sample keys: a bounded top-K over small records, then only those
    K documents' texts are read back (never the corpus)."""
    keyed = (inputs.stream["sample"]
             | "sample keys" >> beam.MapTuple(
                 lambda key, value: ((int.from_bytes(key, "big"), value[0], value[1]), value[2]))
             | "smallest" >> beam.CombineGlobally(Smallest(config.train.sample_docs))
             | "sample entries" >> beam.FlatMap(lambda entries: entries))
    texts = inputs.fetch(keyed | "sample refs" >> beam.Map(lambda entry: entry[1]), "sample texts")
    sample = (({"key": keyed | "by ref" >> beam.Map(lambda entry: (entry[1], entry[0])),
                "doc": texts})
              | "join texts" >> beam.CoGroupByKey()
              | "key and text" >> beam.FlatMap(
                  lambda item: [(*key, (doc.text or "")[:config.train.max_doc_chars])
                                for key in item[1]["key"]
                                for doc in item[1]["doc"][:1]])
              | "sample list" >> beam.combiners.ToList())
    model = sample | "train" >> beam.ParDo(_TrainFn(config, context.seed, context.artefact_dir))
    return Decisions(broadcast=model)


def _two_pass(config: Config) -> TwoPass | None:
    """Training a model needs the whole cleaned corpus first; a given model does not."""
    if config.model is not None:
        return None
    return TwoPass(channels=(Channel("sample", "stream", key_bytes=8),),
                   make_prepare=make_prepare, decide=decide)


def _model_summary(source: TokenizerSource | None, extra: dict[str, Any]) -> dict[str, Any]:
    """What the report needs of the tokenizer, without its bytes (it travels in statistics)."""
    return {"identity": tokenizers.identity(source) if source is not None else None,
            **{key: value for key, value in extra.items() if key != "tokenizer"}}


def make_core(config: Config, context: RunContext, broadcast: dict | None = None):
    """The batch core: token counts (and ids) with the given tokenizer, or the one trained in
    the run (``broadcast``), parsed once per worker."""
    source = configured_source(config)
    extra: dict[str, Any] = {"artefact": None}
    if source is None:
        extra = dict(broadcast or {})
        source = extra.get("tokenizer")
    tokenizer = tokenizers.load(source) if source is not None else None
    info = _model_summary(source, extra)

    def core(docs: list[Doc]) -> list[Any]:
        return [Verdict(doc, info) for doc in tokenize_docs(tokenizer, docs, config)]

    return core


class TokenizeReport(beam.CombineFn):
    """Compression per language over the documents tokenized, plus the tokenizer's identity."""

    def __init__(self, config: Config, context: RunContext | None = None) -> None:
        self.config = config
        self.compression = CompressionStats(config.unspaced_langs)
        source = configured_source(config)
        self.static = _model_summary(source, {"artefact": None}) if source is not None else None

    def create_accumulator(self) -> dict[str, Any]:
        return {"compression": self.compression.create_accumulator(), "model": self.static}

    def add_input(self, acc: dict[str, Any], item: tuple[Doc, Any, Any]) -> dict[str, Any]:
        _, outcome, info = item
        if isinstance(outcome, Doc):
            self.compression.add_input(acc["compression"], outcome)
        if acc["model"] is None and info:
            acc["model"] = info
        return acc

    def merge_accumulators(self, accs: Iterable[dict[str, Any]]) -> dict[str, Any]:
        accs = list(accs)
        model = next((a["model"] for a in accs if a["model"]), self.static)
        return {"compression": self.compression.merge_accumulators([a["compression"] for a in accs]),
                "model": model}

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        return build_report(self.compression.extract_output(acc["compression"]),
                            acc["model"] or {}, self.config)


SPEC = Stage(name=STAGE, reasons=(), make_core=make_core,
             reads=frozenset({"text", "lang"}), writes=frozenset({"token_count", "token_ids"}),
             batch_size=lambda config: config.batch_size, two_pass=_two_pass,
             report=TokenizeReport, report_name="summary")
