"""Benchmark files -> items, driven only by configuration (no code per benchmark).

A source names a file, its format and a *field spec* saying where the text is:

- ``question``: one field of a record; every value it yields is one item;
- ``data[].paragraphs[].context``: a nested path, ``[]`` iterating a list (one item per value);
- ``[question, answer]`` (a list): the values of all listed paths of one record form one item,
  in order; each value is one *part* of the item (``choices[]`` gives one part per choice);
- ``[ctx, "endings[*]"]``: ``[*]`` marks *alternatives*: the item has one text variant per
  value (the context followed by each ending), because the page that quotes the item quotes
  one of them, not all of them joined;
- ``line``: every non-blank line is one item (text files; for JSONL the raw line);
- ``paragraphs``: blank-line separated blocks of lines are items (text files); with
  ``item_start`` (a regex) a line matching it also starts a new item; each line is a part;
- ``document``: the whole file is one item.

``strip_prefix`` (a regex) is removed from the start of every line of every part: labels such
as ``Question:`` or ``Activity label:`` are not part of the text a page would quote.

Records are JSONL lines, or for ``json`` the whole file (or each element of ``records``, a
path such as ``data[].paragraphs[]``). Lines are split at ``\\n`` / ``\\r\\n`` / ``\\r`` only
(``str.splitlines`` would also split at U+0085 and U+2028, which JSON strings may hold). Gzip
and bzip2 are recognised by their first bytes (else by suffix). Relative paths are resolved
against the config file's folder (``stages.settings``), so configs work from any working
directory. Every error names the benchmark, the file and, where there is one, the line.
"""
from __future__ import annotations

import bz2
import gzip
import itertools
import json
import re
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, NamedTuple, Union

from pydantic import Field, field_validator, model_validator

from stages.settings import ResourcePath, Section, resolve_path

WHOLE = ("line", "paragraphs", "document")
Format = Literal["auto", "jsonl", "json", "text"]
FieldSpec = Union[str, tuple[str, ...]]
_SEGMENT = re.compile(r"^([^\[\]]*)((?:\[(?:\d*|\*)\])*)$")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_BLANK_LINE = re.compile(r"^[ \t]*$")
# An item with several [*] fields has one variant per combination; a record that asks for
# more than this is a config mistake (e.g. [*] on the wrong list), reported with its line.
MAX_VARIANTS = 256


class Item(NamedTuple):
    """One benchmark item: its text variants, each a tuple of parts (field values or lines)."""

    variants: tuple[tuple[str, ...], ...]

    @property
    def text(self) -> str:
        """The first variant as one string (reports, tests)."""
        return " ".join(self.variants[0])


