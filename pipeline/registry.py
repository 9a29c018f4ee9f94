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
    ("quality", "stages.quality"),
    ("repetition", "stages.repetition"),
    ("dedup", "stages.dedup"),
    ("decontaminate", "stages.decontaminate"),
    ("tokenize", "stages.tokenize"),
)


def available_stages() -> list[tuple[str, ModuleType]]:
    """Stage modules present in this checkout, in pipeline order."""
    found = []
    for name, module_path in STAGE_MODULES:
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as error:
            if error.name == module_path:
                continue
            raise
        found.append((name, module))
    return found


@dataclass(frozen=True)
class RunContext:
    """What a stage may know of the run: a place for artefacts it writes, and the seed."""

    artefact_dir: str
    seed: int
