"""tokenize: SentencePiece token counts (and optionally token ids) for every kept document.

The model is either a ``.model`` file named in config, or trained inside the pipeline:

1. every document with text is keyed by ``xxh64(seed, source, id)``; ``beam.combiners.Top``
   keeps the ``sample_docs`` smallest keys (each text cut to ``max_doc_chars``), so the sample
   is seeded, independent of input order and bounded in memory without collecting the data;
2. one DoFn trains SentencePiece on that sample (a bounded single-worker step: the sample size,
   not the corpus size, sets its cost) single-threaded with a fixed seed, so the ``.model``
   bytes are identical run to run, and writes it to ``<output>/artefacts/tokenizer.model``;
3. the model bytes reach the encoding DoFn as a side input; each worker parses them once
   (a module-level cache keyed by a hash of the bytes) and encodes documents in batches.

A report (``reports.tokenize.summary``) gives the model, the training sample and compression
per language (chars/token, bytes/token, tokens/char, tokens/word) computed by a combiner over
all kept documents. See docs/tokenize.md.
"""
from __future__ import annotations

import hashlib
import io
import os
import threading
from collections import Counter
from typing import Any, Iterable, Literal, Sequence

import apache_beam as beam
import xxhash
from apache_beam.io.filesystems import FileSystems
from pydantic import Field, field_validator, model_validator

from stages import token_shards
from stages.base import DEAD_LETTER, KEPT, REJECTED, BatchStageDoFn, StageOutputs
from stages.record import Doc
from stages.settings import ResourcePath, Section, StageSection, resolve_path

STAGE = "tokenize"
MODEL_ARTEFACT = "tokenizer.model"


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
    # Path to a SentencePiece .model (relative: to the config file's folder), or null to
    # train one on the cleaned text (see `train`).
    model: ResourcePath | None = None
    train: TrainConfig = TrainConfig()
    # Documents per sp.encode call (batched encode is faster than one call per document).
    batch_size: int = Field(default=256, ge=1, le=100_000)
    # Threads sentencepiece may use inside one encode call (1 = leave cores to Beam workers).
    encode_threads: int = Field(default=1, ge=1, le=256)
    # Also write token ids as flat binary shards under <output>/tokens/ (see docs/tokenize.md).
    write_token_ids: bool = False
    # Append the model's EOS id after each document in the binary shards (not in token_count).
    append_eos: bool = False
    # Target tokens per binary shard (the shard count is ceil(total tokens / this)).
    tokens_per_shard: int = Field(default=500_000_000, gt=0)
    # Languages without spaces: no whitespace words, so no tokens/word in the report.
    unspaced_langs: tuple[str, ...] = ("zh", "ja", "th", "lo", "km", "my", "bo")

    @field_validator("model")
    @classmethod
    def _model_loads(cls, value: str | None) -> str | None:
        """Fail at config time (naming tokenize.model) rather than after hours of work."""
        if value is None:
            return None
        data = read_model_bytes(value)  # raises ValueError with the resolved path
        try:
            load_processor(data)
        except Exception as error:  # noqa: BLE001 - sentencepiece raises RuntimeError/OSError
            raise ValueError(f"{resolve_model_path(value)} is not a SentencePiece model: {error}")
        return value


# --------------------------------------------------------------------------- model bytes

def resolve_model_path(path: str) -> str:
    """Absolute local path or a Beam filesystem URL (gs://, s3://) as given."""
    if "://" in path:
        return path
    return os.path.normpath(resolve_path(path))


def read_model_bytes(path: str) -> bytes:
    resolved = resolve_model_path(path)
    try:
        with FileSystems.open(resolved) as handle:
            data = handle.read()
    except Exception as error:  # noqa: BLE001
        raise ValueError(f"cannot read SentencePiece model {resolved}: {error}") from None
    if not data:
        raise ValueError(f"SentencePiece model {resolved} is empty")
    return data


