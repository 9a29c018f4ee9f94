"""Input listing, the pre-run field check, and opening one input file for the readers.

- :func:`resolve_inputs` turns ``--input`` values (files, globs, folders, any Beam filesystem
  path) into the sorted list of files, each real file once.
- :func:`check_input_fields` reads the first records of each JSON/Parquet input before the job
  starts and fails (``ConfigError``, exit 2) when ``input.fields`` names fields that are not
  there, saying which fields are and the ``--set`` that would fix it.
- :func:`read_path` reads one listed file into Docs / rejects / dead letters: a file that is
  not a regular file (FIFO, device) is refused without being opened, a file that vanished
  after listing is a dead letter naming the cause.
"""
from __future__ import annotations

import glob
import logging
import os
import posixpath
import stat
from collections import Counter
from typing import Any, Iterator

from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError
from pipeline.readers import (MISSING, READ_STAGE, ReadResult, detect_format, get_path, is_supported_name,
                              json_records, open_decoded, parquet_records, read_file, sniff_format)
from stages.record import DeadLetter, Rejected

log = logging.getLogger("pipeline")

# Files a dataset folder holds that are not data (Hugging Face dataset metadata).
NOT_DATA = ("dataset_info.json", "dataset_infos.json", "state.json", "dataset_dict.json")


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def _normal(path: str) -> str:
    """One spelling per local file: absolute, symlinks resolved, no ``./`` or ``//``."""
    real = os.path.realpath(path)
    return "/" + real.lstrip("/") if real.startswith("//") else real


