"""Typed config sections, and the path types their fields use.

Strict by construction: unknown keys, wrong types and out-of-range values are errors that name
the key and the allowed values, raised before any work starts.

Paths: a field that names a file is typed ``ResourcePath`` (a file the run reads: a list, a
benchmark, a model; ``OptionalResourcePath`` when a missing file is allowed), ``InputPath``
(input files, globs or folders) or ``OutputPath`` (a place the run writes). One rule for all of
them, applied by the config loader (``pipeline.config``), never per stage:

- a value written in a config file is relative to the folder of *that* file (as ``extends:``);
- a value given on the command line (``--set``, ``--input``, ``--output``) is relative to the
  current directory;
- ``bundled:NAME`` names a file shipped inside the package, NAME being its path in the
  repository (``bundled:configs/lists/url/banned_words.txt``); a relative code default is a
  bundled name too, so defaults work from any folder and after ``pip install``;
- absolute paths, ``~/...`` and Beam filesystem URLs (``gs://``, ``s3://``...) stay as given;
- ``??? what, where to get it`` marks a path the user must supply (``configs/production.yaml``):
  validation fails naming the key and repeating the hint.

After validation a resource or input path is absolute (or a URL), so the resolved config that
``validate`` prints says exactly which file each key reads.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

# The folder holding the `stages` package (the extraction watchdog child imports from it).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED = "bundled:"
# A path the user must supply; the text after it says what it is and where to get it
# (``"??? UT1 blacklists, https://..."``). Hydra/OmegaConf spell "mandatory, missing" this way.
REQUIRED = "???"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@cache
def bundled_root() -> Path:
    """The folder bundled names are relative to: the installed ``pipeline`` package (it holds
    ``configs/``), found through importlib.resources so an editable checkout, an sdist install
    and a wheel install all agree."""
    root = resources.files("pipeline")
    if not isinstance(root, Path):  # a zip import: the stages need real files
        raise RuntimeError(f"pretrain-pipeline must be installed as files, not imported from {root}")
    return root


def is_url(value: str) -> bool:
    """A Beam filesystem URL (scheme://...), read through apache_beam's FileSystems."""
    return bool(_URL.match(value))


def bundled_path(name: str) -> Path:
    """The shipped file ``name`` (its path in the repository, e.g. ``configs/default.yaml``)."""
    relative = Path(name.removeprefix(BUNDLED))
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"{BUNDLED}{name.removeprefix(BUNDLED)}: a bundled name is a path inside the package "
                         "(e.g. bundled:configs/lists/domains/demo.txt)")
    return bundled_root() / relative


def absolute(value: str, base: Path | None) -> str:
    """``value`` made absolute: URLs and absolute paths as given, ``bundled:`` through the
    package, other relative paths against ``base`` (None: bundled, as for code defaults). An
    empty value stays empty: it names nothing, and the field's own check says so."""
    if is_url(value) or not value.strip():
        return value
    if value.startswith(BUNDLED):
        return str(bundled_path(value))
    path = Path(os.path.expanduser(value))
    if path.is_absolute():
        return os.path.normpath(path)
    return os.path.normpath((base or bundled_root()) / path)


@dataclass(frozen=True)
class PathKind:
    """Marks a ``str`` field as a path (read by the loader and by ``check_resources``).

    role: "resource" (a file the run reads), "input" (input globs/folders, checked when the
    inputs are listed) or "output" (a place the run writes).
    required: a resource that must exist (False: an optional companion file).
    """

    role: str
    required: bool = True


def _required(value: str) -> None:
    if value.startswith(REQUIRED):
        hint = value[len(REQUIRED):].strip()
        raise ValueError(f"required, not given{': ' + hint if hint else ''}")


def _resource(value: str) -> str:
    _required(value)
    return absolute(value, None)


def _output(value: str) -> str:
    _required(value)
    if not value.strip():
        raise ValueError("empty path; give a directory to write the results to")
    # Left relative when no config file placed it: it then means the current directory.
    if value.startswith(BUNDLED):
        raise ValueError("an output location cannot be inside the package (bundled:)")
    return value


ResourcePath = Annotated[str, PathKind("resource"), AfterValidator(_resource)]
OptionalResourcePath = Annotated[str, PathKind("resource", required=False),
                                 AfterValidator(_resource)]
InputPath = Annotated[str, PathKind("input"), AfterValidator(_resource)]
OutputPath = Annotated[str, PathKind("output"), AfterValidator(_output)]


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """A local file for a path-typed config value. Values from a loaded config are absolute
    already; a relative one (a code default, a test) is a bundled name. A Beam filesystem URL is
    copied once per process to a local cache, so a Dataflow/Flink/Spark worker reads the same
    list or benchmark the driver named (``gs://...``)."""
    value = os.fspath(path)
    if is_url(value):
        return materialize(value)
    return Path(absolute(value, None))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pretrain-pipeline" / "resources"


def materialize(url: str) -> Path:
    """Copy a Beam filesystem file to the local cache (once: the name holds the URL, its size
    and modification time, so a changed file is fetched again) and return the local copy."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    try:
        metadata = FileSystems.match([url])[0].metadata_list
    except Exception as error:  # noqa: BLE001 - each filesystem raises its own errors
        raise FileNotFoundError(f"cannot list {url}: {error}") from None
    if len(metadata) != 1 or metadata[0].path.rstrip("/") != url.rstrip("/"):
        raise FileNotFoundError(f"{url}: not found (or not a single file)")
    info = metadata[0]
    key = hashlib.sha256(f"{url}|{info.size_in_bytes}|{info.last_updated_in_seconds}"
                         .encode()).hexdigest()[:16]
    target = cache_dir() / key / (url.rstrip("/").rsplit("/", 1)[-1] or "file")
    if target.is_file() and target.stat().st_size == info.size_in_bytes:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    with FileSystems.open(url, compression_type=CompressionTypes.UNCOMPRESSED) as source, \
            open(partial, "wb") as sink:
        while chunk := source.read(1 << 20):
            sink.write(chunk)
    os.replace(partial, target)  # atomic: concurrent workers never read half a file
    return target


class Section(BaseModel):
    """A config section: frozen (safe to share across threads and pickle into DoFns), strict keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class StageSection(Section):
    """A stage's section; every stage can be switched off without touching code."""

    enabled: bool = True
