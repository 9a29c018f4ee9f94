"""Typed config sections. Each stage owns its section class; `pipeline.config` assembles them.

Strict by construction: unknown keys, wrong types and out-of-range values are errors that name
the key and the allowed values, raised before any work starts.
"""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """Absolute paths stay; relative ones (lists, benchmarks, models named in a config) are
    taken from the project root, never the CWD, so a config means the same from anywhere."""
    candidate = Path(os.path.expanduser(str(path)))
    return candidate if candidate.is_absolute() else PROJECT_ROOT / candidate


class Section(BaseModel):
    """A config section: frozen (safe to share across threads and pickle into DoFns), strict keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class StageSection(Section):
    """A stage's section; every stage can be switched off without touching code."""

    enabled: bool = True
