"""The benchmark's own tools: the text shard is a deterministic function of its inputs, and the
fits tools/bench prints are the least-squares numbers they claim to be."""
from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tools"))

import bench  # noqa: E402


def test_fits_recover_exponent_and_bytes_per_doc(capsys: pytest.CaptureFixture) -> None:
    records = [{"docs": n, "wall_seconds": 0.01 * n ** 1.1, "cpu_seconds": 0.02 * n,
                "peak_rss_bytes": 300e6 + 700 * n} for n in (2_000, 10_000, 50_000)]
    fits = bench.print_fits(records)
    assert math.isclose(fits["time_exponent_wall"], 1.1, abs_tol=1e-3)
    assert math.isclose(fits["time_exponent_cpu"], 1.0, abs_tol=1e-3)
    assert fits["peak_rss_bytes_per_doc"] == 700
    assert fits["peak_rss_bytes_per_doc_between_largest"] == 700
    assert "700 bytes/doc from 10,000 to 50,000" in capsys.readouterr().out
    # a fixed buffer that fills between the two smallest sizes: least squares sees a slope, the
    # largest two sizes do not
    records[1]["peak_rss_bytes"] += 200e6
    records[2]["peak_rss_bytes"] += 200e6
    fits = bench.print_fits(records)
    assert fits["peak_rss_bytes_per_doc_between_largest"] == 700
    assert fits["peak_rss_bytes_per_doc"] > 700
    assert bench.print_fits(records[:1]) == {}
    assert bench.print_fits(records + [dict(records[-1])])["peak_rss_bytes_per_doc_between_largest"] \
        == 700  # --repeat: two runs of the largest size


def _html_shard(folder: Path, pages: int) -> Path:
    """A make_shard.py-shaped folder (part-*.jsonl with html, truth.jsonl) of real eval pages."""
    source = shared_path("html_extraction_eval")
    manifest = [json.loads(line) for line in (source / "manifest.jsonl").open(encoding="utf-8")]
    folder.mkdir()
    with (folder / "part-00000.jsonl").open("w", encoding="utf-8") as part, \
            (folder / "truth.jsonl").open("w", encoding="utf-8") as truth:
        for number, page in enumerate(sorted(source.glob("pages/*.html.gz"))[:pages]):
            html = gzip.decompress(page.read_bytes()).decode("utf-8", "replace")
            part.write(json.dumps({"id": f"p{number}", "url": f"https://example.org/{number}?a=1",
                                   "html": html}) + "\n")
            truth.write(json.dumps({"id": f"p{number}", "kind": "original", "lang": "en"}) + "\n")
    assert manifest  # the folder is the real eval set
    return folder


def _make(html: Path, out: Path, cache: Path, n: int) -> None:
    subprocess.run([sys.executable, str(PROJECT / "tools" / "make_text_shard.py"),
                    "--html-shard", str(html), "--n", str(n), "--out", str(out),
                    "--cache", str(cache), "--files", "2"], check=True, cwd=PROJECT,
                   capture_output=True)


def test_text_shard_is_deterministic_and_planted_as_declared(tmp_path: Path) -> None:
    html = _html_shard(tmp_path / "html", 40)
    _make(html, tmp_path / "a", tmp_path / "cache", 200)
    _make(html, tmp_path / "b", tmp_path / "cache", 200)
    for name in ("part-00000.jsonl", "part-00001.jsonl", "truth.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    docs = {d["id"]: d for name in ("part-00000.jsonl", "part-00001.jsonl")
            for d in map(json.loads, (tmp_path / "a" / name).open(encoding="utf-8"))}
    truth = [json.loads(line) for line in (tmp_path / "a" / "truth.jsonl").open()]
    assert len(docs) == len(truth) == 200
    kinds = {kind: sum(t["kind"] == kind for t in truth) for kind in ("base", "exact_dup", "near_dup")}
    assert kinds["base"] > kinds["near_dup"] > kinds["exact_dup"] > 0
    for entry in truth:
        text = docs[entry["id"]]["text"]
        if entry["kind"] == "exact_dup":
            assert text == docs[entry["dup_of"]]["text"]
        elif entry["kind"] == "near_dup":
            assert text != docs[entry["dup_of"]]["text"]
        else:
            assert text and entry["dup_of"] is None
    base_sizes = [len(docs[t["id"]]["text"].encode("utf-8")) for t in truth if t["kind"] == "base"]
    assert 6000 <= sorted(base_sizes)[len(base_sizes) // 2] <= 13000
