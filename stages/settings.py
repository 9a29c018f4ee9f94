"""Typed config sections. Each stage owns its section class; `pipeline.config` assembles them.

Strict by construction: unknown keys, wrong types and out-of-range values are errors that name
the key and the allowed values, raised before any work starts.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section: frozen (safe to share across threads and pickle into DoFns), strict keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class StageSection(Section):
    """A stage's section; every stage can be switched off without touching code."""

    enabled: bool = True
