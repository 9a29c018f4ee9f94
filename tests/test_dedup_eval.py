"""tools/dedup_eval.py runs on the current pipeline: every subcommand on a tiny synthetic shard.

The tool measures the numbers in docs/dedup.md; it calls the pipeline's public entry points
(run_pipeline with a stage list, the key-file writer, ConnectedComponents, the CLI), so an API
change that breaks it fails here instead of leaving the doc unreproducible.
"""
from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tools"))

import dedup_eval  # noqa: E402


def _shard(folder: Path) -> Path:
    """12 base texts of 120 synthetic words, one exact copy (new id and URL) and one near copy
    (one word substituted: 5-word shingle Jaccard 111/121 = 0.92), in docs.jsonl.gz + truth."""
    rng = random.Random(5)
    vocab = [f"w{n}" for n in range(3000)]
    base = [" ".join(rng.choice(vocab) for _ in range(120)) for _ in range(12)]
    near = base[1].split(" ")
    near[60] = "changed"
    rows = [(f"b{i:02d}", text, "base", None, None) for i, text in enumerate(base)]
    rows.append(("copy", base[0], "exact", "b00", 0.0))
    rows.append(("near", " ".join(near), "near", "b01", 0.01))
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "docs.jsonl.gz", "wt", encoding="utf-8") as docs, \
            open(folder / "truth.jsonl", "w", encoding="utf-8") as truth:
        for doc_id, text, kind, of, rate in rows:
            docs.write(json.dumps({"id": doc_id, "url": f"https://e.org/{doc_id}", "text": text,
                                   "lang": "en", "date": "2020-01-01"}) + "\n")
            truth.write(json.dumps({"id": doc_id, "kind": kind, "rate": rate, "of": of}) + "\n")
    return folder


def _run(capsys: pytest.CaptureFixture, *argv: str) -> str:
    assert dedup_eval.main(list(argv)) == 0
    return capsys.readouterr().out


def test_score_runs_the_stage_through_the_pipeline(tmp_path: Path, capsys) -> None:
    data = _shard(tmp_path / "data")
    result = json.loads(_run(capsys, "score", "--data", str(data), "--out", str(tmp_path / "run"),
                             "--files", "2", "--set", "max_rounds=4"))
    assert result["pair_recall"]["pairs_at_or_above_threshold"] == 2  # the copy and the near copy
    assert result["pair_recall"]["recall"] == 1.0
    assert result["precision_near_removals"] == {"removed": 1, "jaccard_ok": 1, "precision": 1.0}
    assert result["exact"]["removed_as_exact_duplicate"] == 1
    assert result["stage"]["exact"]["docs_removed"] == 1
    assert result["stage"]["near"]["docs_removed"] == 1
    decisions = [json.loads(line) for line in open(tmp_path / "run" / "decisions.jsonl")]
    assert len(decisions) == 14
    removed = {d["id"]: d["reason"] for d in decisions if not d["kept"]}
    # longest survives: the near copy ("changed" for a word of at most 5 characters) is longer
    # than b01; b00 and its exact copy tie on length and fall through to the smaller id
    assert removed == {"copy": "exact_duplicate", "b01": "near_duplicate"}

def test_shuffle_bytes_measures_the_key_files(tmp_path: Path, capsys) -> None:
    data = _shard(tmp_path / "data")
    result = json.loads(_run(capsys, "shuffle-bytes", "--data", str(data), "--files", "2",
                             "--partitions", "3"))
    assert result["docs"] == 14 and result["partitions"] == 3
    assert result["key_files"]["exact"]["records_per_doc"] == 1.0
    assert result["key_files"]["bands"]["records_per_doc"] == 18.0  # 18 bands x 7 rows
    assert result["key_files"]["total_bytes_per_doc"] > 0
    elements = result["decide_elements"]
    assert elements["candidate edge ((node ref, doc ref), (node ref, doc ref))"]["count"] >= 1
    assert elements["verified edge (node ref, node ref)"]["count"] == 1  # base 1 and its copy
    assert elements["decision (doc ref, (drop, meta))"]["count"] == 4  # both groups' documents
    requests = elements["gather request (doc ref, (edge key, (side, node ref)))"]["count"]
    assert requests == 2 * elements[
        "candidate edge ((node ref, doc ref), (node ref, doc ref))"]["count"]
    payloads = result["gather_files"]
    assert all(entry["count"] == requests for entry in payloads.values())
    shingles, signature = (entry["bytes_each"] for entry in payloads.values())
    assert shingles > 0 and signature > 0


def test_rounds(capsys) -> None:
    out = _run(capsys, "rounds", "--sizes", "6", "--max-rounds", "6")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["graph"], r["converged"]) for r in rows] == [
        ("random-order path", True), ("star around a random node", True)]


def test_scale_runs_the_cli(tmp_path: Path, capsys) -> None:
    data = _shard(tmp_path / "data")
    result = json.loads(_run(capsys, "scale", "--data", str(data), "--out", str(tmp_path / "out")))
    assert result["docs"] == 14 and result["peak_rss_mb"] > 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    ran = {stage["stage"] for stage in summary["stages"]}
    assert "dedup" in ran and not ran & {"language", "quality", "decontaminate", "tokenize"}
