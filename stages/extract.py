"""extract: HTML -> main text with trafilatura, keeping list items as bullet lines.

Records that already hold text pass through untouched. The HTML is dropped once text exists,
so later shuffles carry text only.
"""
from __future__ import annotations

import codecs
from functools import partial
from typing import Any

import apache_beam as beam
from pydantic import Field

from stages.base import StageOutputs, run_stage
from stages.record import Doc, Drop
from stages.settings import StageSection

STAGE = "extract"


class Config(StageSection):
    # Pages larger than this are rejected (reason `html_too_large`) before parsing.
    max_html_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # Extracted text shorter than this (characters, stripped) is rejected as `empty_extraction`.
    min_text_chars: int = Field(default=1, ge=0)
    include_tables: bool = True
    include_comments: bool = False


def decode_html(html: bytes, charset: str | None) -> str | bytes:
    """Decode with the HTTP charset when it names a known codec; else let trafilatura sniff."""
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            return html
        return html.decode(charset, errors="replace")
    return html


def extract_text(html: bytes, charset: str | None, config: Config) -> str | None:
    import trafilatura

    return trafilatura.extract(decode_html(html, charset), include_tables=config.include_tables,
                               include_comments=config.include_comments, output_format="txt")


def extract_doc(doc: Doc, config: Config) -> Doc | Drop:
    """The stage core."""
    if doc.html is None:
        return doc  # text records skip extraction
    if len(doc.html) > config.max_html_bytes:
        return Drop("html_too_large", f"{len(doc.html)} bytes > {config.max_html_bytes}")
    text = extract_text(doc.html, doc.charset, config)
    if not text or len(text.strip()) < max(config.min_text_chars, 1):
        return Drop("empty_extraction", "no main text found")
    doc.text = text
    doc.html = None
    return doc


def make_core(config: Config):
    return partial(extract_doc, config=config)


class Stage(beam.PTransform):
    def __init__(self, config: Config, context: Any) -> None:
        super().__init__()
        self.config = config

    def expand(self, docs: beam.PCollection) -> StageOutputs:
        return run_stage(docs, STAGE, partial(make_core, self.config))
