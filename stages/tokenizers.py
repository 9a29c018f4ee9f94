"""The tokenizers the tokenize stage counts with: SentencePiece ``.model`` and Hugging Face ``tokenizer.json``.

Two kinds, one interface (:class:`Tokenizer`: ``encode(texts) -> ids per text``, ``vocab_size``,
``eos_id``), so the stage, the shard writer and the report never branch on the library:

- ``sentencepiece``: a serialised ModelProto, as shipped by Llama 1/2, Mistral 7B, Gemma, T5 or
  trained in the run (:func:`stages.tokenize.train_model`);
- ``huggingface``: the ``tokenizer.json`` of the ``tokenizers`` library (GPT-2, Llama 3, Qwen,
  Mistral Nemo, OLMo, ... ship in that form).

**What is counted.** Only tokens that come from the text: no BOS/EOS. SentencePiece's
``encode`` adds none. For Hugging Face the file's post-processor (a TemplateProcessing that adds
``<s>`` / ``<|begin_of_text|>`` / ``[CLS]``...) is skipped with ``add_special_tokens=False``, any
truncation or padding stored in the file is switched off (a count must never be capped at a
model's context length), and special-token strings that occur *in the text* (a web page quoting
``<|endoftext|>``) are encoded as ordinary text (``encode_special_tokens = True``), as
SentencePiece does; so the only EOS ids in token shards are the separators the writer adds.

Nothing is ever downloaded: a tokenizer is a local file (or a Beam filesystem URL) named in
config, or trained in the run. The bytes travel to workers (a side input), and each process
parses them once (:func:`load` caches by the bytes' hash).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import xxhash
from apache_beam.io.filesystems import FileSystems

from stages import spm_model
from stages.settings import resolve_path

Kind = Literal["sentencepiece", "huggingface"]
KINDS: tuple[str, ...] = ("sentencepiece", "huggingface")
SPM_FILE, HF_FILE, HF_CONFIG_FILE = "tokenizer.model", "tokenizer.json", "tokenizer_config.json"
# Tried in this order when neither tokenize.eos_token nor a tokenizer_config.json next to the
# tokenizer.json names the EOS token: Llama 1/2 and Mistral, GPT-2/Qwen/OLMo/Falcon, Llama 3,
# Gemma, DeepSeek V3.
KNOWN_EOS_TOKENS = ("</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>", "<｜end▁of▁sentence｜>")


@dataclass(frozen=True)
class TokenizerSource:
    """A tokenizer file's bytes plus what is needed to load and name it (a small side input)."""

    kind: str
    data: bytes
    # Resolved path or URL it was read from; for a trained model, its artefact path.
    file: str | None
    # EOS token: from tokenize.eos_token, or a tokenizer_config.json next to tokenizer.json.
    eos_token: str | None = None
    eos_source: str | None = None
    trained_in_run: bool = False

    @property
    def key(self) -> str:
        return model_key(self.data)


def model_key(data: bytes) -> str:
    """Cache key of a tokenizer file (fast; the report's identity uses sha256)."""
    return xxhash.xxh3_128_hexdigest(data)


# --------------------------------------------------------------------------- reading files

def resolve_model_path(path: str) -> str:
    """Absolute local path or a Beam filesystem URL (gs://, s3://) as given."""
    if "://" in path:
        return path
    return os.path.normpath(resolve_path(path))


def read_bytes(path: str) -> bytes:
    """The file's bytes through Beam's filesystems; ValueError naming the resolved path."""
    resolved = resolve_model_path(path)
    try:
        with FileSystems.open(resolved) as handle:
            data = handle.read()
    except Exception as error:  # noqa: BLE001 - every filesystem raises its own errors
        raise ValueError(f"cannot read tokenizer {resolved}: {error}") from None
    if not data:
        raise ValueError(f"tokenizer {resolved} is empty")
    return data


def _is_dir(path: str) -> bool:
    return path.endswith("/") or ("://" not in path and os.path.isdir(path))


def _join(directory: str, name: str) -> str:
    return FileSystems.join(directory.rstrip("/"), name)


def _exists(path: str) -> bool:
    try:
        return FileSystems.exists(path)
    except Exception:  # noqa: BLE001 - an unreachable filesystem is "not there"
        return False


