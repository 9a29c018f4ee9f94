"""Per-input-file token-id shards written by the last pass, beside that file's kept Parquet.

Documents are streamed in kept order (the kept file's row order): the ``.bin`` grows as the
pass goes and the index is written at the end, so memory is one document's ids. Files appear
under their final names only when complete. The on-disk format is :mod:`stages.token_shards`'.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from pipeline.passes import Layout
from pipeline.shards import _tmp_name, ensure_dir
from stages import token_shards
from stages.record import Doc


class TokenSink:
    def __init__(self, base: str) -> None:
        self.base = base
        self.ids: list[str] = []
        self.offsets: list[int] = []
        self.lengths: list[int] = []
        self.offset = 0
        self.dtype: np.dtype | None = None
        self._handle: Any = None
        self._tmp = ""

    def add(self, doc: Doc) -> None:
        tokens = doc.token_ids
        if tokens is None:
            return
        tokens = np.asarray(tokens)
        if self._handle is None:
            self.dtype = np.dtype(tokens.dtype).newbyteorder("<")
            ensure_dir(self.base.rpartition("/")[0])
            self._tmp = _tmp_name(self.base + token_shards.BIN_SUFFIX)
            self._handle = FileSystems.create(self._tmp)
        self._handle.write(tokens.astype(self.dtype).tobytes())
        self.ids.append(doc.id)
        self.offsets.append(self.offset)
        self.lengths.append(int(tokens.size))
        self.offset += int(tokens.size)

    def close(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        FileSystems.rename([self._tmp], [self.base + token_shards.BIN_SUFFIX])
        table = pa.Table.from_pydict({"id": self.ids, "offset": self.offsets,
                                      "length": self.lengths}, schema=token_shards.INDEX_SCHEMA)
        table = table.replace_schema_metadata({"dtype": self.dtype.str, "format": "token-shard-v1"})
        tmp = _tmp_name(self.base + token_shards.INDEX_SUFFIX)
        with FileSystems.create(tmp) as handle:
            handle.write(token_shards.index_bytes(table))
        FileSystems.rename([tmp], [self.base + token_shards.INDEX_SUFFIX])

    def abort(self) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
                FileSystems.delete([self._tmp])
            except Exception:  # noqa: BLE001
                pass


class TokenSinkFactory:
    """Picklable ``(layout, file index) -> TokenSink`` for the tokenize step's config."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def __call__(self, layout: Layout, file_index: int) -> TokenSink:
        return TokenSink(f"{layout.out}/tokens/{layout.part_name(file_index)}")
