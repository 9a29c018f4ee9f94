"""Run the pipeline in-process for tests and read its outputs back."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.config import load_config
from pipeline.outputs import read_rows
from pipeline.run import run_pipeline


def run(inputs: list[str], output: Path, overrides: list[str] = (), beam_args: list[str] = (),
        config: str | None = None) -> Path:
    """Run and return the output directory (its summary is in summary.json)."""
    cfg = load_config(config, list(overrides), **{"input.paths": [str(p) for p in inputs],
                                                  "output.path": str(output)})
    run_pipeline(cfg, list(beam_args))
    return output


def rows(output: Path, kind: str) -> list[dict[str, Any]]:
    return read_rows(str(output), kind)


def summary(output: Path) -> dict[str, Any]:
    return json.loads((output / "summary.json").read_text())


def assert_conserved(output: Path) -> dict[str, Any]:
    """input = kept + rejected + dead-lettered, both in summary.json and in the files written."""
    data = summary(output)
    cons = data["conservation"]
    kept, rejected, dead = rows(output, "kept"), rows(output, "rejected"), rows(output, "dead_letter")
    assert cons["holds"], cons
    assert cons["kept"] == len(kept) and cons["rejected"] == len(rejected)
    assert cons["dead_letter"] == len(dead)
    assert cons["input"] == len(kept) + len(rejected) + len(dead)
    return data