def _walk(folder: str) -> list[str]:
    """Supported files under a local folder, recursively; hidden and ``_``-prefixed entries
    (``.git``, ``_SUCCESS``, our own ``_staging``) and dataset metadata are skipped, as Spark
    and Hugging Face datasets skip them."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in files:
            if name.startswith((".", "_")) or name in NOT_DATA or not is_supported_name(name):
                continue
            found.append(os.path.join(root, name))
    return found


def _expand_local(pattern: str) -> list[str]:
    path = _local(pattern)
    if os.path.lexists(path):  # a literal name wins over glob syntax: `x[1].jsonl` is a file
        return _walk(path) if os.path.isdir(path) else [path]
    matched = []
    for found in glob.glob(path, recursive=True):
        matched += _walk(found) if os.path.isdir(found) else [found]
    return matched


def _expand_remote(pattern: str) -> list[str]:
    """A Beam filesystem pattern; a "folder" (prefix) is listed recursively (supported names)."""
    try:
        matched = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        if not matched and not any(c in pattern for c in "*?["):
            prefix = pattern.rstrip("/") + "/**"
            matched = [m.path for m in FileSystems.match([prefix])[0].metadata_list
                       if is_supported_name(m.path) and not _hidden(m.path[len(prefix) - 2:])]
    except Exception as error:  # noqa: BLE001 - the filesystem says why
        raise ConfigError(f"--input {pattern}: cannot list ({error})") from error
    return [p for p in matched if not p.endswith("/")]


def _hidden(relative: str) -> bool:
    parts = [p for p in relative.split("/") if p]
    return any(p.startswith((".", "_")) for p in parts) or (bool(parts) and parts[-1] in NOT_DATA)


def resolve_inputs(patterns: list[str]) -> list[str]:
    """Expand files, globs and folders before any work; each real file once, sorted. A pattern
    that matches nothing is a ConfigError naming it."""
    files: dict[Any, str] = {}
    for pattern in patterns:
        if not pattern or not pattern.strip():
            raise ConfigError("--input: an empty path; give a file, glob or folder")
        local = _is_local(pattern)
        found = _expand_local(pattern) if local else _expand_remote(pattern)
        if not found:
            what = "folder holds no supported file (.warc, .arc, .jsonl, .json, .ndjson, " \
                   ".parquet, optionally .gz/.zst/.bz2/.xz)" if local and os.path.isdir(_local(pattern)) \
                else "matches no file"
            raise ConfigError(f"--input {pattern}: {what}")
        for path in found:
            if local:
                path = _normal(path)
                try:
                    info = os.stat(path)
                    key: Any = (info.st_dev, info.st_ino)
                except OSError:
                    key = path
            else:
                scheme, _, rest = path.partition("://")
                path = f"{scheme}://{posixpath.normpath(rest)}" if rest else path
                key = path
            files.setdefault(key, path)
    return sorted(set(files.values()))


def common_root(files: list[str]) -> str:
    """The folder all input files share; ``source`` is each file's path relative to it, so two
    files named ``x.jsonl`` in different folders stay apart."""
    if not files:
        return ""
    common = files[0].split("/")[:-1]
    for path in files[1:]:
        parts = path.split("/")[:-1]
        size = 0
        while size < min(len(common), len(parts)) and common[size] == parts[size]:
            size += 1
        common = common[:size]
    root = "/".join(common)
    return "" if root.endswith(":/") or root.endswith(":") else root


def source_name(path: str, root: str) -> str:
    """The ``source`` label of a file: its path below ``root``."""
    if root and path.startswith(root + "/"):
        return path[len(root) + 1:]
    return path.rsplit("/", 1)[-1] if root else path


def _stat(path: str) -> tuple[int | None, str | None]:
    """(size, refusal): a local path that is not a regular file, or is gone, is refused."""
    if _is_local(path):
        try:
            info = os.stat(_local(path))
        except OSError as error:
            reason = "file no longer exists" if isinstance(error, FileNotFoundError) else "cannot stat"
            return None, f"cannot read: {reason}: {path} ({type(error).__name__}: {error.strerror})"
        if not stat.S_ISREG(info.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a directory" if stat.S_ISDIR(info.st_mode)
                    else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            return None, f"not a regular file: {path} is {kind}; refused without opening it"
        return info.st_size, None
    try:
        found = FileSystems.match([path])[0].metadata_list
    except Exception as error:  # noqa: BLE001
        return None, f"cannot read: {path} ({type(error).__name__}: {error})"
    if not found:
        return None, f"cannot read: file no longer exists: {path}"
    return found[0].size_in_bytes, None


def file_size(path: str) -> int:
    """Bytes of a listed file; 0 when it is gone or not a regular file."""
    size, _ = _stat(path)
    return size or 0


def read_path(path: str, input_config: Any, source: str | None = None) -> Iterator[ReadResult]:
    """Every record of the file at ``path`` (any Beam filesystem), never raising: a file that
    cannot be opened or read is one dead letter naming the cause. Logs a warning when every
    record of a non-empty file is empty (usually a wrong input.fields mapping)."""
    from apache_beam.io.filesystem import CompressionTypes

    source = source or input_config.source or path.rsplit("/", 1)[-1]
    path = _local(path)
    size, refusal = _stat(path)
    if refusal is not None:
        yield DeadLetter.of(source, READ_STAGE, refusal)
        return
    fmt = input_config.format
    counts: Counter = Counter()
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            for result in read_file(stream, path, fmt, input_config, source=source, size=size):
                counts["records"] += 1
                if isinstance(result, Rejected) and result.reason == "empty_record":
                    counts["empty"] += 1
                yield result
    except Exception as error:  # noqa: BLE001 - e.g. vanished or unreadable mid-way
        name = "file no longer exists" if isinstance(error, FileNotFoundError) else "cannot read"
        yield DeadLetter.of(source, READ_STAGE, f"{name}: {path}: {type(error).__name__}: {error}")
    if counts["records"] and counts["empty"] == counts["records"]:
        fields = input_config.fields
        log.warning("input %s: all %d records are empty (no text in field %r, no html in field "
                    "%r); check input.fields", path, counts["records"], fields.text, fields.html)


# --------------------------------------------------------------------------- pre-run field check
def _flatten(record: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every field, nested objects included (3 levels)."""
    if not isinstance(record, dict):
        return
    for key, value in record.items():
        path = f"{prefix}{key}"
        yield path, value
        if isinstance(value, dict) and depth < 2:
            yield from _flatten(value, f"{path}.", depth + 1)


def _format_of(path: str, input_config: Any) -> str | None:
    fmt = input_config.format
    return detect_format(path) if fmt == "auto" else fmt


def _sample(path: str, fmt: str, input_config: Any, wanted: int) -> list[dict]:
    """Up to ``wanted`` parsed records from the start of one file (nothing if unreadable)."""
    from apache_beam.io.filesystem import CompressionTypes

    path = _local(path)
    size, refusal = _stat(path)
    if refusal is not None:
        return []
    records: list[dict] = []
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            head = stream.read(10)
            if head.startswith(b"PAR1") or fmt == "parquet":
                stream.seek(0)
                raws = parquet_records(stream, None, input_config.max_record_bytes)
            else:
                decoded = open_decoded(stream, path, input_config.max_decompressed_bytes, size, head)
                peek = decoded.read(64)
                decoded.unread(peek)
                if (sniff_format(peek) or fmt) != "jsonl":
                    return []
                raws = json_records(decoded, input_config.max_record_bytes)
            for raw in raws:
                if isinstance(raw.value, dict):
                    records.append(raw.value)
                if len(records) >= wanted:
                    break
    except Exception:  # noqa: BLE001 - unreadable files are dead-lettered by the run itself
        return []
    return records


