"""Load a YAML config into typed sections and fail early with the file, key and allowed values.

YAML is read safely (no object construction) and defensively: duplicate keys are errors, aliases
may not expand the document by more than ``MAX_ALIAS_EXPANSION`` nodes (a 1 KB "billion laughs"
file is refused in milliseconds), config files are at most ``MAX_CONFIG_BYTES`` and ``extends``
chains at most ``MAX_EXTENDS`` files deep, and an error message never quotes more than a few
hundred characters of a value. Sections for stages come from the stage modules themselves (see
:mod:`pipeline.registry`); this module adds input, output and run-level settings and applies
``--set key.path=value`` overrides from the command line.

Paths: every path-typed field (``stages.settings.ResourcePath`` and friends) written in a config
file is resolved against that file's folder when the file is read, before ``extends`` merges it;
values from ``--set``/``--input``/``--output`` against the current directory (see
:mod:`stages.settings` for the whole rule).
"""
from __future__ import annotations

import copy
import os
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Iterator, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from pipeline.registry import available_stages
from stages.settings import (BUNDLED, REQUIRED, InputPath, OutputPath, PathKind, Section,
                             absolute, bundled_path)

CONFIG_FOLDER = "configs"
DEFAULT_CONFIG = f"{BUNDLED}{CONFIG_FOLDER}/default.yaml"
DEMO_INPUT = str(bundled_path(f"{CONFIG_FOLDER}/demo/demo_shard.jsonl.gz"))

# Limits on what a config file may cost to read (issue: a 1 KB alias bomb took 160 s and 3.2 GB).
MAX_CONFIG_BYTES = 1 << 20
MAX_ALIAS_EXPANSION = 10_000  # nodes aliases may add beyond those the file spells out
MAX_EXTENDS = 16
MAX_SHOWN_CHARS = 200  # of one value quoted in an error
MAX_SHOWN_ERRORS = 25
UNIONS = (typing.Union, types.UnionType)


class ConfigError(ValueError):
    """A config or flag problem, raised before any work starts; the message is user-facing."""


class InputFields(Section):
    """Where each field is in JSON/Parquet records: a key, or a dotted path into nested objects
    and Parquet structs (``metadata.url``). Defaults follow the common convention."""

    id: str = Field(default="id", min_length=1)
    url: str = Field(default="url", min_length=1)
    html: str = Field(default="html", min_length=1)
    text: str = Field(default="text", min_length=1)
    date: str = Field(default="date", min_length=1)


class InputConfig(Section):
    # Files, globs or folders (read recursively, supported extensions only), any Beam filesystem.
    paths: list[InputPath] = Field(default_factory=lambda: [DEMO_INPUT])
    # docs: Parquet shards of pipeline documents (pipeline.shards.DOC_SCHEMA), e.g. to run later
    # stages again on text a previous run cleaned.
    format: Literal["auto", "warc", "jsonl", "parquet", "docs"] = "auto"
    fields: InputFields = InputFields()
    # The input record's other fields, kept as the JSON column `metadata` of the kept Parquet:
    # "all" (default: provenance and licence fields survive, as in datatrove's readers), "none",
    # or a list of field names / dotted paths.
    metadata: Literal["all", "none"] | list[str] = "all"
    # Records per input format read before the job starts to check input.fields (0: no check).
    check_records: int = Field(default=100, ge=0)
    # Label written to the `source` column; default is the input file's path relative to the
    # folder all inputs share (unique per file).
    source: str | None = None
    # A record larger than this (raw bytes) is dead-lettered instead of read into memory.
    max_record_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    # Stop reading a compressed file after this many decompressed bytes (gzip bombs).
    max_decompressed_bytes: int = Field(default=16 * 1024**3, gt=0)


class OutputConfig(Section):
    # Relative: to the config file that sets it; the default (and --output) to the current folder.
    path: OutputPath = "out/demo"
    # Kept/rejected Parquet is split into shards of about this many text bytes.
    target_shard_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    overwrite: bool = False


class RunConfig(Section):
    # Seed for every hash and sample in the run (MinHash permutations, tokenizer sample, ...).
    seed: int = Field(default=1234, ge=0, le=2**31 - 1)
    # glibc malloc arenas for the local runner and its workers (pipeline/memory.py); 0 = glibc's
    # default (8 per core). Fewer arenas = less fragmentation, measured -18 % peak RSS.
    malloc_arenas: int = Field(default=2, ge=0, le=64)


@cache
def _config_model() -> type[Section]:
    """The root model: input/output/run plus one section per stage module present (built once:
    the stage list is fixed in code)."""
    from pipeline.report.config import ReportConfig

    stage_fields: dict[str, Any] = {
        name: (module.Config, module.Config()) for name, module in available_stages()
    }
    return create_model(  # type: ignore[call-overload]
        "PipelineConfig", __base__=Section,
        input=(InputConfig, InputConfig()), output=(OutputConfig, OutputConfig()),
        run=(RunConfig, RunConfig()), report=(ReportConfig, ReportConfig()), **stage_fields)


