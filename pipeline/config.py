"""Load a YAML config into typed sections and fail early with the file, key and allowed values.

YAML is read with ``yaml.safe_load`` (no object construction). Sections for stages come from
the stage modules themselves (see :mod:`pipeline.registry`); this module adds input, output and
run-level settings and applies ``--set key.path=value`` overrides from the command line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, create_model

from pipeline.registry import available_stages
from stages.settings import Section

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_DIR / "configs" / "default.yaml"
DEMO_INPUT = str(PROJECT_DIR / "tools" / "demo" / "demo_shard.jsonl.gz")


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
    paths: list[str] = Field(default_factory=lambda: [DEMO_INPUT])
    format: Literal["auto", "warc", "jsonl", "parquet"] = "auto"
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
    path: str = "out/demo"
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


def _config_model() -> type[Section]:
    """The root model: input/output/run plus one section per stage module present."""
    from pipeline.report.config import ReportConfig

    stage_fields: dict[str, Any] = {
        name: (module.Config, module.Config()) for name, module in available_stages()
    }
    return create_model(  # type: ignore[call-overload]
        "PipelineConfig", __base__=Section,
        input=(InputConfig, InputConfig()), output=(OutputConfig, OutputConfig()),
        run=(RunConfig, RunConfig()), report=(ReportConfig, ReportConfig()), **stage_fields)


def _format_error(origin: str, error: ValidationError) -> str:
    lines = [f"{origin}: invalid configuration"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            parent = item["loc"][:-1]
            message = f"unknown key; allowed keys here: {', '.join(_allowed_keys(parent))}"
        given = item.get("input")
        shown = "" if item["type"] == "extra_forbidden" or isinstance(given, dict) else f" (got {given!r})"
        lines.append(f"  {key}: {message}{shown}")
    return "\n".join(lines)


def _allowed_keys(path: tuple) -> list[str]:
    model: Any = _config_model()
    for part in path:
        field = model.model_fields.get(part)
        if field is None or not hasattr(field.annotation, "model_fields"):
            return []
        model = field.annotation
    return sorted(model.model_fields)


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a","b","c"], yaml-parsed value)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. --set quality.min_words=40")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML: {error}") from error
    return key.strip().split("."), value


def _apply_override(data: dict, path: list[str], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {part} is not a section")
        node = child
    node[path[-1]] = value


def _deep_merge(base: dict, override: dict) -> dict:
    """Sections merge key by key; any other value (lists included) is replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path, chain: list[Path]) -> dict:
    """One YAML file, with ``extends: <file>`` (relative to this file) merged underneath it, so
    a variant config (Chinese web text, all benchmarks) states only what it changes."""
    if path.resolve() in chain:
        raise ConfigError(f"{path}: `extends` loops: {' -> '.join(map(str, chain + [path]))}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"--config {path}: cannot read ({error.strerror or error})") from error
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections, got {type(data).__name__}")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends: expected a file name, got {parent!r}")
    return _deep_merge(_read_yaml(path.parent / parent, chain + [path.resolve()]), data)


def load_config(path: str | Path | None = None, overrides: list[str] = (),
                **direct: Any) -> Section:
    """Read YAML (default: configs/default.yaml), apply overrides, validate everything."""
    origin = str(path or DEFAULT_CONFIG)
    data = _read_yaml(Path(origin), [])
    for item in overrides:
        key_path, value = parse_override(item)
        _apply_override(data, key_path, value)
    if overrides:
        origin = f"{origin} (with --set overrides)"
    for dotted, value in direct.items():
        if value is not None:
            _apply_override(data, dotted.split("."), value)
    try:
        return _config_model().model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_error(origin, error)) from None


def enabled_stages(config: Section) -> list[str]:
    return [name for name, _ in available_stages() if getattr(config, name).enabled]
