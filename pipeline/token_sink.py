"""Per-input-file token-id shards written by the last pass, beside that file's kept Parquet.

Documents go in kept order (the order of the kept file's rows), streamed by
:class:`stages.token_shards.ShardWriter` (Megatron-LM indexed dataset and/or nanoGPT flat
``.bin``, plus the doc ids): memory is one document's ids and the shard's lengths. A pass that
fails leaves its files in the private work directory, which is never committed.
"""
from __future__ import annotations

from typing import Any

from pipeline.passes import Layout
from pipeline.shards import ensure_dir
from stages import token_shards
from stages.record import Doc


class TokenSink:
    def __init__(self, directory: str, name: str, settings: token_shards.ShardSettings) -> None:
        self.directory, self.name, self.settings = directory, name, settings
        self.writer: token_shards.ShardWriter | None = None

    def add(self, doc: Doc) -> None:
        if doc.token_ids is None:
            return
        if self.writer is None:
            ensure_dir(self.directory)
            self.writer = token_shards.ShardWriter(self.directory, self.name, self.settings)
        self.writer.add(doc.id, doc.token_ids)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


class TokenSinkFactory:
    """Picklable ``(layout, file index) -> TokenSink`` for the tokenize step's config (the
    shard settings - formats, id bound, EOS - are known before any work)."""

    def __init__(self, config: Any) -> None:
        from stages.tokenize import shard_settings

        self.settings = shard_settings(config)

    def __call__(self, layout: Layout, file_index: int) -> TokenSink:
        return TokenSink(f"{layout.out}/tokens", layout.part_name(file_index), self.settings)