# --------------------------------------------------------------------------- errors

def shorten(value: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    """repr of a value, cut to ``limit`` characters (an error must stay readable)."""
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _format_error(origin: str, error: ValidationError) -> str:
    lines = [f"{origin}: invalid configuration"]
    items = error.errors()
    for item in items[:MAX_SHOWN_ERRORS]:
        key = ".".join(str(part) for part in item["loc"])
        message = shorten(item["msg"].removeprefix("Value error, "), 4 * MAX_SHOWN_CHARS)
        if item["type"] == "extra_forbidden":
            parent = item["loc"][:-1]
            message = f"unknown key; allowed keys here: {', '.join(_allowed_keys(parent))}"
        if item["type"] == "value_error":
            key, message = _name_field(item["loc"], key, message)
        given = item.get("input")
        hidden = (item["type"] == "extra_forbidden" or isinstance(given, (dict, BaseModel))
                  or (isinstance(given, str) and given.startswith(REQUIRED)))
        shown = "" if hidden else f" (got {shorten(repr(given))})"
        if isinstance(given, str) and given.startswith(REQUIRED):
            shown = f" -> supply it in a config that extends this one, or --set {key}=PATH"
        lines.append(f"  {key}: {message}{shown}")
    if len(items) > MAX_SHOWN_ERRORS:
        lines.append(f"  ... and {len(items) - MAX_SHOWN_ERRORS} more errors")
    return "\n".join(lines)


def _name_field(loc: tuple, key: str, message: str) -> tuple[str, str]:
    """A section-level check names its field first ("min_words (500) > max_words ..."): report
    it under that field's key."""
    first = message.split(" ", 1)[0].rstrip(":")
    annotation: Any = _config_model()
    for part in loc:
        annotation, _ = _annotation_at(annotation, str(part))
        if annotation is None:
            return key, message
    fields = _allowed_keys_of(annotation)
    if first in fields and " " in message:
        return f"{key}.{first}" if key else first, message.split(" ", 1)[1].lstrip(": ")
    return key, message


def _allowed_keys_of(annotation: Any) -> list[str]:
    for arm in (annotation, *typing.get_args(annotation)):
        if isinstance(arm, type) and issubclass(arm, BaseModel):
            return list(arm.model_fields)
    return []


def _allowed_keys(path: tuple) -> list[str]:
    model: Any = _config_model()
    for part in path:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not hasattr(field.annotation, "model_fields"):
            return []
        model = field.annotation
    return sorted(model.model_fields)


# --------------------------------------------------------------------------- safe YAML

class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and alias expansion beyond a budget.

    Sizes are counted while the document is composed (each node once, an alias as the size of
    what it points to), so a bomb is refused before anything is constructed from it.
    """

    def __init__(self, stream: str, name: str) -> None:
        super().__init__(stream)
        self.name = name  # marks in error messages name the file, not "<unicode string>"
        self.expanded: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self.expanded:
                raise ComposerError(None, None, f"alias *{event.anchor} refers to a node that "
                                    "contains it (a recursive structure)", event.start_mark)
        node = super().compose_node(parent, index)
        if id(node) not in self.expanded:
            if isinstance(node, MappingNode):
                children = [part for pair in node.value for part in pair]
            elif isinstance(node, SequenceNode):
                children = node.value
            else:
                children = []
            self.expanded[id(node)] = 1 + sum(self.expanded[id(child)] for child in children)
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)
                if key in seen:
                    raise ConstructorError(
                        None, None, f"duplicate key {shorten(key)!s} (first at line "
                        f"{seen[key].line + 1}); a key may appear once per mapping",
                        key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def safe_yaml(text: str, origin: str) -> Any:
    """Parse one YAML document with the limits above; errors are ConfigErrors naming ``origin``."""
    loader = _GuardedLoader(text, origin)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size, distinct = loader.expanded[id(node)], len(loader.expanded)
        if size - distinct > MAX_ALIAS_EXPANSION:
            raise ConfigError(f"{origin}: aliases expand this document to {shorten(size, 40)} "
                              f"values from {distinct} written ones; at most "
                              f"{MAX_ALIAS_EXPANSION:,} more are allowed (YAML alias bomb?)")
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise ConfigError(f"{origin}: not valid YAML: {shorten(str(error), 600)}") from None
    except RecursionError:
        raise ConfigError(f"{origin}: YAML nested too deeply") from None
    finally:
        loader.dispose()


# --------------------------------------------------------------------------- path fields

def path_kind(metadata: Any) -> PathKind | None:
    for item in metadata or ():
        if isinstance(item, PathKind):
            return item
    return None


def _resolve_value(annotation: Any, value: Any, base: Path, metadata: Any = ()) -> Any:
    """``value`` (raw YAML) with every relative path in a path-typed position made absolute
    against ``base``; anything that does not fit the annotation is left to validation."""
    kind = path_kind(metadata)
    if kind is not None:
        if isinstance(value, str) and not value.startswith(REQUIRED):
            try:
                return absolute(value, base)
            except ValueError:
                return value  # validation reports it, naming the key
        return value
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        return _resolve_value(inner, value, base, extra)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not isinstance(value, dict):
            return value
        fields = annotation.model_fields
        return {key: (_resolve_value(fields[key].annotation, item, base, fields[key].metadata)
                      if key in fields else item) for key, item in value.items()}
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset) or (origin is not None and origin.__name__ in
                                                   ("Sequence", "Iterable")):
        if not isinstance(value, list):
            return value
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return [_resolve_value(args[i], item, base) if i < len(args) else item
                    for i, item in enumerate(value)]
        return [_resolve_value(args[0], item, base) for item in value] if args else value
    if origin is dict:
        if not isinstance(value, dict) or len(args) != 2:
            return value
        return {key: _resolve_value(args[1], item, base) for key, item in value.items()}
    if args and origin in UNIONS:
        for arm in args:  # the first arm that changes the value is the one that applies
            resolved = _resolve_value(arm, value, base)
            if resolved is not value:
                return resolved
    return value


def resolve_paths(data: dict, base: Path) -> dict:
    """One config file's data with its relative paths resolved against ``base`` (its folder)."""
    return _resolve_value(_config_model(), data, base)


def iter_path_fields(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, str, PathKind,
                                                                          BaseModel]]:
    """(dotted key, value, kind, owning section) for every path-typed value of a validated
    config, in field order; keys are spelled as in errors and ``--set`` (``a.b.0.c``)."""
    for name, field in type(model).model_fields.items():
        key = f"{prefix}{name}"
        yield from _iter_value(field.annotation, getattr(model, name), key, model, field.metadata)


