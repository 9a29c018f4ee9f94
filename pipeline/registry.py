"""The fixed stage list, in Gopher (MassiveText) order.

Each stage module exposes ``Config`` (its typed section) and ``Stage`` (a PTransform built as
``Stage(config, context)`` that returns :class:`stages.base.StageOutputs`). The order is code;
which stages run, and their settings, are config.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

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


@dataclass(frozen=True)
class RunContext:
    """What a stage may know of the run: a place for artefacts it writes, and the seed."""

    artefact_dir: str
    seed: int
