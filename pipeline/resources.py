"""Files a resolved config names: check them all before any work, and say which are demo stand-ins.

``check_resources(config)`` is what ``validate`` and ``run`` call right after loading the config:
every path-typed field (``stages.settings.ResourcePath``) of every enabled section is opened the
way a stage would open it, and every section that knows more about its files (a format, a
parse) checks them in its own ``check_resources()`` method; all problems are reported at once,
each naming its key, as a ``ConfigError`` (exit 2), before any output is touched.

``demo_resources(config)`` lists the bundled demo files a run uses (a one-domain blocklist, 20
GSM8K items, the demo shard), for ``summary.json`` (``resources.demo``) and the report.
"""
from __future__ import annotations

import gzip
import os
import glob
import re
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel

from pipeline.config import ConfigError, PathKind, iter_path_fields, shorten
from stages.settings import BUNDLED, bundled_root, is_url

# Placeholders a path template may hold, and the sibling field listing their values.
TEMPLATE_FIELDS = {"lang": "languages"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

# Bundled files that stand in for real ones: bundled name -> (what it is, what a real run uses).
DEMO_FILES = {
    "configs/lists/domains/demo.txt":
        ("demo domain blocklist: {n} entry (unsafe-demo.example.com)",
         "a real blocklist (configs/production.yaml: the 4.5 M-domain FineWeb/UT1 list)"),
    "configs/benchmarks/gsm8k_test_sample.jsonl":
        ("GSM8K sample: the first {n} of the 1,319 test items",
         "the full test sets you evaluate on (configs/production.yaml)"),
    "configs/demo/demo_shard.jsonl.gz":
        ("bundled demo shard: {n} records built from public-domain books", "your own data"),
}


def enabled_path_fields(config: BaseModel) -> Iterator[tuple[str, str, PathKind, BaseModel]]:
    """``iter_path_fields`` without the sections switched off (``enabled: false``), whose files
    the run never opens."""
    disabled: list[str] = []
    for key, value, kind, owner in iter_path_fields(config):
        if any(key.startswith(prefix) for prefix in disabled):
            continue
        prefix = _disabled_prefix(config, key)
        if prefix:
            disabled.append(prefix)
            continue
        yield key, value, kind, owner


def _disabled_prefix(config: BaseModel, key: str) -> str | None:
    node: Any = config
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1]):
        node = node[int(part)] if isinstance(node, (list, tuple)) else getattr(node, part, None)
        if isinstance(node, BaseModel) and getattr(node, "enabled", True) is False:
            return ".".join(parts[:depth + 1]) + "."
    return None


def _sections(model: BaseModel, key: str = "") -> Iterator[tuple[str, BaseModel]]:
    """Every enabled section (nested models included, list items too) with its dotted key."""
    if getattr(model, "enabled", True) is False:
        return
    yield key, model
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
        for index, item in items:
            if isinstance(item, BaseModel):
                child = f"{key}.{name}" if key else name
                yield from _sections(item, child if index is None else f"{child}.{index}")


def _readable(path: str) -> str | None:
    """None when ``path`` can be opened and read like a stage would; else why not."""
    if is_url(path):
        from apache_beam.io.filesystems import FileSystems

        try:
            found = FileSystems.match([path])[0].metadata_list
        except Exception as error:  # noqa: BLE001 - each filesystem raises its own errors
            return f"cannot list {path}: {shorten(str(error))}"
        return None if found else f"not found: {path}"
    if not os.path.exists(path):
        return f"not found: {path}"
    if not os.path.isfile(path):
        return f"not a regular file: {path}"
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as error:
        return f"cannot read {path}: {error.strerror or error}"
    return None


def _expand(key: str, template: str, owner: BaseModel) -> list[tuple[str, str, str]]:
    """(key naming the value, value, path) for each file a ``{lang}`` template stands for."""
    names = _PLACEHOLDER.findall(template)
    if not names and glob.has_magic(template) and not is_url(template):
        matches = sorted(glob.glob(template))  # a glob names every file it matches
        return [(key, "", path) for path in matches] or [(key, "", template)]
    if not names:
        return [(key, "", template)]
    out = []
    for name in names:
        values = getattr(owner, TEMPLATE_FIELDS.get(name, ""), None)
        if not isinstance(values, (list, tuple)):
            return []  # nothing to expand it with: checked by the section itself, if at all
        parent = key.rsplit(".", 1)[0]
        for item in values:
            out.append((f"{parent}.{TEMPLATE_FIELDS[name]}", str(item),
                        template.replace(f"{{{name}}}", str(item))))
    return out


