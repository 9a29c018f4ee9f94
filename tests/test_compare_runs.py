"""tools/compare_runs.py and tools/explain_changes.py: which documents moved between two runs,
and why (on hand-made outputs, so every count is known)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import compare_runs  # noqa: E402
import explain_changes  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent


def write_output(folder: Path, kept: list[dict], rejected: list[dict]) -> Path:
    for kind, rows in (("kept", kept), ("rejected", rejected), ("dead_letter", [])):
        (folder / kind).mkdir(parents=True)
        if rows:
            pq.write_table(pa.Table.from_pylist(rows), folder / kind / "part-00000.parquet")
    return folder


def meta(**values: object) -> str:
    return json.dumps(values)


def test_identical_runs(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "x y", "meta": meta()}]
    old = write_output(tmp_path / "old", rows, [{"id": "b", "stage": "quality", "reason": "r"}])
    new = write_output(tmp_path / "new", rows, [{"id": "b", "stage": "quality", "reason": "r"}])
    result = compare_runs.compare(old, new)
    assert result["documents"] == {"old": 2, "new": 2, "identical": 2,
                                   "repeated_ids": {"old": 0, "new": 0}}
    assert result["files"]["different_bytes"] == []
    assert compare_runs.main([str(old), str(new)]) == 0


def test_moves_text_changes_and_meta_keys_are_counted(tmp_path: Path) -> None:
    old = write_output(tmp_path / "old", [
        {"id": "a", "text": "one two", "meta": meta()},
        {"id": "b", "text": "line one\nline two", "meta": meta(dedup=1)},
        {"id": "c", "text": "same", "meta": meta(dedup=1)},
        {"id": "d", "text": "kept before", "meta": meta()},
    ], [{"id": "e", "stage": "quality", "reason": "gopher_alpha_words"}])
    new = write_output(tmp_path / "new", [
        {"id": "a", "text": "one  two", "meta": meta()},                    # whitespace only
        {"id": "b", "text": "line one\nline three", "meta": meta(dedup=1)},  # a line changed
        {"id": "c", "text": "same", "meta": meta(dedup=2, rule_sets={})},    # meta only
        {"id": "e", "text": "kept now", "meta": meta()},
    ], [{"id": "d", "stage": "repetition", "reason": "gopher_dup_line_frac"}])
    result = compare_runs.compare(old, new)
    assert result["documents"]["identical"] == 0
    assert {(t["old"], t["new"]): t["documents"] for t in result["transitions"]} == {
        ("kept", "rejected repetition/gopher_dup_line_frac"): 1,
        ("rejected quality/gopher_alpha_words", "kept"): 1}
    assert result["kept_text_changes"] == {"whitespace only": 1, "lines changed": 1}
    assert result["kept_column_changes"] == {"meta.dedup": 1, "meta.rule_sets (added)": 1}
    assert compare_runs.main([str(old), str(new)]) == 1


def test_explain_names_what_the_per_document_functions_reproduce(tmp_path: Path) -> None:
    """Both sides are this checkout: a page the functions keep but the "old" run rejected by a
    rule is not a rule or extraction change - it is flagged as not reproduced; a kept text that
    is not what extraction returns is flagged the same way."""
    words = " ".join(["the quick brown fox jumps over the lazy dog with the cat"] * 12)
    html = f"<html><body><article><p>{words}</p></article></body></html>"
    pages = tmp_path / "pages.jsonl"
    pages.write_text(json.dumps({"id": "p", "html": html}) + "\n"
                     + json.dumps({"id": "q", "html": html}) + "\n")
    old = write_output(tmp_path / "old", [{"id": "q", "text": "old text", "meta": meta()}],
                       [{"id": "p", "stage": "quality", "reason": "gopher_word_count"}])
    new = write_output(tmp_path / "new", [{"id": "p", "text": words, "meta": meta()},
                                          {"id": "q", "text": words, "meta": meta()}], [])
    changed = explain_changes.changed_documents(old, new)
    assert set(changed) == {"p", "q"}
    result = explain_changes.explain(changed, [str(pages)], PROJECT, PROJECT,
                                     "configs/bench_peer_stages.yaml")
    assert result["documents"] == 2 and result["pages_not_found"] == []
    assert result["by_transition"]["rejected quality/gopher_word_count -> kept"] == {
        "neither": 1}
    assert result["by_transition"]["kept (text) -> kept (text)"] == {
        "not reproduced outside the pipeline": 1}
    assert result["causes"] == {"neither": 1, "not reproduced outside the pipeline": 1}
    assert result["fates_not_reproduced"] == 1  # p: its old rejection is not the rules'
