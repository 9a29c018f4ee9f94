"""Output rows and small files: the kept/rejected/dead-letter Parquet schemas, the row each
record becomes, JSON helpers, and the dataset card that tells Hugging Face ``datasets`` which
folder is which.

Rows are written per input file by the passes (:mod:`pipeline.passes`), in input order: the
same input and config give byte-identical files on every runner and worker count.
"""
from __future__ import annotations

import json
from typing import Any

import orjson
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from stages.record import AUDIT_TEXT_CHARS, DeadLetter, Doc, Rejected

KEPT_SCHEMA = pa.schema([
    ("id", pa.string()), ("url", pa.string()), ("source", pa.string()), ("text", pa.string()),
    ("lang", pa.string()), ("lang_score", pa.float32()), ("token_count", pa.int64()),
    ("date", pa.string()), ("meta", pa.string()), ("metadata", pa.string()), ("position", pa.int64()),
])
REJECTED_SCHEMA = pa.schema([
    ("id", pa.string()), ("url", pa.string()), ("source", pa.string()), ("stage", pa.string()),
    ("reason", pa.string()), ("detail", pa.string()), ("bytes", pa.int64()), ("text", pa.string()),
    ("lang", pa.string()), ("meta", pa.string()), ("position", pa.int64()),
])
DEAD_LETTER_SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("stage", pa.string()), ("error", pa.string()),
    ("raw", pa.binary()),
])


def _meta_json(meta: dict) -> str:
    return orjson.dumps(meta, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                        default=str).decode() if meta else "{}"


def _clean(text: str | None) -> str | None:
    """Parquet needs valid UTF-8; lone surrogates (from broken input) become U+FFFD."""
    if text is None:
        return None
    return text.encode("utf-8", "replace").decode("utf-8")


def kept_row(doc: Doc) -> dict[str, Any]:
    return {"id": doc.id, "url": _clean(doc.url), "source": doc.source, "text": _clean(doc.text),
            "lang": doc.lang, "lang_score": doc.lang_score, "token_count": doc.token_count,
            "date": doc.date, "meta": _meta_json(doc.meta), "metadata": _clean(doc.metadata),
            "position": doc.position}


def rejected_row(rejected: Rejected) -> dict[str, Any]:
    doc = rejected.doc
    text = doc.text[:AUDIT_TEXT_CHARS] if doc.text else None
    return {"id": doc.id, "url": _clean(doc.url), "source": doc.source, "stage": rejected.stage,
            "reason": rejected.reason, "detail": _clean(rejected.detail),
            "bytes": rejected.bytes or doc.raw_bytes, "text": _clean(text), "lang": doc.lang,
            "meta": _meta_json(doc.meta), "position": doc.position}


def dead_letter_row(dead: DeadLetter) -> dict[str, Any]:
    return {"id": _clean(dead.id), "source": dead.source, "stage": dead.stage,
            "error": _clean(dead.error), "raw": dead.raw}


# Hugging Face dataset card: `load_dataset(<output>)` reads kept/ (the default config) and never
# mixes in rejected/ or dead_letter/, which have other columns; each is its own named config.
DATASET_CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: kept/*.parquet
- config_name: rejected
  data_files:
  - split: train
    path: rejected/*.parquet
- config_name: dead_letter
  data_files:
  - split: train
    path: dead_letter/*.parquet
---
# Pipeline output

`kept/` is the training text (`load_dataset("<this folder>")`); `rejected/` and `dead_letter/`
say why every other input record was removed (`load_dataset("<this folder>", "rejected")`).
`summary.json` proves input = kept + rejected + dead-lettered; `report.html` is the token budget.
"""


def write_dataset_card(output: str) -> None:
    with FileSystems.create(f"{output}/README.md") as handle:
        handle.write(DATASET_CARD.encode("utf-8"))


def write_json(path: str, value: Any) -> None:
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode())


def read_json(path: str) -> Any:
    """The JSON value at ``path``, or None when there is no such file."""
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as handle:
        return json.loads(handle.read().decode("utf-8"))
