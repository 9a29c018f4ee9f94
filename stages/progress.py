"""Progress lines while a local run works: documents per stage and rate, every N seconds.

Beam's local runner only returns metrics at the end, so long local runs would otherwise be
silent. Each worker process prints its own line to stderr; enabled by the CLI through the
``PIPELINE_PROGRESS_SECONDS`` environment variable (inherited by worker processes), off when
unset or 0 (remote runners log through their own UI).
"""
from __future__ import annotations

import os
import sys
import time

_ENV = "PIPELINE_PROGRESS_SECONDS"


class Progress:
    """Per-process counts; cheap enough to call per document (one dict add, one clock read)."""

    def __init__(self) -> None:
        self.interval = float(os.environ.get(_ENV, "0") or 0)
        self.started = self.last = time.monotonic()
        self.counts: dict[str, int] = {}

    def tick(self, stage: str, n: int = 1) -> None:
        if self.interval <= 0:
            return
        self.counts[stage] = self.counts.get(stage, 0) + n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            elapsed = now - self.started
            parts = " | ".join(f"{name} {count} ({count / elapsed:.1f}/s)"
                               for name, count in self.counts.items())
            print(f"[progress pid {os.getpid()} {elapsed:6.0f}s] {parts}", file=sys.stderr, flush=True)


PROGRESS = Progress()


def enable(seconds: float) -> None:
    """Called by the CLI before the run; worker processes inherit the environment."""
    os.environ[_ENV] = str(seconds)
    PROGRESS.interval = seconds
