"""The fixed stage list, in Gopher (MassiveText) order.

Each stage module exposes ``Config`` (its typed section) and ``SPEC`` (its
:class:`stages.base.Stage` declaration). The order is code; which stages run, and their
settings, are config.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from stages.base import RunContext

STAGE_MODULES: tuple[tuple[str, str], ...] = (
    ("safety", "stages.safety"),
    ("extract", "stages.extract"),
    ("language", "stages.language"),
    ("content_safety", "stages.content_safety"),
    ("quality", "stages.quality"),
    ("repetition", "stages.repetition"),
    ("dedup", "stages.dedup"),
    ("decontaminate", "stages.decontaminate"),
    ("tokenize", "stages.tokenize"),
)


def available_stages() -> list[tuple[str, ModuleType]]:
    """Every stage module, in pipeline order (a missing module is an install error, not a skip)."""
    return [(name, importlib.import_module(module_path)) for name, module_path in STAGE_MODULES]


__all__ = ["RunContext", "STAGE_MODULES", "available_stages"]
