"""Compare two pipeline outputs document by document: what changed, for whom, and how.

Why: a change to the shell must not change outputs, and a change to a rule should change only
what it means to. Byte equality of the Parquet files says *whether*; this says *which*
documents moved (kept -> rejected by which stage and reason, or back), which kept texts
changed and how (lines added/removed, whitespace only), and which other columns differ, so
every difference can be given a reason.

    python tools/compare_runs.py OLD_OUTPUT NEW_OUTPUT [--json result.json] [--examples 3]

OLD/NEW are ``--output`` folders of ``python -m pipeline run`` (kept/, rejected/,
dead_letter/ Parquet; any version of this project: only ``id``, ``text``, ``stage``,
``reason`` are required). Exit status 0 when every document has the same fate and the same
kept row, 1 otherwise.
"""
from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

KINDS = ("kept", "rejected", "dead_letter")
# Columns that differ between runs by design (where a row sits, when it was written).
VOLATILE = frozenset({"position"})


def read_rows(output: Path, kind: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((output / kind).glob("*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def fate_label(kind: str, row: dict[str, Any] | None) -> str:
    if row is None:
        return "absent"
    if kind == "kept":
        return "kept"
    if kind == "rejected":
        return f"rejected {row.get('stage')}/{row.get('reason')}"
    return f"dead_letter {row.get('stage')}"


def fates(output: Path) -> tuple[dict[str, tuple[str, dict[str, Any]]], int]:
    """id -> (fate label, row); and how many rows shared an id with an earlier one."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    repeated = 0
    for kind in KINDS:
        for row in read_rows(output, kind):
            # A dead letter often has no usable id (the record could not be parsed): its raw
            # bytes and file identify it.
            key = (f"dead letter of {row.get('source')}: {_raw(row.get('raw'))}"
                   if kind == "dead_letter" else str(row.get("id")))
            if key in out:
                repeated += 1
                continue
            out[key] = (fate_label(kind, row), row)
    return out, repeated


def text_change(old: str, new: str) -> str:
    """How a kept text changed, in one of a few words."""
    if " ".join(old.split()) == " ".join(new.split()):
        return "whitespace only"
    old_lines = [line.strip() for line in old.splitlines() if line.strip()]
    new_lines = [line.strip() for line in new.splitlines() if line.strip()]
    added = Counter(new_lines) - Counter(old_lines)
    removed = Counter(old_lines) - Counter(new_lines)
    if added and removed:
        return "lines changed"
    if added:
        return "lines added"
    if removed:
        return "lines removed"
    return "line order or splitting"


def file_digests(output: Path) -> dict[str, str]:
    return {str(path.relative_to(output)): hashlib.sha256(path.read_bytes()).hexdigest()
            for kind in KINDS for path in sorted((output / kind).glob("*.parquet"))}


def compare(old_dir: Path, new_dir: Path, examples: int = 3) -> dict[str, Any]:
    old, old_repeated = fates(old_dir)
    new, new_repeated = fates(new_dir)
    transitions: Counter = Counter()
    text_changes: Counter = Counter()
    column_changes: Counter = Counter()
    samples: dict[str, list[dict[str, Any]]] = {}
    identical = 0
    for doc_id in sorted(set(old) | set(new)):
        old_fate, old_row = old.get(doc_id, ("absent", {}))
        new_fate, new_row = new.get(doc_id, ("absent", {}))
        if old_fate != new_fate:
            transitions[(old_fate, new_fate)] += 1
            bucket = samples.setdefault(f"{old_fate} -> {new_fate}", [])
            if len(bucket) < examples:
                bucket.append({"id": doc_id, "old": _brief(old_row), "new": _brief(new_row)})
            continue
        same = True
        if old_fate == "kept":
            if (old_row.get("text") or "") != (new_row.get("text") or ""):
                same = False
                kind = text_change(old_row.get("text") or "", new_row.get("text") or "")
                text_changes[kind] += 1
                bucket = samples.setdefault(f"kept, text {kind}", [])
                if len(bucket) < examples:
                    bucket.append({"id": doc_id, "diff": _diff(old_row.get("text") or "",
                                                               new_row.get("text") or "")})
            for column in sorted((set(old_row) & set(new_row)) - {"text"} - VOLATILE):
                if old_row[column] == new_row[column]:
                    continue
                same = False
                if column == "meta":  # JSON: which keys changed
                    for key in _meta_changes(old_row[column], new_row[column]):
                        column_changes[f"meta.{key}"] += 1
                else:
                    column_changes[column] += 1
        if same:
            identical += 1
    old_files, new_files = file_digests(old_dir), file_digests(new_dir)
    return {
        "old": str(old_dir), "new": str(new_dir),
        "documents": {"old": len(old), "new": len(new), "identical": identical,
                      "repeated_ids": {"old": old_repeated, "new": new_repeated}},
        "fates": {"old": dict(Counter(f.split()[0] for f, _ in old.values())),
                  "new": dict(Counter(f.split()[0] for f, _ in new.values()))},
        "transitions": [{"old": a, "new": b, "documents": n}
                        for (a, b), n in sorted(transitions.items(), key=lambda kv: (-kv[1], kv[0]))],
        "kept_text_changes": dict(text_changes.most_common()),
        "kept_column_changes": dict(column_changes.most_common()),
        "files": {"same_bytes": sorted(name for name in old_files
                                       if new_files.get(name) == old_files[name]),
                  "different_bytes": sorted(name for name in old_files
                                            if name in new_files
                                            and new_files[name] != old_files[name]),
                  "only_old": sorted(set(old_files) - set(new_files)),
                  "only_new": sorted(set(new_files) - set(old_files))},
        "examples": samples,
    }


def _raw(raw: Any) -> str:
    """A dead letter's raw record without its line ending (versions differ in keeping it)."""
    if isinstance(raw, bytes):
        raw = raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
    return str(raw).rstrip("\r\n")[:200]


def _meta_changes(old: Any, new: Any) -> list[str]:
    """Top-level keys of two JSON meta strings that differ (added, removed or changed)."""
    try:
        a, b = json.loads(old or "{}"), json.loads(new or "{}")
    except (TypeError, ValueError):
        return ["(not JSON)"]
    if not isinstance(a, dict) or not isinstance(b, dict):
        return ["(not an object)"]
    return [key if key in a and key in b else f"{key} ({'added' if key in b else 'removed'})"
            for key in sorted(set(a) | set(b)) if a.get(key, ...) != b.get(key, ...)]


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    out = {key: row.get(key) for key in ("stage", "reason", "detail", "error") if row.get(key)}
    if row.get("text") is not None:
        out["text"] = row["text"][:160]
    return out


def _diff(old: str, new: str, lines: int = 8) -> list[str]:
    diff = [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(),
                                                  lineterm="", n=0)
            if not line.startswith(("---", "+++", "@@"))]
    return [line[:160] for line in diff[:lines]]


def markdown(result: dict[str, Any]) -> str:
    docs = result["documents"]
    out = [f"documents: old {docs['old']:,}, new {docs['new']:,}; identical fate and row: "
           f"{docs['identical']:,}",
           f"fates old {result['fates']['old']} -> new {result['fates']['new']}", ""]
    if result["transitions"]:
        out += ["| old fate | new fate | documents |", "|---|---|---|"]
        out += [f"| {t['old']} | {t['new']} | {t['documents']:,} |" for t in result["transitions"]]
        out.append("")
    if result["kept_text_changes"]:
        out.append("kept in both, text changed: " + ", ".join(
            f"{kind} {n:,}" for kind, n in result["kept_text_changes"].items()))
    if result["kept_column_changes"]:
        out.append("kept in both, other columns changed: " + ", ".join(
            f"{column} {n:,}" for column, n in result["kept_column_changes"].items()))
    files = result["files"]
    out.append(f"Parquet files: {len(files['same_bytes'])} byte-identical, "
               f"{len(files['different_bytes'])} different, {len(files['only_old'])} only old, "
               f"{len(files['only_new'])} only new")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--json", type=Path, help="write the whole comparison here")
    parser.add_argument("--examples", type=int, default=3, help="examples per kind of change")
    args = parser.parse_args(argv)
    for folder in (args.old, args.new):
        if not (folder / "kept").is_dir():
            parser.error(f"{folder}: no kept/ folder (not a pipeline --output)")
    result = compare(args.old, args.new, args.examples)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    same = (result["documents"]["identical"] == result["documents"]["old"]
            == result["documents"]["new"])
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