def model_key(model: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(model)


_PROCESSORS: dict[str, Any] = {}
_LOCK = threading.Lock()
# How many times this process parsed a model (tests check "once per worker").
LOADS: Counter = Counter()


def load_processor(model: bytes) -> Any:
    """A SentencePieceProcessor for these bytes, parsed once per process and then shared."""
    key = model_key(model)
    processor = _PROCESSORS.get(key)
    if processor is None:
        with _LOCK:
            processor = _PROCESSORS.get(key)
            if processor is None:
                import sentencepiece as spm

                processor = spm.SentencePieceProcessor(model_proto=model)
                _PROCESSORS[key] = processor
                LOADS[key] += 1
    return processor


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> Iterable[tuple[int, int, Any]]:
    """(field number, wire type, value) of a protobuf message; enough to read a ModelProto."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos: pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos: pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos: pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


_MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}


def model_info(model: bytes) -> dict[str, Any]:
    """Vocab size, model type, byte fallback and normaliser read from the .model bytes.

    sentencepiece's bundled ``sentencepiece_model_pb2`` needs a newer protobuf than Beam pins,
    so the three trainer/normaliser fields are read from the wire format directly.
    """
    info: dict[str, Any] = {"sha256": hashlib.sha256(model).hexdigest(), "bytes": len(model),
                            "vocab_size": load_processor(model).get_piece_size(),
                            "model_type": "unigram", "byte_fallback": False, "normalizer": None}
    for number, wire, value in _fields(model):
        if number == 2 and wire == 2:  # trainer_spec
            for sub, sub_wire, sub_value in _fields(value):
                if sub == 3 and sub_wire == 0:
                    info["model_type"] = _MODEL_TYPES.get(sub_value, str(sub_value))
                elif sub == 35 and sub_wire == 0:
                    info["byte_fallback"] = bool(sub_value)
        elif number == 3 and wire == 2:  # normalizer_spec
            for sub, sub_wire, sub_value in _fields(value):
                if sub == 1 and sub_wire == 2:
                    info["normalizer"] = sub_value.decode("utf-8", "replace")
    return info


# --------------------------------------------------------------------------- encoding

def _valid_utf8(text: str) -> str:
    """Lone surrogates cannot cross into sentencepiece; the Parquet sink writes U+FFFD too."""
    return text.encode("utf-8", "replace").decode("utf-8")


def encode_texts(processor: Any, texts: Sequence[str], threads: int = 1) -> list[list[int]]:
    """Token ids per text, no BOS/EOS, one batched call (same ids as one call per text)."""
    texts = list(texts)
    if not texts:
        return []
    try:
        return processor.encode(texts, out_type=int, num_threads=threads)
    except (UnicodeError, TypeError):  # lone surrogates: "List elements must be str or bytes"
        return processor.encode([_valid_utf8(t) for t in texts], out_type=int, num_threads=threads)


def tokenize_docs(processor: Any, docs: Sequence[Doc], config: Config) -> list[Doc]:
    """Sets token_count (and token_ids when configured) on every document of a batch."""
    if processor is None:  # no model: only possible when no document had text to train on
        if any(doc.text for doc in docs):
            raise RuntimeError("no tokenizer model (empty training sample) but a document has text")
        encoded: list[list[int]] = [[] for _ in docs]
    else:
        encoded = encode_texts(processor, [doc.text or "" for doc in docs], config.encode_threads)
    vocab = processor.get_piece_size() if processor is not None else 1
    eos = processor.eos_id() if processor is not None else -1
    for doc, ids in zip(docs, encoded):
        doc.token_count = len(ids)
        if config.write_token_ids:
            if config.append_eos and eos >= 0:
                ids = list(ids) + [eos]
            doc.token_ids = token_shards.as_ids(ids, vocab)
    return list(docs)


class _EncodeFn(BatchStageDoFn):
    """The stage shell (counters, dead letters) around a batch core whose model is a side input."""

    def __init__(self, config: Config) -> None:
        super().__init__(STAGE, lambda: None)
        self.config = config
        self._model_ref: tuple[int, Any] | None = None

    def _processor(self, model: bytes) -> Any:
        # The side input is usually the same object for a whole bundle: skip re-hashing it.
        if self._model_ref is None or self._model_ref[0] != id(model):
            self._model_ref = (id(model), load_processor(model) if model else None)
        return self._model_ref[1]

    def process(self, batch: list[Doc], model: bytes) -> Iterable:  # type: ignore[override]
        processor = self._processor(model)
        config = self.config
        self.core = lambda docs: tokenize_docs(processor, docs, config)
        yield from super().process(batch)


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
        for line in _valid_utf8(text).split("\n"):
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


class _TrainFn(beam.DoFn):
    """Trains on the (already bounded) sample and saves the model as a run artefact."""

    def __init__(self, train: TrainConfig, seed: int, artefact_dir: str) -> None:
        self.train, self.seed, self.artefact_dir = train, seed, artefact_dir

    def process(self, sample: list[tuple[int, str, str, str]]) -> Iterable[dict[str, Any]]:
        texts = [item[3] for item in sorted(sample)]
        model = train_model(texts, self.train, self.seed)
        path = None
        if model:
            path = FileSystems.join(self.artefact_dir, MODEL_ARTEFACT)
            with FileSystems.create(path) as handle:
                handle.write(model)
        yield {"model": model, "sample_docs": len(texts), "sample_chars": sum(map(len, texts)),
               "sample_bytes": sum(len(t.encode("utf-8", "replace")) for t in texts),
               "artefact": f"artefacts/{MODEL_ARTEFACT}" if path else None}


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
    "tokens": "sentencepiece encode of the kept text, no BOS/EOS",
    "chars": "Unicode code points of the kept text",
    "bytes": "UTF-8 bytes of the kept text",
    "words": "whitespace-separated words (str.split); not defined for unspaced languages",
    "chars_per_token": "chars / tokens (higher = better compression)",
    "bytes_per_token": "UTF-8 bytes / tokens (The Pile's measure)",
    "tokens_per_char": "tokens / chars (lower = better; the magnitude of Baichuan's "
                       "undefined 'compress rate' on Chinese)",
    "tokens_per_word": "tokens / words over languages with words (fertility)",
}


def build_report(compression: dict[str, Any], model: dict[str, Any], config: Config,
                 source: str) -> dict[str, Any]:
    info = model_info(model["model"]) if model.get("model") else {"vocab_size": None}
    training = None
    if config.model is None:
        training = {key: model.get(key) for key in
                    ("sample_docs", "sample_chars", "sample_bytes")}
        training["config"] = config.train.model_dump(mode="json")
    vocab = info.get("vocab_size")
    return {
        "model": {"source": source, "artefact": model.get("artefact"), **info},
        "training": training,
        "compression": compression,
        "definitions": DEFINITIONS,
        "token_ids": {"written": config.write_token_ids, "directory": "tokens",
                      "dtype": token_shards.dtype_for_vocab(vocab).name if vocab else None,
                      "append_eos": config.append_eos},
    }


# --------------------------------------------------------------------------- Beam shell

class Stage(beam.PTransform):
    def __init__(self, config: Config, context: Any) -> None:
        super().__init__()
        self.config = config
        self.seed = int(context.seed)
        self.artefact_dir = context.artefact_dir

    def _model(self, docs: beam.PCollection) -> beam.PCollection:
        """One dict with the model bytes (given, or trained on a seeded bounded sample)."""
        config = self.config
        if config.model is not None:
            data = read_model_bytes(config.model)
            return docs.pipeline | "model bytes" >> beam.Create([{"model": data, "artefact": None}])
        seed, cap = self.seed, config.train.max_doc_chars
        return (docs
                | "sample keys" >> beam.FlatMap(lambda d: [k] if (k := sample_key(d, seed, cap)) else [])
                | "sample" >> beam.combiners.Top.Smallest(config.train.sample_docs)
                | "train" >> beam.ParDo(_TrainFn(config.train, seed, self.artefact_dir)))

    def expand(self, docs: beam.PCollection) -> StageOutputs:
        config = self.config
        model = self._model(docs)
        model_bytes = beam.pvalue.AsSingleton(model | "model only" >> beam.Map(lambda m: m["model"]))
        outputs = (docs
                   | f"{STAGE}/batch" >> beam.BatchElements(min_batch_size=1,
                                                           max_batch_size=config.batch_size)
                   | f"{STAGE}/apply" >> beam.ParDo(_EncodeFn(config), model=model_bytes)
                   .with_outputs(REJECTED, DEAD_LETTER, main=KEPT))
        kept = outputs[KEPT]
        source = resolve_model_path(config.model) if config.model else "trained"
        report = (kept
                  | "compression" >> beam.CombineGlobally(CompressionStats(config.unspaced_langs))
                  | "report" >> beam.Map(lambda comp, m: build_report(comp, m, config, source),
                                         m=beam.pvalue.AsSingleton(model)))
        return StageOutputs(kept, outputs[REJECTED], outputs[DEAD_LETTER], {"summary": report})