def detect_kind(data: bytes, name: str = "") -> str:
    """``huggingface`` for a tokenizer.json, ``sentencepiece`` for a ModelProto, else ValueError.

    Decided by content (a JSON object with a ``model`` entry, or a parseable ModelProto), so a
    renamed file is still recognised; the error names what the file looks like instead.
    """
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        try:
            parsed = json.loads(data)
        except ValueError as error:
            raise ValueError(f"{name or 'file'} starts like JSON but does not parse: {error}") from None
        if isinstance(parsed, dict) and isinstance(parsed.get("model"), dict):
            return "huggingface"
        if isinstance(parsed, dict) and ("eos_token" in parsed or "tokenizer_class" in parsed):
            raise ValueError(f"{name or 'file'} is a tokenizer_config.json, not a tokenizer: point "
                             f"tokenize.model at the {HF_FILE} next to it (or at the folder)")
        raise ValueError(f"{name or 'file'} is JSON but not a Hugging Face {HF_FILE} "
                         "(no 'model' object)")
    try:
        spm_model.parse(data)
    except ValueError:
        raise ValueError(f"{name or 'file'} is neither a SentencePiece .model nor a Hugging Face "
                         f"{HF_FILE} (tiktoken and vocab.txt files are not supported: convert "
                         "them to tokenizer.json with the tokenizers library)") from None
    return "sentencepiece"


def _config_eos(config_path: str) -> str | None:
    """``eos_token`` of a Hugging Face tokenizer_config.json (a string or an AddedToken dict)."""
    try:
        parsed = json.loads(read_bytes(config_path))
    except ValueError:
        return None
    value = parsed.get("eos_token") if isinstance(parsed, dict) else None
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def read_source(path: str, kind: str = "auto", eos_token: str | None = None) -> TokenizerSource:
    """Read a tokenizer named in config: a file, or a model folder (tokenizer.json preferred).

    A folder is what ``huggingface-cli download`` or ``save_pretrained`` leaves: its
    ``tokenizer.json`` is what transformers' fast tokenizers load, so it wins over a
    ``tokenizer.model`` next to it. For a ``tokenizer.json``, the EOS token is taken from
    ``eos_token`` if given, else from a ``tokenizer_config.json`` beside it.
    """
    resolved = resolve_model_path(path)
    if _is_dir(resolved):
        wanted = {"auto": (HF_FILE, SPM_FILE), "huggingface": (HF_FILE,),
                  "sentencepiece": (SPM_FILE,)}[kind]
        found = next((name for name in wanted if _exists(_join(resolved, name))), None)
        if found is None:
            raise ValueError(f"folder {resolved} holds no {' or '.join(wanted)}")
        resolved = _join(resolved, found)
    data = read_bytes(resolved)
    detected = detect_kind(data, resolved)
    if kind != "auto" and detected != kind:
        raise ValueError(f"{resolved} is a {detected} tokenizer, but tokenize.kind is {kind}")
    eos_source = "tokenize.eos_token" if eos_token else None
    if eos_token is None and detected == "huggingface":
        sibling = _join(resolved.rsplit("/", 1)[0], HF_CONFIG_FILE) if "/" in resolved else HF_CONFIG_FILE
        if _exists(sibling):
            eos_token = _config_eos(sibling)
            eos_source = HF_CONFIG_FILE if eos_token else None
    return TokenizerSource(kind=detected, data=data, file=resolved, eos_token=eos_token,
                           eos_source=eos_source)


# --------------------------------------------------------------------------- loaded tokenizers

def valid_utf8(text: str) -> str:
    """Lone surrogates cannot cross into either library; the Parquet sink writes U+FFFD too."""
    return text.encode("utf-8", "replace").decode("utf-8")