def _present(value: Any) -> bool:
    if value is None or value is MISSING:
        return False
    return not isinstance(value, (str, bytes)) or bool(value.strip())


def _field_list(present: Counter, limit: int = 25) -> str:
    """Fields seen, top-level first then nested, most frequent first; the rest counted."""
    ordered = sorted(present, key=lambda p: (p.count("."), -present[p], p))
    shown = ", ".join(ordered[:limit]) or "(none)"
    return shown + (f" (and {len(ordered) - limit} more)" if len(ordered) > limit else "")


def _suggest_text(records: list[dict], paths: Counter) -> tuple[str, str] | None:
    """(field kind, path) of the likeliest text or HTML field: the longest string values."""
    lengths: Counter = Counter()
    for record in records:
        for path, value in _flatten(record):
            if isinstance(value, (str, bytes)):
                lengths[path] += len(value)
    for path, _ in lengths.most_common():
        values = [get_path(r, path) for r in records]
        sample = next((v for v in values if isinstance(v, (str, bytes)) and v.strip()), None)
        if sample is None:
            continue
        head = sample[:200].lstrip() if isinstance(sample, str) else sample[:200].decode("utf-8", "replace").lstrip()
        return ("html" if head.startswith("<") else "text"), path
    return None


def check_input_fields(input_config: Any, files: list[str]) -> list[str]:
    """Check ``input.fields`` on the first ``input.check_records`` records of each JSON/Parquet
    input format (first files in order) before any work. Raises ConfigError when no sampled
    record has the text or html field, or when a field the user set is absent from all of them;
    returns warnings (a default-named field that is absent, with the likely path)."""
    wanted = input_config.check_records
    if not wanted:
        return []
    fields = input_config.fields
    # "set by the user" = differs from the code default (a config may spell the defaults out)
    set_by_user = {name for name, info in type(fields).model_fields.items()
                   if getattr(fields, name) != info.default}
    warnings: list[str] = []
    by_format: dict[str, list[str]] = {}
    for path in files:
        fmt = _format_of(path, input_config)
        if fmt in ("jsonl", "parquet"):
            by_format.setdefault(fmt, []).append(path)
    for fmt, paths in sorted(by_format.items()):
        records: list[dict] = []
        sampled: list[str] = []
        for path in paths[:20]:
            got = _sample(path, fmt, input_config, wanted - len(records))
            if got:
                sampled.append(path)
            records += got
            if len(records) >= wanted:
                break
        if not records:
            continue
        present: Counter = Counter()
        for record in records:
            present.update(path for path, value in _flatten(record) if value is not None)
        shown = _field_list(present)
        where = f"the first {len(records)} {fmt} records (of {', '.join(sampled[:3])}" \
                f"{', ...' if len(sampled) > 3 else ''})"
        has = {name: any(_present(get_path(r, getattr(fields, name))) for r in records)
               for name in ("id", "url", "text", "html", "date")}
        if not has["text"] and not has["html"]:
            guess = _suggest_text(records, present)
            fix = (f"; to read {guess[0]} from {guess[1]!r}: --set input.fields.{guess[0]}={guess[1]}"
                   if guess else "")
            raise ConfigError(f"input.fields: none of {where} has the text field {fields.text!r} "
                              f"or the html field {fields.html!r}. Fields present: {shown}{fix}")
        for name in ("id", "url", "date"):
            if has[name]:
                continue
            path = getattr(fields, name)
            leaf = path.rsplit(".", 1)[-1]
            candidates = [p for p in present if p.rsplit(".", 1)[-1] == leaf and p != path]
            hint = f"; --set input.fields.{name}={candidates[0]}" if candidates else ""
            if name in set_by_user:
                raise ConfigError(f"input.fields.{name}: {path!r} is in none of {where}. Fields "
                                  f"present: {shown}{hint}")
            if candidates:  # an absent default is normal (ids are then derived); a near miss is not
                warnings.append(f"input.fields.{name}: no {path!r} field in {where}, but "
                                f"{candidates[0]!r} exists{hint}")
    return warnings


__all__ = ["check_input_fields", "common_root", "file_size", "read_path", "resolve_inputs", "source_name"]
