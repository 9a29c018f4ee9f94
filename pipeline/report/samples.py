"""A few rejected rows per rejection reason, read from a finished run's rejected/ Parquet.

Streams the shards in order, one record batch of four columns at a time, and keeps at most
``per_reason`` rows per (stage, reason) with their text cut to ``chars`` characters: memory is
bounded by the number of reasons, never by the size of the run (a crawl rejects millions of
rows). Shards are written sorted (``xxh64(id) % n``, rows sorted inside a shard), so the pick
is deterministic. Escaping is the renderers' job (``pipeline.report.doc``).
"""
from __future__ import annotations

from typing import Any

COLUMNS = ("id", "url", "stage", "reason", "text")


def _shards(output: str, kind: str) -> list[str]:
    from apache_beam.io.filesystems import FileSystems

    pattern = FileSystems.join(output, kind, "*.parquet")
    try:
        found = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - no such directory: nothing rejected
        return []
    return sorted(m.path for m in found)


def _cut(value: Any, chars: int) -> str | None:
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= chars else text[:chars] + "…"


def sample_rejections(output: str, per_reason: int = 3, chars: int = 160,
                      batch_rows: int = 1024,
                      expected: set[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """[{stage, reason, rows: [{id, url, text}]}] sorted by (stage, reason). With ``expected``
    (every (stage, reason) the summary counted) the scan stops as soon as each has its rows."""
    if per_reason <= 0:
        return []
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    picked: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def done() -> bool:
        return bool(expected) and all(len(picked.get(key, ())) >= per_reason for key in expected)

    for path in _shards(output, "rejected"):
        if done():
            break
        with FileSystems.open(path) as handle:
            parquet = pq.ParquetFile(handle)
            names = set(parquet.schema_arrow.names)
            columns = [c for c in COLUMNS if c in names]
            if "stage" not in names or "reason" not in names:
                continue
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
                if done():
                    break
                data = batch.to_pydict()
                for i in range(batch.num_rows):
                    key = (str(data["stage"][i]), str(data["reason"][i]))
                    rows = picked.setdefault(key, [])
                    if len(rows) < per_reason:
                        rows.append({"id": _cut(data.get("id", [None] * batch.num_rows)[i], 200),
                                     "url": _cut(data.get("url", [None] * batch.num_rows)[i], 300),
                                     "text": _cut(data.get("text", [None] * batch.num_rows)[i], chars)})
    return [{"stage": stage, "reason": reason, "rows": rows}
            for (stage, reason), rows in sorted(picked.items())]
