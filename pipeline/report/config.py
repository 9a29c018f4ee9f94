"""The `report` config section: which models to budget for, on what hardware, with which fit."""
from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.report.formulas import FITS, GPUS, parse_size
from stages.settings import Section

GpuName = Literal["a100", "h100", "h200", "b200", "mi300x", "a10", "a10g", "v100", "custom"]
FitName = Literal["approach1", "approach3", "epoch_ai"]


def parse_mix(text: str | dict[str, float]) -> dict[str, float]:
    """'en=0.7,zh=0.2,code=0.1' -> {'en': 0.7, ...}; weights must be positive and sum to 1."""
    if isinstance(text, dict):
        items = [(str(k), v) for k, v in text.items()]
    else:
        items = []
        for part in str(text).split(","):
            if not part.strip():
                continue
            name, sep, weight = part.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"mix entry {part.strip()!r}: expected LANG=WEIGHT, e.g. "
                                 f"en=0.7,zh=0.2,code=0.1")
            items.append((name.strip(), weight.strip()))
    mix: dict[str, float] = {}
    for name, weight in items:
        try:
            value = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"mix weight for {name!r} is not a number: {weight!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"mix weight for {name!r} must be positive, got {weight!r}")
        if name in mix:
            raise ValueError(f"mix names {name!r} twice")
        mix[name] = value
    if not mix:
        raise ValueError("mix is empty: expected LANG=WEIGHT pairs, e.g. en=0.7,zh=0.2,code=0.1")
    total = sum(mix.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"mix weights sum to {total:g}; they must sum to 1")
    return mix


class ReportConfig(Section):
    """Written as report.{json,md,html} at the top of the output dir after every run; the
    ``report`` verb rebuilds it from summary.json with any of these changed."""

    enabled: bool = True
    # Target model sizes (parameters) for the epochs/compute tables: 125M, 1B, 7B, 70B, 1.5e9 ...
    models: list[str] = Field(default_factory=lambda: ["125M", "1B", "7B", "70B"], min_length=1)
    # Training tokens per model: null = compute-optimal under `fit`; or a size like 2T (Llama 2).
    train_tokens: str | float | None = None
    # Compute-optimal fit for tokens per model and the inverse questions. Approach 1 is the one
    # Hoffmann et al. trained Chinchilla by; Epoch AI's refit of Approach 3 agrees with it; the
    # printed Approach 3 parameters give ~5x more tokens per parameter at 70B (shown for contrast).
    fit: FitName = "approach1"
    gpu: GpuName = "h100"
    gpus: int = Field(default=64, ge=1, le=1_000_000)
    # Peak dense FLOP/s per GPU instead of the datasheet value of `gpu` (required for `custom`).
    peak_flops: str | float | None = None
    # Memory per GPU for `custom` (or to override the datasheet), for "min GPUs for states".
    gpu_memory_gb: float | None = Field(default=None, gt=0)
    # Utilisation for the headline time: model FLOPs utilisation (MFU, defined on 6ND) ...
    mfu: float = Field(default=0.4, gt=0, le=1)
    # ... or hardware FLOPs utilisation; when set it replaces mfu, and time uses 8ND if
    # activations are recomputed (`recompute`), 6ND if not.
    hfu: float | None = Field(default=None, gt=0, le=1)
    recompute: bool = True
    # Best/worst case of the stated utilisation (MFU, or HFU when hfu is set).
    mfu_range: tuple[float, float] = (0.3, 0.55)
    # Fixed compute budget for "which model, how many tokens": model FLOPs (e.g. 1e24) or
    # days on `gpus` x `gpu` at the stated utilisation; at most one of the two.
    flops: str | float | None = None
    days: float | None = Field(default=None, gt=0)
    # Language mix of the target model ({en: 0.7, zh: 0.2, code: 0.1}) for per-language epochs.
    mix: dict[str, float] | None = None
    # Vocabulary for the non-embedding parameter estimate when no tokenizer ran in the run.
    vocab_size: int | None = Field(default=None, ge=1)
    # Rejected rows shown per rejection reason (ids + first characters, escaped); 0 = none.
    samples_per_reason: int = Field(default=3, ge=0, le=50)
    sample_chars: int = Field(default=160, ge=10, le=2000)
    # Sources listed one by one in the per-source table; the rest is one "other" row.
    top_sources: int = Field(default=10, ge=1, le=1000)
    html: bool = True

    @field_validator("models")
    @classmethod
    def _sizes(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_size(item)
        return value

    @field_validator("train_tokens", "peak_flops", "flops")
    @classmethod
    def _size(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_size(value)
        return value

    @field_validator("mix", mode="before")
    @classmethod
    def _mix(cls, value: object) -> object:
        if value is None:
            return None
        if isinstance(value, (str, dict)):
            return parse_mix(value)
        raise ValueError("mix must be a mapping LANG: WEIGHT or a string 'en=0.7,zh=0.3'")

    @model_validator(mode="after")
    def _consistent(self) -> "ReportConfig":
        low, high = self.mfu_range
        if not 0 < low <= high <= 1:
            raise ValueError(f"mfu_range must satisfy 0 < low <= high <= 1, got {self.mfu_range}")
        if self.gpu == "custom" and self.peak_flops is None:
            raise ValueError("gpu: custom needs peak_flops (peak dense FLOP/s per GPU, e.g. 1.2e15)")
        if self.flops is not None and self.days is not None:
            raise ValueError("give at most one compute budget: flops or days")
        return self

    # ---------------------------------------------------------- derived values
    @property
    def utilisation(self) -> tuple[str, float]:
        """('mfu' | 'hfu', value)."""
        return ("hfu", self.hfu) if self.hfu is not None else ("mfu", self.mfu)

    @property
    def peak(self) -> tuple[float, str]:
        """(peak FLOP/s per GPU, where the number comes from)."""
        if self.peak_flops is not None:
            return parse_size(self.peak_flops), "given (peak_flops)"
        gpu = GPUS[self.gpu]
        return gpu.peak_flops, gpu.source

    @property
    def gpu_memory_bytes(self) -> float | None:
        if self.gpu_memory_gb is not None:
            return self.gpu_memory_gb * 1e9
        return GPUS[self.gpu].memory_bytes if self.gpu in GPUS else None

    @property
    def fit_law(self):
        return FITS[self.fit]