def _available(template: str) -> list[str]:
    """Values a ``{lang}`` template has files for (to say what exists)."""
    pattern = re.escape(template)
    for name in _PLACEHOLDER.findall(template):
        pattern = pattern.replace(re.escape(f"{{{name}}}"), r"([\w-]+)")
    folder = Path(template.split("{", 1)[0]).parent
    if is_url(template) or not folder.is_dir():
        return []
    found = {m.group(1) for p in folder.rglob("*") if (m := re.fullmatch(pattern, str(p)))}
    return sorted(found)


def check_resources(config: BaseModel, options: Any = None) -> None:
    """Open every file the resolved config names, before any work; raise one ConfigError that
    lists every problem, each naming its key.

    ``options``: the run's Beam PipelineOptions; when its workers cannot see this machine's
    files (Dataflow, a DOCKER/PROCESS environment), a local path that is not shipped in the
    package is an error too (give a gs:// / s3:// URL instead: workers copy it once).
    """
    from pipeline.options import remote_workers

    remote = remote_workers(options) if options is not None else None
    problems: list[str] = []
    for key, value, kind, owner in enabled_path_fields(config):
        if kind.role != "resource":
            continue
        for name_key, item, path in _expand(key, value, owner):
            problem = _readable(path)
            if problem and not kind.required:
                continue
            if problem and item:
                have = _available(value)
                problem = (f"no file for {item!r}: {problem} (from {key.rsplit('.', 1)[-1]} "
                           f"{shorten(value)}){'; files exist for: ' + ', '.join(have) if have else ''}")
            if problem is None and remote and not is_url(path) and not _is_bundled(path):
                problem = (f"{path} is a local file, which {remote} workers cannot read; give a "
                           "Beam filesystem URL (gs://, s3://, ...) that workers copy once")
            if problem:
                problems.append(f"{name_key}: {problem}")
    for key, section in _sections(config):
        hook = getattr(section, "check_resources", None)
        if callable(hook):
            try:
                hook()
            except (ValueError, OSError) as error:
                message = shorten(str(error), 600)  # "sub.key: why" names a key inside the section
                joined = f"{key}.{message}" if re.match(r"^[\w.]+: ", message) else f"{key}: {message}"
                problems.append(joined)
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ConfigError("resources named by the config cannot be used:\n" +
                          "\n".join(f"  {line}" for line in unique))


def _is_bundled(path: str) -> bool:
    try:
        Path(path).relative_to(bundled_root())
        return True
    except ValueError:
        return False


def bundled_name(path: str) -> str | None:
    """``configs/...`` for a file shipped in the package, else None."""
    if is_url(path) or not _is_bundled(path):
        return None
    return Path(path).relative_to(bundled_root()).as_posix()


def _entries(path: Path) -> int:
    """Non-blank, non-comment lines (records, items, domains) of a small bundled file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:  # type: ignore[operator]
        return sum(1 for line in handle if line.strip() and not line.lstrip().startswith("#"))


def demo_resources(config: BaseModel) -> list[dict[str, str]]:
    """The bundled demo stand-ins this config uses, in config order, for
    ``summary["resources"]["demo"]``: ``{"key", "resource", "description", "instead"}`` each
    (``resource`` is the bundled name, so the list is the same on every machine)."""
    found = []
    for key, value, kind, _ in enabled_path_fields(config):
        if kind.role == "output":
            continue
        name = bundled_name(value)
        if name not in DEMO_FILES:
            continue
        what, instead = DEMO_FILES[name]
        found.append({"key": key, "resource": f"{BUNDLED}{name}",
                      "description": what.format(n=f"{_entries(Path(value)):,}"),
                      "instead": instead})
    return found
