"""The records every stage sees and emits.

One small mutable dataclass travels through the graph; stages replace fields rather than
wrapping it, so a document costs one pickle on the wire. ``html`` is dropped as soon as text
exists, which keeps shuffles (dedup, sinks) small.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Bytes of the original record kept on a reject or dead letter, for auditing.
AUDIT_TEXT_CHARS = 2000
DEAD_LETTER_RAW_BYTES = 4096


@dataclass(slots=True)
class Doc:
    """A document between stages."""

    id: str
    url: str = ""
    source: str = ""
    html: bytes | None = None
    charset: str | None = None
    text: str | None = None
    lang: str | None = None
    lang_score: float | None = None
    date: str | None = None
    raw_bytes: int = 0
    token_count: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Token ids (a numpy array) set by the tokenize stage only when tokenize.write_token_ids is
    # on; the token shard sink consumes them. None otherwise, so shuffles stay small.
    token_ids: Any = None
    # Where the record starts in its source file: JSON line number (1-based), Parquet row index
    # (0-based) or WARC/ARC byte offset (the record's gzip member, as CDX indexes give it).
    position: int | None = None
    # The input record's other fields as JSON text (input.metadata); None when not kept. Text,
    # not a dict: it is only carried to the kept Parquet, and text pickles small.
    metadata: str | None = None

    def size(self) -> int:
        """Bytes a stage reads: UTF-8 text once extracted, raw HTML before."""
        if self.text is not None:
            return len(self.text.encode("utf-8", "surrogatepass"))
        return len(self.html) if self.html is not None else 0

    def replace(self, **changes: Any) -> "Doc":
        return dataclasses.replace(self, **changes)


@dataclass(slots=True)
class Rejected:
    """A document a stage decided to drop, with the rule that dropped it."""

    doc: Doc
    stage: str
    reason: str
    detail: str = ""
    # Bytes the document had when rejected (its text may be truncated for the audit copy).
    bytes: int = 0


@dataclass(slots=True)
class DeadLetter:
    """A record that could not be read or processed; carries the error and raw bytes."""

    source: str
    stage: str
    error: str
    raw: bytes = b""
    id: str = ""

    @staticmethod
    def of(source: str, stage: str, error: BaseException | str, raw: bytes | str = b"",
           doc_id: str = "") -> "DeadLetter":
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "replace")
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return DeadLetter(source=source, stage=stage, error=message[:2000],
                          raw=bytes(raw[:DEAD_LETTER_RAW_BYTES]), id=doc_id)


@dataclass(frozen=True, slots=True)
class Drop:
    """What a stage core returns to reject a document: a reason and a short detail."""

    reason: str
    detail: str = ""


@dataclass(slots=True)
class Verdict:
    """What a core may return instead of a bare Doc or Drop: the same result plus ``info``, the
    numbers the stage's report counts (rule statistics, benchmark hits), so a rule is evaluated
    once and both the decision and the report come from that one evaluation."""

    result: "Doc | Drop"
    info: Any = None