def _iter_value(annotation: Any, value: Any, key: str, owner: BaseModel,
                metadata: Any = ()) -> Iterator[tuple[str, str, PathKind, BaseModel]]:
    kind = path_kind(metadata)
    if kind is not None:
        if isinstance(value, str):
            yield key, value, kind, owner
        return
    if isinstance(value, BaseModel):
        yield from iter_path_fields(value, f"{key}.")
        return
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        yield from _iter_value(args[0], value, key, owner, args[1:])
    elif origin in UNIONS:
        for arm in args:  # the arm whose shape matches the value
            found = list(_iter_value(arm, value, key, owner))
            if found:
                yield from found
                return
    elif isinstance(value, (list, tuple)) and args:
        fixed = origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)
        for index, item in enumerate(value):
            arm = args[index] if fixed and index < len(args) else args[0]
            yield from _iter_value(arm, item, f"{key}.{index}", owner)
    elif isinstance(value, dict) and len(args) == 2:
        for name, item in value.items():
            yield from _iter_value(args[1], item, f"{key}.{name}", owner)


# --------------------------------------------------------------------------- files and overrides

def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a","b","c"], yaml-parsed value); list items by index (``a.0.b``)."""
    if "=" not in item:
        raise ConfigError(f"--set {shorten(item)}: expected KEY.PATH=VALUE, e.g. --set "
                          "quality.min_words=40")
    key, raw = item.split("=", 1)
    value = safe_yaml(raw, f"--set {key.strip()}") if raw.strip() else ""
    return key.strip().split("."), value


@cache
def _defaults() -> dict:
    return _config_model()().model_dump(mode="json")


def _defaults_at(path: list[str]) -> Any:
    node: Any = _defaults()
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return copy.deepcopy(node)


def _apply_override(data: dict, path: list[str], value: Any) -> None:
    """Set ``value`` at ``path``; a list met on the way (``domain_lists.0.path``) is indexed,
    taken from the code defaults when no config file stated it."""
    node: Any = data
    dotted = ".".join(path)
    for depth, part in enumerate(path[:-1]):
        child = node[int(part)] if isinstance(node, list) else node.get(part)
        if child is None:
            try:
                child = _defaults_at(path[:depth + 1])
            except (KeyError, IndexError, ValueError, TypeError):
                child = None
            if isinstance(child, list):
                node[part] = child
            else:
                child = node.setdefault(part, {})
        if not isinstance(child, (dict, list)):
            raise ConfigError(f"--set {dotted}: {part} is not a section or a list")
        if isinstance(child, list) and not path[depth + 1].isdigit():
            raise ConfigError(f"--set {dotted}: {part} is a list; address an item by its index, "
                              f"e.g. {'.'.join(path[:depth + 1])}.0")
        node = child
        if isinstance(node, list) and int(path[depth + 1]) >= len(node):
            raise ConfigError(f"--set {dotted}: {part} has {len(node)} item(s); index "
                              f"{path[depth + 1]} is out of range")
    last = path[-1]
    if isinstance(node, list):
        if int(last) >= len(node):
            raise ConfigError(f"--set {dotted}: index {last} is out of range ({len(node)} items)")
        node[int(last)] = value
    else:
        node[last] = value


