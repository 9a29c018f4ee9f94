"""Output directory lifecycle: check, lock, stage, resume, commit atomically, mark complete.

Layout under ``--output``::

    kept/part-*.parquet  rejected/part-*.parquet  dead_letter/part-*.parquet
    summary.json  (written before the commit; its presence means the run completed)
    report.{json,md,html}, README.md (dataset card: load_dataset(<output>) reads kept/ only),
    artefacts/ (e.g. a tokenizer trained in the run), tokens/ (token-id shards)

A run works in a *private directory* next to the output (``<parent>/.<name>.pipeline/``): its
``work/`` holds intermediates and per-file done markers (what ``--resume`` reuses) and its
``out/`` the complete new output tree. The commit swaps ``out/`` and ``<output>`` with one
``renameat2(RENAME_EXCHANGE)``: at every instant the path holds either the old complete output
or the new one - a kill cannot leave neither. Where that is impossible (object stores, a
read-only parent, a kernel without the call) the commit is journalled inside the output:
``_pipeline/COMMIT`` is written before anything moves, and the next run (or any verb that
reads the output) rolls the commit forward first.

One writer at a time: the private directory holds a ``lock`` file taken with ``flock``; a second
run on the same output fails at once with a clear message (local filesystems; on object stores
give every run its own output path).
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import logging
import os
import shutil
from dataclasses import dataclass
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError

log = logging.getLogger("pipeline")

RESULT_DIRS = ("kept", "rejected", "dead_letter", "artefacts", "tokens")
RESULT_FILES = ("summary.json", "report.json", "report.md", "report.html", "README.md")
PRIVATE_SUFFIX = ".pipeline"
JOURNAL_DIR = "_pipeline"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def _list(pattern: str) -> list[str]:
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # noqa: BLE001 - no match
        return []


def check_output(path: str, inputs: list[str]) -> str:
    """The normalised output path, or a ConfigError naming what is wrong, before any work."""
    if not path or not path.strip():
        raise ConfigError("--output: empty path; give a directory to write the results to")
    path = path.rstrip("/") or "/"
    if not is_local(path):
        return path
    local = os.path.abspath(_local(path))
    if os.path.exists(local) and not os.path.isdir(local):
        raise ConfigError(f"--output {path}: is an existing file, not a directory")
    if local == "/":
        raise ConfigError("--output /: refusing to write results into the filesystem root")
    existing = local
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--output {path}: {existing} is not writable")
    for item in inputs:
        if not is_local(item):
            continue
        source = os.path.abspath(_local(item))
        if source == local or source.startswith(local + os.sep):
            raise ConfigError(f"--output {path}: contains the input {item}; a run must not "
                              "write into what it reads (pick a directory outside the inputs)")
        if os.path.isdir(source) and local.startswith(source + os.sep):
            raise ConfigError(f"--output {path}: lies inside the input folder {item}")
    return local


def existing_results(output: str) -> list[str]:
    found = [f for name in RESULT_FILES for f in _list(f"{output}/{name}")]
    for name in RESULT_DIRS:
        found += _list(f"{output}/{name}/*")
    return found


@dataclass
class OutputLease:
    """A locked private directory for one run on one output."""

    output: str
    private: str
    exchange: bool          # commit by RENAME_EXCHANGE (local) or by journal
    lock_fd: int | None = None

    @property
    def work(self) -> str:
        return f"{self.private}/work"

    @property
    def out(self) -> str:
        return f"{self.private}/out"

    def release(self) -> None:
        if self.lock_fd is not None:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
                os.close(self.lock_fd)
            except OSError:
                pass
            self.lock_fd = None


def _creatable_in(folder: str) -> bool:
    """Whether a run may create entries in ``folder``: it is writable, or it does not exist yet
    and its nearest existing ancestor is (the run creates it, as it creates the output)."""
    path = os.path.abspath(folder or ".")
    while not os.path.isdir(path):
        if os.path.lexists(path):  # a file where a folder should be
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.access(path, os.W_OK)


def _private_dir(output: str) -> tuple[str, bool]:
    """Where a run works, and whether its commit can be an atomic exchange."""
    if is_local(output):
        local = _local(output)
        parent, name = os.path.split(local)
        if _creatable_in(parent) and hasattr(_libc(), "renameat2"):
            return os.path.join(parent, f".{name}{PRIVATE_SUFFIX}"), True
        return os.path.join(local, JOURNAL_DIR), False
    return f"{output}/{JOURNAL_DIR}", False


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def acquire(output: str, overwrite: bool, resume: bool) -> OutputLease:
    """Refuse or accept the output, lock it, and return the run's private directory."""
    recover(output)
    previous = existing_results(output)
    if previous and not (overwrite or resume):
        raise ConfigError(f"--output {output}: already holds results ({len(previous)} files, "
                          f"e.g. {previous[0]}); pass --overwrite to replace them, or pick a "
                          "new directory")
    if is_local(output) and os.path.isdir(_local(output)):
        foreign = sorted(set(os.listdir(_local(output))) - set(RESULT_DIRS) - set(RESULT_FILES)
                         - {JOURNAL_DIR})
        if foreign:
            raise ConfigError(f"--output {output}: holds files that are not pipeline results "
                              f"({', '.join(foreign[:5])}); the commit replaces the whole "
                              "directory, so pick an empty or new one")
    private, exchange = _private_dir(output)
    lease = OutputLease(output, private, exchange)
    if is_local(private):
        try:
            os.makedirs(private, exist_ok=True)
            fd = os.open(os.path.join(private, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ConfigError(f"--output {output}: not writable ({error.strerror}: "
                              f"{error.filename})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise ConfigError(f"--output {output}: another run is writing it (lock held on "
                                  f"{private}/lock); wait for it or use another --output") from None
            raise
        lease.lock_fd = fd
    else:
        FileSystems.mkdirs(private) if not FileSystems.exists(private) else None
    return lease


def reset(lease: OutputLease, fingerprint: str, resume: bool) -> bool:
    """Make work/ and out/ ready; returns whether earlier work is reused (``--resume``)."""
    stamp = f"{lease.work}/fingerprint.json"
    reused = False
    if resume and FileSystems.exists(stamp):
        with FileSystems.open(stamp) as handle:
            previous = json.loads(handle.read().decode())["fingerprint"]
        if previous != fingerprint:
            raise ConfigError(f"--resume: the work in {lease.private} was done with another "
                              "config or other input files; run without --resume to start over")
        reused = True
        _remove_unfinished_files(lease.work, lease.out)
    if not reused:
        for path in (lease.work, lease.out):
            _delete_tree(path)
    for path in (lease.work, lease.out):
        if not FileSystems.exists(path):
            FileSystems.mkdirs(path)
    with FileSystems.create(stamp) as handle:
        handle.write(json.dumps({"fingerprint": fingerprint}).encode())
    return reused


def _remove_unfinished_files(*roots: str) -> int:
    """Delete the temporary files of writers a killed run left behind (``shards.is_tmp_name``).

    Why: a writer builds each file under a temporary name and renames it into place, so a kill
    mid-write leaves the temporary file beside the results, and the evidence check then finds an
    unexpected file in kept/ (or rejected/). No live writer owns them (this run holds the
    output's lock) and a resumed run redoes every (pass, file) that has no done marker, so
    whatever they were for is written again. Returns how many were removed."""
    from pipeline.shards import is_tmp_name

    removed = 0
    for root in roots:
        if is_local(root):
            for folder, _, names in os.walk(_local(root)):
                for name in names:
                    if is_tmp_name(name):
                        os.remove(os.path.join(folder, name))
                        removed += 1
        elif FileSystems.exists(root):
            matched = FileSystems.match([f"{root}/**"])[0].metadata_list
            doomed = [m.path for m in matched if is_tmp_name(m.path.rsplit("/", 1)[-1])]
            if doomed:
                FileSystems.delete(doomed)
            removed += len(doomed)
    if removed:
        log.info("--resume: removed %d unfinished file(s) of the interrupted run", removed)
    return removed


def _delete_tree(path: str) -> None:
    if is_local(path):
        shutil.rmtree(_local(path), ignore_errors=True)
    elif FileSystems.exists(path):
        FileSystems.delete([path])


def commit(lease: OutputLease) -> None:
    """Swap the new output in; the old one (if any) is deleted afterwards."""
    output, new = lease.output, lease.out
    if lease.exchange:
        local_out = _local(output)
        if not os.path.exists(local_out):
            os.makedirs(os.path.dirname(local_out) or ".", exist_ok=True)
            os.rename(new, local_out)
            return
        result = _libc().renameat2(_AT_FDCWD, os.fsencode(new), _AT_FDCWD,
                                   os.fsencode(local_out), _RENAME_EXCHANGE)
        if result != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"renameat2(RENAME_EXCHANGE) {new} <-> {local_out}: "
                                f"{os.strerror(code)}")
        _delete_tree(new)  # now the previous output
        return
    journal = f"{lease.private}/COMMIT"
    with FileSystems.create(journal) as handle:
        handle.write(json.dumps({"from": new, "to": output}).encode())
    _roll_forward(new, output)
    FileSystems.delete([journal])


def _roll_forward(new: str, output: str) -> None:
    """Journalled commit: previous results out, staged results in, summary.json last."""
    previous = [p for p in existing_results(output)
                if not p.startswith(f"{output}/{JOURNAL_DIR}")]
    staged = [p for p in _list(f"{new}/*") + _list(f"{new}/*/*") if not p.endswith("/")]
    if not staged:
        return  # already moved
    if previous:
        FileSystems.delete(previous)
    moves = [(p, output + p[len(new):]) for p in staged if not p.endswith("/summary.json")]
    moves += [(p, output + p[len(new):]) for p in staged if p.endswith("/summary.json")]
    for source, target in moves:
        parent = target.rsplit("/", 1)[0]
        if not FileSystems.exists(parent):
            FileSystems.mkdirs(parent)
        FileSystems.rename([source], [target])


def recover(output: str) -> None:
    """Finish a journalled commit a killed run left behind (before anything reads output)."""
    journal = f"{output}/{JOURNAL_DIR}/COMMIT"
    if FileSystems.exists(journal):
        with FileSystems.open(journal) as handle:
            entry = json.loads(handle.read().decode())
        _roll_forward(entry["from"], entry["to"])
        FileSystems.delete([journal])


def cleanup(lease: OutputLease, keep_work: bool = False) -> None:
    """Remove the private directory after a successful commit (or keep work/ for --resume)."""
    if not keep_work:
        lease.release()
        _delete_tree(lease.private)
    else:
        _delete_tree(lease.out)
        lease.release()


def read_rows(output: str, kind: str) -> list[dict]:
    """All rows of ``<output>/<kind>/*.parquet`` (kept, rejected, dead_letter), file order:
    for audits, tools and tests on a finished run's output."""
    import pyarrow.parquet as pq

    rows: list[dict] = []
    for path in sorted(_list(f"{output}/{kind}/*.parquet")):
        with FileSystems.open(path) as handle:
            rows.extend(pq.read_table(handle).to_pylist())
    return rows
