"""Errors the CLI turns into exit codes (kept import-light: the `plan` verb starts without Beam)."""
from __future__ import annotations


class EvidenceError(RuntimeError):
    """The run's outputs do not prove what the summary would claim; nothing was committed
    (exit status 3)."""
