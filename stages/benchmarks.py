"""Benchmark files -> item texts, driven only by configuration (no code per benchmark).

A source names a file, its format and a *field spec* saying where the text is:

- ``question``: one field of a record; every value it yields is one item;
- ``data[].paragraphs[].context``: a nested path, ``[]`` iterating a list (one item per value);
- ``[question, answer]`` (a list): the values of all listed paths of one record, joined with a
  space, form one item (a list value inside, e.g. ``choices[]``, is joined too);
- ``line``: every non-blank line is one item (text files; for JSONL the raw line);
- ``paragraphs``: blank-line separated blocks are items (text files);
- ``document``: the whole file is one item.

Records are JSONL lines, or for ``json`` the whole file (or each element of ``records``, a
path such as ``data[].paragraphs[]``). ``.gz`` / ``.bz2`` are read by suffix. Relative paths
are resolved against the config file's folder (``stages.settings``), so configs work from any
working directory.
"""
from __future__ import annotations

import bz2
import gzip
import json
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Union

from pydantic import Field, field_validator

from stages.settings import ResourcePath, Section, resolve_path

WHOLE = ("line", "paragraphs", "document")
Format = Literal["auto", "jsonl", "json", "text"]
FieldSpec = Union[str, tuple[str, ...]]
_SEGMENT = re.compile(r"^([^\[\]]*)((?:\[\d*\])*)$")


class BenchmarkSource(Section):
    """One benchmark file and where its text is."""

    name: str = Field(min_length=1)
    path: ResourcePath = Field(min_length=1)
    format: Format = "auto"
    fields: FieldSpec = "line"
    records: str | None = None  # json only: path to the list of records, e.g. data[]

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        """A missing file is a config error before any work, not a crash at graph build."""
        if "://" not in value and not resolve_path(value).is_file():
            raise ValueError(f"benchmark file not found: {resolve_path(value)}")
        return value

    @field_validator("fields")
    @classmethod
    def _check_fields(cls, value: FieldSpec) -> FieldSpec:
        specs = (value,) if isinstance(value, str) else value
        if not specs:
            raise ValueError("fields must name at least one field")
        for spec in specs:
            parse_path(spec)
        if not isinstance(value, str) and any(s in WHOLE for s in value):
            raise ValueError(f"{WHOLE} cannot be combined with other fields")
        return value

    def resolved_path(self) -> Path:
        return resolve_path(self.path)

    def resolved_format(self) -> str:
        return detect_format(self.path) if self.format == "auto" else self.format


def detect_format(path: str) -> str:
    name = path.lower()
    for suffix in (".gz", ".bz2"):
        name = name.removesuffix(suffix)
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    return "text"


def open_text(path: Path) -> str:
    """The whole file decoded as UTF-8 (gzip / bz2 by suffix)."""
    raw = path.read_bytes()
    name = path.name.lower()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    elif name.endswith(".bz2"):
        raw = bz2.decompress(raw)
    return raw.decode("utf-8-sig")


def parse_path(spec: str) -> list[tuple[str, list[str]]]:
    """``a[].b[0].c`` -> [("a", [""]), ("b", ["0"]), ("c", [])]; "" means every element."""
    if spec in WHOLE:
        return []
    out = []
    for part in spec.split("."):
        match = _SEGMENT.match(part)
        if not match or (not match.group(1) and not match.group(2)):
            raise ValueError(f"bad field path {spec!r} (segment {part!r})")
        out.append((match.group(1), re.findall(r"\[(\d*)\]", match.group(2))))
    return out


def values_at(record: Any, spec: str) -> Iterator[Any]:
    """Every value a nested path reaches in ``record``; missing keys yield nothing."""
    nodes = [record]
    for key, indexes in parse_path(spec):
        nxt = []
        for node in nodes:
            if key:
                if not isinstance(node, dict) or key not in node:
                    continue
                node = node[key]
            chosen = [node]
            for index in indexes:
                level = []
                for value in chosen:
                    if not isinstance(value, list):
                        continue
                    if index == "":
                        level.extend(value)
                    elif int(index) < len(value):
                        level.append(value[int(index)])
                chosen = level
            nxt.extend(chosen)
        nodes = nxt
    return iter(nodes)


def as_text(value: Any) -> Iterator[str]:
    """Strings as they are, lists flattened, numbers stringified; None and dicts skipped."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)
    elif isinstance(value, list):
        for element in value:
            yield from as_text(element)


def record_items(record: Any, fields: FieldSpec) -> Iterator[str]:
    if isinstance(fields, str):
        for value in values_at(record, fields):
            yield from (text for text in as_text(value) if text.strip())
        return
    parts = [text for spec in fields for value in values_at(record, spec)
             for text in as_text(value)]
    joined = " ".join(p for p in parts if p.strip())
    if joined:
        yield joined


def text_items(text: str, fields: str) -> Iterator[str]:
    if fields == "document":
        if text.strip():
            yield text
    elif fields == "paragraphs":
        yield from (p for p in re.split(r"\n[ \t]*\n", text) if p.strip())
    else:
        yield from (line for line in text.splitlines() if line.strip())


def load_items(source: BenchmarkSource) -> list[str]:
    """Item texts of one benchmark source, in file order."""
    return list(iter_items(open_text(source.resolved_path()), source.resolved_format(),
                           source.fields, source.records))


def iter_items(text: str, fmt: str, fields: FieldSpec, records: str | None = None
               ) -> Iterator[str]:
    """Pure core of :func:`load_items` (file content in, items out)."""
    if isinstance(fields, str) and fields in WHOLE and (fmt == "text" or fields != "line"):
        yield from text_items(text, fields)
        return
    if fmt == "text":
        raise ValueError(f"text files take fields line | paragraphs | document, not {fields!r}")
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if fields == "line":
                yield line
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"line {number}: {error}") from error
            yield from record_items(record, fields)
        return
    if fmt == "json":
        data = json.loads(text)
        rows: Iterable[Any] = values_at(data, records) if records else [data]
        for record in rows:
            yield from record_items(record, fields)
        return
    raise ValueError(f"unknown format {fmt!r}")
