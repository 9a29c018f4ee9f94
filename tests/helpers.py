"""Run the pipeline in-process for tests and read its outputs back."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import apache_beam as beam

from pipeline.config import load_config
from pipeline.outputs import read_rows
from pipeline.run import run_pipeline, run_stages_on_docs
from tests.conftest import PROJECT

DEMO = PROJECT / "configs" / "demo" / "demo_shard.jsonl.gz"


def split_demo(folder: Path, parts: int) -> list[str]:
    """The demo shard dealt round-robin into ``parts`` JSONL files, so a run has several input
    files (per-file passes, kill points between them, work for more than one worker)."""
    lines = gzip.decompress(DEMO.read_bytes()).splitlines(keepends=True)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for part in range(parts):
        path = folder / f"part-{part}.jsonl"
        path.write_bytes(b"".join(lines[part::parts]))
        paths.append(str(path))
    return paths


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


def run_docs(docs: list, stages: list, tmp: Path, files: int = 1, beam_args: list[str] = (),
             overrides: list[str] = ()) -> dict[str, Any]:
    """pipeline.run.run_stages_on_docs, then the output's kept/rejected/dead rows and summary."""
    tmp.mkdir(parents=True, exist_ok=True)
    out = Path(run_stages_on_docs(docs, stages, str(tmp), files, list(beam_args), list(overrides)))
    return {"kept": rows(out, "kept"), "rejected": rows(out, "rejected"),
            "dead_letter": rows(out, "dead_letter"), "summary": summary(out), "output": out}


class WriteSingleJson(beam.PTransform):
    """Test pipelines: a PCollection holding one JSON-able value -> one file."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def expand(self, value: beam.PCollection) -> beam.PCollection:
        from pipeline.io import write_json

        path = self.path
        return value | "write json" >> beam.Map(lambda v: write_json(path, v) or path)


def run_one_stage(spec: Any, config: Any, docs: list, tmp: Path, report: str,
                  overrides: list[str] = ()) -> tuple[list, list, dict]:
    """One stage alone through the real shell: kept documents (``id, text, meta``), rejected
    records (``doc.id, reason``) and the stage's report ``report``."""
    from types import SimpleNamespace

    out = run_docs(docs, [(spec, config)], tmp, overrides=list(overrides))
    kept = [SimpleNamespace(id=r["id"], text=r["text"], meta=json.loads(r["meta"]))
            for r in out["kept"]]
    rejected = [SimpleNamespace(doc=SimpleNamespace(id=r["id"]), reason=r["reason"])
                for r in out["rejected"]]
    return kept, rejected, out["summary"]["reports"][spec.name][report]


def star_round(edges: set[tuple[int, int]]) -> tuple[set[tuple[int, int]], int]:
    """One round of stages.components' two operations (large-star, then small-star) on plain
    Python data: (the new edges, edges changed). The reference the Beam rounds are tested on."""
    from stages.components import large_star, small_star

    adjacency: dict[int, set[int]] = {}
    for lo, hi in edges:
        adjacency.setdefault(lo, set()).add(hi)
        adjacency.setdefault(hi, set()).add(lo)
    changed, large = 0, set()
    for node, neighbours in adjacency.items():
        out, count = large_star(node, neighbours)
        large.update(out)
        changed += count
    smaller: dict[int, set[int]] = {}
    for lo, hi in large:
        smaller.setdefault(hi, set()).add(lo)
    small = set()
    for node, below in smaller.items():
        out, count = small_star(node, below)
        small.update(out)
        changed += count
    return small, changed
