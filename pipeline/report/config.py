"""The `report` config section: which models to budget for and on what hardware."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.report.formulas import parse_size
from stages.settings import Section

GpuName = Literal["a100", "h100", "h200", "a10", "a10g", "v100"]


class ReportConfig(Section):
    """Written as report.{json,md,html} at the top of the output dir after every run."""

    enabled: bool = True
    # Target model sizes (parameters) for the epochs/compute tables: 125M, 1B, 7B, 70B, 1.5e9 ...
    models: list[str] = Field(default_factory=lambda: ["125M", "1B", "7B", "70B"], min_length=1)
    # Training tokens per model: null = Chinchilla compute-optimal; or a size like 2T (Llama 2).
    train_tokens: str | None = None
    gpu: GpuName = "h100"
    gpus: int = Field(default=64, ge=1, le=1_000_000)
    # Model FLOP utilisation for the headline time; the range gives the best/worst case.
    mfu: float = Field(default=0.4, gt=0, le=1)
    mfu_range: tuple[float, float] = (0.3, 0.55)
    html: bool = True

    @field_validator("models")
    @classmethod
    def _sizes(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_size(item)
        return value

    @field_validator("train_tokens")
    @classmethod
    def _tokens(cls, value: str | None) -> str | None:
        if value is not None:
            parse_size(value)
        return value

    @model_validator(mode="after")
    def _range(self) -> "ReportConfig":
        low, high = self.mfu_range
        if not 0 < low <= high <= 1:
            raise ValueError(f"mfu_range must satisfy 0 < low <= high <= 1, got {self.mfu_range}")
        return self
