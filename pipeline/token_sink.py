"""Per-input-file token-id shards written by the last pass, beside that file's kept Parquet.

Documents go in kept order (the order of the kept file's rows), streamed by
:class:`stages.token_shards.ShardWriter` (Megatron-LM indexed dataset and/or nanoGPT flat
``.bin``, plus the doc ids): memory is one document's ids and the shard's lengths. A file's
shard is named like its kept Parquet (``part-NNNNN-of-MMMMM``); once it holds
``tokenize.tokens_per_shard`` tokens the next document starts a continuation shard
``part-NNNNN-of-MMMMM-c00001`` (a document is never split), so shard size is bounded whatever
the input files' sizes. A pass that fails leaves its files in the private work directory,
which is never committed.
"""
from __future__ import annotations

from typing import Any

from pipeline.passes import Layout
from pipeline.shards import ensure_dir
from stages import token_shards
from stages.record import Doc


def continuation_name(name: str, number: int) -> str:
    """The ``number``-th shard of one input file (0: the file's own part name)."""
    return name if number == 0 else f"{name}-c{number:05d}"


class TokenSink:
    def __init__(self, directory: str, name: str, settings: token_shards.ShardSettings,
                 tokens_per_shard: int) -> None:
        self.directory, self.name, self.settings = directory, name, settings
        self.tokens_per_shard = tokens_per_shard
        self.writer: token_shards.ShardWriter | None = None
        self.shards = 0
        self.tokens_in_shard = 0

    def add(self, doc: Doc) -> None:
        if doc.token_ids is None or not len(doc.token_ids):
            return
        if self.writer is not None and self.tokens_in_shard >= self.tokens_per_shard:
            self.writer.close()
            self.writer = None
        if self.writer is None:
            ensure_dir(self.directory)
            self.writer = token_shards.ShardWriter(
                self.directory, continuation_name(self.name, self.shards), self.settings)
            self.shards += 1
            self.tokens_in_shard = 0
        self.writer.add(doc.id, doc.token_ids)
        self.tokens_in_shard += len(doc.token_ids)

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
        self.tokens_per_shard = config.tokens_per_shard

    def __call__(self, layout: Layout, file_index: int) -> TokenSink:
        return TokenSink(f"{layout.out}/tokens", layout.part_name(file_index), self.settings,
                         self.tokens_per_shard)