class ItemError(ValueError):
    """A file that cannot be read as configured; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


class BenchmarkError(ValueError):
    """An :class:`ItemError` with the benchmark and the file named (what users see)."""


class BenchmarkSource(Section):
    """One benchmark file and where its text is. Validating one reads the whole file, so a
    file that cannot be read as configured fails ``validate``, not a run."""

    name: str = Field(min_length=1)
    path: ResourcePath = Field(min_length=1)
    format: Format = "auto"
    fields: FieldSpec = "line"
    records: str | None = None  # json only: path to the list of records, e.g. data[]
    # Regex removed from the start of every line of every part (labels such as "Question: ").
    strip_prefix: str | None = None
    # Text files with fields: paragraphs: a line matching this regex also starts a new item.
    item_start: str | None = None
    # Also match each part (or run of consecutive parts) of 8-12 words whole: a page quoting
    # only the question of a "question + choices" item holds none of the joined n-grams.
    match_parts: bool = True

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

    @field_validator("records")
    @classmethod
    def _check_records(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value)
        return value

    @field_validator("strip_prefix", "item_start")
    @classmethod
    def _check_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"not a valid regular expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _load(self) -> "BenchmarkSource":
        """Read every item now: a bad line or a field spec matching nothing is a config error."""
        fmt = self.resolved_format()
        if self.item_start is not None and (fmt != "text" or self.fields != "paragraphs"):
            raise ValueError("item_start applies to text files with fields: paragraphs "
                             f"(this source: format {fmt}, fields {self.fields!r})")
        if self.records is not None and fmt != "json":
            raise ValueError(f"records applies to format json only (this source: {fmt})")
        if not sum(1 for _ in iter_source(self)):  # every line, not just the first item
            raise BenchmarkError(f"benchmark {self.name!r}, file {self.location()}: no items "
                                 f"(fields {self.fields!r} found no text; check the field names)")
        return self

    def resolved_path(self) -> Path:
        return resolve_path(self.path)

    def location(self) -> str:
        return self.path if "://" in self.path else str(self.resolved_path())

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


def read_bytes(location: str) -> bytes:
    """The file's bytes: local paths directly, ``scheme://`` paths through Beam's filesystems."""
    if "://" in location:
        from apache_beam.io.filesystems import FileSystems
        with FileSystems.open(location, compression_type="uncompressed") as handle:
            return handle.read()
    return Path(location).read_bytes()


def decode(raw: bytes, name: str) -> str:
    """Decompressed (gzip / bzip2 by magic bytes, else by suffix) and decoded as UTF-8."""
    lowered = name.lower()
    try:
        if raw[:2] == b"\x1f\x8b" or (lowered.endswith(".gz") and raw):
            raw = gzip.decompress(raw)
        elif raw[:3] == b"BZh" or (lowered.endswith(".bz2") and raw):
            raw = bz2.decompress(raw)
    except (OSError, EOFError, ValueError, zlib.error) as error:
        raise ItemError(f"cannot decompress: {error}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise ItemError(f"not UTF-8 (byte {error.start}: {error.reason})", line) from None


def parse_path(spec: str) -> list[tuple[str, list[str]]]:
    """``a[].b[0].c[*]`` -> [("a", [""]), ("b", ["0"]), ("c", ["*"])]; "" and "*" mean every
    element ("*": each one is an alternative, see :func:`record_items`)."""
    if spec in WHOLE:
        return []
    out = []
    for part in spec.split("."):
        match = _SEGMENT.match(part)
        if not match or (not match.group(1) and not match.group(2)):
            raise ValueError(f"bad field path {spec!r} (segment {part!r})")
        out.append((match.group(1), re.findall(r"\[(\d*|\*)\]", match.group(2))))
    return out


def is_alternatives(spec: str) -> bool:
    return "[*]" in spec


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
                    if index in ("", "*"):
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


def prefix_stripper(pattern: str | None) -> Callable[[str], str]:
    """A function removing ``pattern`` at the start of every line of a part (None: identity)."""
    if pattern is None:
        return lambda text: text
    compiled = re.compile(f"^(?:{pattern})", re.MULTILINE)
    return lambda text: compiled.sub("", text)


def record_items(record: Any, fields: FieldSpec, strip=lambda text: text) -> Iterator[Item]:
    """Items of one record (see the module doc for the field spec)."""
    if isinstance(fields, str):
        for value in values_at(record, fields):
            for text in as_text(value):
                text = strip(text)
                if text.strip():
                    yield Item(((text,),))
        return
    slots: list[list[tuple[str, ...]]] = []  # per field: the part tuples it may contribute
    for spec in fields:
        texts = [t for value in values_at(record, spec) for t in map(strip, as_text(value))
                 if t.strip()]
        if is_alternatives(spec):
            if texts:
                slots.append([(t,) for t in texts])
        else:
            slots.append([tuple(texts)])
    count = 1
    for slot in slots:
        count *= len(slot)
    if count > MAX_VARIANTS:
        raise ItemError(f"{count} variants (> {MAX_VARIANTS}) from the [*] fields of {fields}")
    variants = []
    for combination in itertools.product(*slots):
        parts = tuple(p for chosen in combination for p in chosen)
        if parts:
            variants.append(parts)
    if variants:
        yield Item(tuple(variants))


def split_lines(text: str) -> list[str]:
    """Lines at \\n, \\r\\n and \\r only (never at U+0085, U+2028, ... inside a line)."""
    return _NEWLINE.split(text)


def text_items(text: str, fields: str, strip=lambda text: text,
               item_start: str | None = None) -> Iterator[Item]:
    """Items of a text file; a multi-line item has one part per non-blank line."""
    lines = [strip(line) for line in split_lines(text)]
    if fields == "line":
        for line in lines:
            if line.strip():
                yield Item(((line,),))
        return
    if fields == "document":
        groups = [lines]
    else:
        starts = re.compile(item_start) if item_start else None
        groups, current = [], []
        for raw, line in zip(split_lines(text), lines):
            if _BLANK_LINE.match(raw) or (starts is not None and starts.match(raw)):
                if current:
                    groups.append(current)
                current = []
            current.append(line)
        groups.append(current)
    for group in groups:
        parts = tuple(line for line in group if line.strip())
        if parts:
            yield Item((parts,))


def iter_items(text: str, fmt: str, fields: FieldSpec, records: str | None = None,
               strip_prefix: str | None = None, item_start: str | None = None
               ) -> Iterator[Item]:
    """Items of a file's content (pure: content in, items out; errors carry the line)."""
    strip = prefix_stripper(strip_prefix)
    if isinstance(fields, str) and fields in WHOLE and (fmt == "text" or fields != "line"):
        yield from text_items(text, fields, strip, item_start)
        return
    if fmt == "text":
        raise ItemError(f"text files take fields line | paragraphs | document, not {fields!r}")
    if fmt == "jsonl":
        for number, line in enumerate(split_lines(text), 1):
            if not line.strip():
                continue
            if fields == "line":
                line = strip(line)
                if line.strip():
                    yield Item(((line,),))
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ItemError(f"not JSON: {error.msg} (column {error.colno})", number) from None
            try:
                yield from record_items(record, fields, strip)
            except ItemError as error:
                raise ItemError(error.message, number) from None
        return
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ItemError(f"not JSON: {error.msg} (column {error.colno})", error.lineno) from None
        rows: Iterable[Any] = values_at(data, records) if records else [data]
        for record in rows:
            yield from record_items(record, fields, strip)
        return
    raise ItemError(f"unknown format {fmt!r}")


def iter_source(source: BenchmarkSource) -> Iterator[Item]:
    """Items of one benchmark source in file order; errors name benchmark, file and line."""
    location = source.location()
    try:
        text = decode(read_bytes(location), location)
        yield from iter_items(text, source.resolved_format(), source.fields, source.records,
                              source.strip_prefix, source.item_start)
    except ItemError as error:
        where = f", line {error.line}" if error.line is not None else ""
        raise BenchmarkError(f"benchmark {source.name!r}, file {location}{where}: "
                             f"{error.message}") from None
    except OSError as error:
        raise BenchmarkError(f"benchmark {source.name!r}, file {location}: cannot read "
                             f"({error.strerror or error})") from None


def load_items(source: BenchmarkSource) -> list[Item]:
    """Item list of one benchmark source, in file order."""
    return list(iter_source(source))
