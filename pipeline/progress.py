"""Live progress of a local run: one tqdm line on the driver, fed by the workers.

Beam's local runners report metrics only at the end, and worker processes cannot print to the
driver's terminal in order. So each worker process (:data:`RECORDER`, called by the pass shell)
keeps its counts per stage and writes them, at most once a second, to a small JSON file in a
folder the driver names through ``PIPELINE_PROGRESS_DIR`` (worker processes inherit it); the
driver (:class:`Display`) sums those files, counts the files each pass has finished (its done
markers) and renders one line: pass, files done of the total from the input listing,
documents read and kept, rate and ETA. Off when stderr is not a terminal or ``--progress 0``;
remote runners (Dataflow, Flink, Spark, Dask) show progress in their own UIs.
"""
from __future__ import annotations

import glob
import json
import os
import sys
import threading
import time
from typing import Any

ENV_DIR = "PIPELINE_PROGRESS_DIR"


class Recorder:
    """Per-process counts; one dict add per call, a file write at most once per interval."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.counts: dict[str, int] = {}
        self.last = 0.0

    def tick(self, stage: str, n: int = 1) -> None:
        directory = os.environ.get(ENV_DIR)
        if not directory:
            return
        self.counts[stage] = self.counts.get(stage, 0) + n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.flush(directory, now)

    def flush(self, directory: str | None = None, now: float | None = None) -> None:
        directory = directory or os.environ.get(ENV_DIR)
        if not directory or not self.counts:
            return
        self.last = now if now is not None else time.monotonic()
        path = os.path.join(directory, f"{os.getpid()}-{threading.get_ident()}.json")
        tmp = path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(self.counts, handle)
            os.replace(tmp, path)
        except OSError:  # progress is best effort; the run's evidence never depends on it
            pass


RECORDER = Recorder()


class Display:
    """The driver's progress line, refreshed from the workers' files until :meth:`stop`."""

    def __init__(self, directory: str, work: str, files: int, passes: int,
                 refresh: float = 0.5, stream: Any = None) -> None:
        from tqdm import tqdm

        self.directory, self.work, self.files, self.passes = directory, work, files, passes
        self.refresh = refresh
        os.makedirs(directory, exist_ok=True)
        os.environ[ENV_DIR] = directory
        self.started = time.monotonic()
        self.bar = tqdm(total=files * passes, unit="file", dynamic_ncols=True, leave=False,
                        file=stream or sys.stderr, bar_format="{desc} {bar:16} {n_fmt}/{total_fmt} file "
                                                    "passes [{elapsed}<{remaining}]")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()

    def _counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for path in glob.glob(os.path.join(self.directory, "*.json")):
            try:
                with open(path, encoding="utf-8") as handle:
                    for stage, count in json.load(handle).items():
                        total[stage] = total.get(stage, 0) + int(count)
            except (OSError, ValueError):
                continue
        return total

    def _done(self) -> list[int]:
        return [len(glob.glob(os.path.join(self.work, f"pass{k}", "*.done")))
                for k in range(self.passes)]

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh):
            self.update()

    def update(self) -> None:
        done = self._done()
        current = next((k for k, n in enumerate(done) if n < self.files), self.passes - 1)
        counts = self._counts()
        elapsed = max(time.monotonic() - self.started, 1e-9)
        read = counts.get("read", 0)
        last = [(name, count) for name, count in counts.items() if name != "read"][-1:]
        furthest = f" | {last[0][0]} {last[0][1]:,}" if last else ""
        self.bar.set_description_str(f"pass {current + 1}/{self.passes} | read {read:,} docs "
                                     f"({read / elapsed:,.0f}/s){furthest}", refresh=False)
        self.bar.n = sum(done)
        self.bar.refresh()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.bar.close()
        os.environ.pop(ENV_DIR, None)


def wanted(seconds: float) -> bool:
    """Show a live line only to a person watching a terminal."""
    return seconds > 0 and sys.stderr.isatty()


__all__ = ["Display", "RECORDER", "Recorder", "wanted"]


# Lines Beam's local multi-process workers print at INFO on every start and stop (their
# logging level cannot be set: FnApiRunner hands them no pipeline options), and two warnings
# about optional extras every worker repeats. Anything else - errors above all - passes.
_WORKER_NOISE = ("INFO:", "WARNING:__main__:No semi_persistent_directory",
                 "WARNING:root:apitools not found")


def _is_noise(line: str) -> bool:
    return line.startswith(_WORKER_NOISE) or ("severity: WARN" in line
                                               and "semi_persistent_directory" in line)


class QuietWorkerLogs:
    """Context manager: filter the local workers' start/stop chatter out of stderr.

    Worker processes inherit the driver's stderr (fd 2), so the filter sits on fd 2: a pipe
    read line by line by a thread that forwards what is not noise. ``stream`` is the real
    terminal, for the progress line (which updates without newlines).
    """

    def __enter__(self) -> "QuietWorkerLogs":
        sys.stderr.flush()
        self.original = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self.stream = os.fdopen(os.dup(self.original), "w", buffering=1)
        self._reader = os.fdopen(read_fd, "r", errors="replace")
        self._thread = threading.Thread(target=self._forward, name="stderr filter", daemon=True)
        self._thread.start()
        return self

    def _forward(self) -> None:
        for line in self._reader:
            if not _is_noise(line):
                os.write(self.original, line.encode("utf-8", "replace"))

    def __exit__(self, *exc: Any) -> None:
        sys.stderr.flush()
        os.dup2(self.original, 2)  # the pipe closes once the last worker holding it is gone
        self._thread.join(timeout=5)
        self.stream.close()
        os.close(self.original)