class Tokenizer:
    """A loaded tokenizer: ids per text without BOS/EOS, plus what shards and reports need."""

    kind: str = ""
    vocab_size: int = 0
    # Largest id + 1: what a shard's dtype must hold (added tokens can lie past the vocabulary).
    id_bound: int = 0
    eos_id: int | None = None
    eos_token: str | None = None
    eos_source: str | None = None

    def encode(self, texts: Sequence[str], threads: int = 1) -> list[list[int]]:
        """Token ids per text, no special tokens added; same ids as one call per text."""
        texts = list(texts)
        if not texts:
            return []
        try:
            return self._encode(texts, threads)
        except (UnicodeError, TypeError):  # lone surrogates: "... must be str"
            return self._encode([valid_utf8(t) for t in texts], threads)

    def _encode(self, texts: list[str], threads: int) -> list[list[int]]:
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Kind-specific fields for the report (model type, normaliser, ...)."""
        return {}


class SentencePieceTokenizer(Tokenizer):
    kind = "sentencepiece"

    def __init__(self, data: bytes, eos_token: str | None = None, eos_source: str | None = None) -> None:
        import sentencepiece as spm

        self.data = data
        self.processor = spm.SentencePieceProcessor(model_proto=data)
        self.vocab_size = self.id_bound = int(self.processor.get_piece_size())
        if eos_token is None:
            eos = int(self.processor.eos_id())
            self.eos_id = eos if eos >= 0 else None
            self.eos_token = self.processor.id_to_piece(eos) if eos >= 0 else None
            self.eos_source = "sentencepiece model" if eos >= 0 else None
        else:
            eos = int(self.processor.piece_to_id(eos_token))
            if self.processor.id_to_piece(eos) != eos_token:  # piece_to_id answers unk_id
                raise ValueError(f"EOS token {eos_token!r} is not a piece of this SentencePiece model")
            self.eos_id, self.eos_token, self.eos_source = eos, eos_token, eos_source

    def _encode(self, texts: list[str], threads: int) -> list[list[int]]:
        return self.processor.encode(texts, out_type=int, num_threads=threads)

    def decode(self, ids: Sequence[int]) -> str:
        return self.processor.decode([int(i) for i in ids])

    def describe(self) -> dict[str, Any]:
        return spm_model.model_info(self.data) | {"special_tokens_added": []}


class HuggingFaceTokenizer(Tokenizer):
    kind = "huggingface"

    def __init__(self, data: bytes, eos_token: str | None = None, eos_source: str | None = None) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        self.spec = json.loads(data)
        tokenizer = HFTokenizer.from_str(data.decode("utf-8"))
        # Counts are of the text: no cap at a context length, no padding, no template tokens,
        # and special-token strings inside the text are plain text (see the module docstring).
        tokenizer.no_truncation()
        tokenizer.no_padding()
        tokenizer.encode_special_tokens = True
        self.tokenizer = tokenizer
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        self.vocab_size = int(tokenizer.get_vocab_size(with_added_tokens=True))
        self.id_bound = max(vocab.values(), default=-1) + 1
        if eos_token is not None:
            if tokenizer.token_to_id(eos_token) is None:
                raise ValueError(f"EOS token {eos_token!r} is not in this tokenizer's vocabulary")
        else:
            eos_token = next((name for name in KNOWN_EOS_TOKENS if name in vocab), None)
            eos_source = "known name" if eos_token else None
        self.eos_token, self.eos_source = eos_token, eos_source
        self.eos_id = tokenizer.token_to_id(eos_token) if eos_token is not None else None

    def _encode(self, texts: list[str], threads: int) -> list[list[int]]:
        if threads == 1:
            # The batch call fans out on every core unless told not to; Beam workers own the
            # cores. (encode() per text would stay on one core too, but it also computes
            # character offsets: 1.16-1.39 vs 0.92-0.93 CPU s for Llama 2 on the 697 Common
            # Crawl texts, one core, one sitting.)
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        return [e.ids for e in self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

    def describe(self) -> dict[str, Any]:
        def type_of(part: Any) -> str | None:
            return part.get("type") if isinstance(part, dict) else None

        # What the file's post-processor would add around a text: never counted here.
        with_template = self.tokenizer.encode("", add_special_tokens=True).tokens
        return {"model_type": (type_of(self.spec.get("model")) or "").lower() or None,
                "normalizer": type_of(self.spec.get("normalizer")),
                "pre_tokenizer": type_of(self.spec.get("pre_tokenizer")),
                "special_tokens_added": list(with_template)}


_LOADED: dict[tuple[str, str, str | None], Tokenizer] = {}
_LOCK = threading.Lock()
# How many times this process parsed each tokenizer file, by model_key (tests: once per worker).
LOADS: Counter = Counter()


def load(source: TokenizerSource) -> Tokenizer:
    """The loaded tokenizer for ``source``, parsed once per process and then shared."""
    key = (source.kind, source.key, source.eos_token)
    tokenizer = _LOADED.get(key)
    if tokenizer is None:
        with _LOCK:
            tokenizer = _LOADED.get(key)
            if tokenizer is None:
                cls = {"sentencepiece": SentencePieceTokenizer,
                       "huggingface": HuggingFaceTokenizer}[source.kind]
                tokenizer = cls(source.data, source.eos_token, source.eos_source)
                _LOADED[key] = tokenizer
                LOADS[source.key] += 1
    return tokenizer


def identity(source: TokenizerSource, tokenizer: Tokenizer | None = None) -> dict[str, Any]:
    """What the report names the tokenizer by: kind, file, sha256, vocabulary, EOS, trained_in_run."""
    tokenizer = tokenizer or load(source)
    return {
        "kind": source.kind,
        "file": source.file,
        "sha256": hashlib.sha256(source.data).hexdigest(),
        "bytes": len(source.data),
        "vocab_size": tokenizer.vocab_size,
        "eos_id": tokenizer.eos_id,
        "eos_token": tokenizer.eos_token,
        "eos_source": tokenizer.eos_source,
        "trained_in_run": source.trained_in_run,
        **tokenizer.describe(),
    }