def _deep_merge(base: dict, override: dict) -> dict:
    """Sections merge key by key; any other value (lists included) is replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_file(name: str | os.PathLike[str], base: Path | None = None) -> Path:
    """The file a ``--config`` (base None: the current folder) or ``extends:`` value names:
    ``bundled:NAME`` or a bare name such as ``production`` (no folder, no suffix) is a config
    shipped in the package; anything else a path."""
    text = os.fspath(name)
    if text.startswith(BUNDLED):
        return bundled_path(text)
    if "/" not in text and os.sep not in text and not text.endswith((".yaml", ".yml")):
        path = bundled_path(f"{CONFIG_FOLDER}/{text}.yaml")
        if not path.is_file():
            names = sorted(p.stem for p in path.parent.glob("*.yaml"))
            raise ConfigError(f"--config {text}: no bundled config of that name (bundled: "
                              f"{', '.join(names)}; or give a file path)")
        return path
    return Path(absolute(text, base or Path.cwd()))


def _read_yaml(path: Path, chain: list[Path]) -> dict:
    """One YAML file with its paths resolved against its folder, and ``extends: <file>``
    (relative to this file) merged underneath it, so a variant config states only what it
    changes."""
    if path.resolve() in chain:
        names = " -> ".join(p.name for p in chain + [path])
        raise ConfigError(f"{path}: `extends` loops: {shorten(names, 400)}")
    if len(chain) >= MAX_EXTENDS:
        raise ConfigError(f"{chain[0]}: `extends` chain deeper than {MAX_EXTENDS} files "
                          f"(stopped at {path.name})")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {path.stat().st_size:,} bytes; a config file may have "
                              f"at most {MAX_CONFIG_BYTES:,} (lists belong in list files)")
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"config {path}: cannot read ({error.strerror or error})") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    data = safe_yaml(text, str(path)) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections, got {type(data).__name__}")
    parent = data.pop("extends", None)
    data = resolve_paths(data, path.parent)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends: expected a file name, got {shorten(repr(parent))}")
    return _deep_merge(_read_yaml(config_file(parent, path.parent), chain + [path.resolve()]),
                       data)


def _resolve_cli_value(path: list[str], value: Any) -> Any:
    """A value from the command line, with relative paths taken from the current folder."""
    annotation: Any = _config_model()
    metadata: Any = ()
    for part in path:  # the annotation at the key path, through models, lists and dicts
        annotation, metadata = _annotation_at(annotation, part)
        if annotation is None:
            return value
    return _resolve_value(annotation, value, Path.cwd(), metadata)


def _annotation_at(annotation: Any, part: str) -> tuple[Any, Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _annotation_at(args[0], part)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(part)
        return (field.annotation, field.metadata) if field else (None, ())
    if part.isdigit() and origin in (list, tuple) and args:
        return args[0], ()
    if origin is dict and len(args) == 2:
        return args[1], ()
    if origin in UNIONS:  # the first arm that has this key
        for arm in args:
            found = _annotation_at(arm, part)
            if found[0] is not None:
                return found
    return None, ()


def load_config(path: str | Path | None = None, overrides: list[str] = (),
                **direct: Any) -> Section:
    """Read YAML (default: the bundled configs/default.yaml), apply overrides, validate.

    ``direct`` values (``**{"input.paths": [...]}``) come from CLI flags: like ``--set``, their
    relative paths are taken from the current folder.
    """
    file = config_file(path if path is not None else DEFAULT_CONFIG)
    origin = str(path or file)
    data = _read_yaml(file, [])
    for item in overrides:
        key_path, value = parse_override(item)
        _apply_override(data, key_path, _resolve_cli_value(key_path, value))
    if overrides:
        origin = f"{origin} (with --set overrides)"
    for dotted, value in direct.items():
        if value is not None:
            key_path = dotted.split(".")
            _apply_override(data, key_path, _resolve_cli_value(key_path, value))
    try:
        return _config_model().model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_error(origin, error)) from None
    except RecursionError:
        raise ConfigError(f"{origin}: a value is nested too deeply") from None


def enabled_stages(config: Section) -> list[str]:
    return [name for name, _ in available_stages() if getattr(config, name).enabled]
