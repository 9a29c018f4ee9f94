"""Give each document whose fate or kept text changed between two checkouts a cause.

``tools/compare_runs.py`` says *which* documents differ between two runs; this says *why*, by
crossing the two checkouts' per-document functions outside any pipeline: each checkout
extracts the page (``stages.extract.extract_text``), then each checkout's language, quality and
repetition rules judge *both* extracted texts. For a document that moved:

- ``extraction``: the old rules give the new text the new verdict (the text changed, the
  rules did not decide differently);
- ``rules``: the old rules on the new text still give the old verdict (a rule or word
  definition changed);
- ``extraction (dedup survivor)``: the per-document functions agree, the text changed, and
  dedup moved the document (the survivor rule reads the text, e.g. the longest survives);
- ``both`` / ``neither``: the rest (``neither``: the two checkouts' functions agree outside the
  pipeline and the text did not change, so the shell or a cross-document stage made the
  difference: the case an architecture change must not produce).

Kept texts that differ are checked the same way: ``extraction`` when each run's kept text is
what its checkout's extraction returns for the page.

    python tools/explain_changes.py OLD_OUT NEW_OUT --input 'shard/part-*.jsonl' \\
        --old-tree /path/to/old/checkout --config configs/bench_peer_stages.yaml

Each checkout runs in its own interpreter (``<tree>/.venv/bin/python``, the checkout as working
directory), through the functions both versions have: ``pipeline.config.load_config``,
``stages.extract.extract_text``, ``stages.language.make_core``, ``stages.quality.quality_doc``,
``stages.repetition.repetition_doc``.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

PROJECT = Path(__file__).resolve().parent.parent

# Runs inside a checkout: JSON lines in ({"id", "html"} to extract; {"id", "texts": {...}} to
# judge), JSON lines out.
WORKER = r'''
import json, sys
from pipeline.config import load_config
from stages import extract, language, quality, repetition
from stages.record import Doc, Drop
config = load_config(sys.argv[1])
mode = sys.argv[2]
try:
    classify = language.make_core(config.language, None)
except TypeError:  # older checkouts: make_core(config)
    classify = language.make_core(config.language)

def verdict(doc_id, text):
    doc = Doc(id=doc_id, text=text)
    for name, step in (("language", classify),
                       ("quality", lambda d: quality.quality_doc(d, config.quality)),
                       ("repetition", lambda d: repetition.repetition_doc(d, config.repetition))):
        if not getattr(config, name).enabled:
            continue
        result = step(doc)
        if isinstance(result, Drop):
            return f"rejected {name}/{result.reason}"
        doc = result
    return "passes"

for line in sys.stdin:
    record = json.loads(line)
    if mode == "extract":
        text = extract.extract_text(record["html"].encode("utf-8", "surrogatepass"), None,
                                    config.extract)
        out = {"id": record["id"], "text": text}
    else:
        out = {"id": record["id"], "verdicts": {name: (verdict(record["id"], text)
                                                       if text is not None else "no text")
                                                for name, text in record["texts"].items()}}
    print(json.dumps(out, ensure_ascii=False), flush=True)
'''


def run_tree(tree: Path, config: str, mode: str, records: Iterable[dict]) -> dict[str, dict]:
    python = (Path(sys.executable) if tree == PROJECT
              else tree / ".venv" / "bin" / "python")
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    done = subprocess.run([str(python), "-c", WORKER, config, mode], cwd=tree, input=payload,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {mode} failed:\n{done.stderr[-3000:]}")
    return {r["id"]: r for r in map(json.loads, done.stdout.splitlines())}


def read_pages(patterns: list[str], ids: set[str]) -> dict[str, dict]:
    pages: dict[str, dict] = {}
    if not ids:
        return pages
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="surrogateescape") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a broken line: a dead letter in both runs, not explained here
                    if isinstance(record, dict) and record.get("id") in ids:
                        pages[record["id"]] = {"id": record["id"], "html": record["html"]}
    return pages


def final_fate(fate: str) -> str:
    """A run's fate as the per-document functions can reproduce it: a document those
    functions pass was kept or removed by a cross-document stage (dedup, decontamination)."""
    return fate if fate.startswith(("rejected language", "rejected quality",
                                    "rejected repetition")) else "passes"


def explain(changed: dict[str, tuple], patterns: list[str], old_tree: Path, new_tree: Path,
            config: str) -> dict[str, Any]:
    """``changed``: id -> (old fate, new fate, old kept text, new kept text)."""
    moved = {doc_id: fates[:2] for doc_id, fates in changed.items()}
    kept_texts = {doc_id: fates[2:] for doc_id, fates in changed.items()}
    pages = read_pages(patterns, set(moved))
    missing = sorted(set(moved) - set(pages))
    if not pages:
        return {"documents": len(moved), "pages_not_found": missing, "causes": {},
                "fates_not_reproduced": 0, "by_transition": {}}
    texts = {name: run_tree(tree, config, "extract", pages.values())
             for name, tree in (("old", old_tree), ("new", new_tree))}
    # The old rules judge both texts (is the new verdict the text's or the rules'?); the new
    # rules judge only the new text.
    judged = {name: [{"id": doc_id, "texts": {text: texts[text][doc_id]["text"]
                                              for text in wanted}} for doc_id in pages]
              for name, wanted in (("old", ("old", "new")), ("new", ("new",)))}
    verdicts = {name: run_tree(tree, config, "judge", judged[name])
                for name, tree in (("old", old_tree), ("new", new_tree))}
    causes: Counter = Counter()
    by_transition: dict[str, Counter] = {}
    fates_not_reproduced = 0
    for doc_id, (old_fate, new_fate) in sorted(moved.items()):
        if doc_id not in pages:
            continue
        old_on_old = verdicts["old"][doc_id]["verdicts"]["old"]
        old_on_new = verdicts["old"][doc_id]["verdicts"]["new"]
        new_on_new = verdicts["new"][doc_id]["verdicts"]["new"]
        text_changed = texts["old"][doc_id]["text"] != texts["new"][doc_id]["text"]
        rules_changed = old_on_new != new_on_new
        if old_on_old == new_on_new:
            # The per-document functions agree; a cross-document stage decided. Dedup picks a
            # group's survivor by its text (the survivor rule), so a changed text can move it.
            cause = ("extraction (dedup survivor)" if text_changed
                     and "dedup/" in old_fate + new_fate else "neither")
        elif text_changed and not rules_changed:
            cause = "extraction"
        elif rules_changed and old_on_new == old_on_old:
            cause = "rules"
        else:
            cause = "both"
        if old_fate == "kept (text)":
            kept_old, kept_new = kept_texts[doc_id]
            reproduced = (kept_old == texts["old"][doc_id]["text"]
                          and kept_new == texts["new"][doc_id]["text"])
            cause = ("extraction" if text_changed and reproduced
                     else "not reproduced outside the pipeline")
        consistent = (final_fate(old_fate) == old_on_old or old_fate == "kept (text)") and (
            final_fate(new_fate) == new_on_new or new_fate == "kept (text)")
        causes[cause] += 1
        by_transition.setdefault(f"{old_fate} -> {new_fate}", Counter())[cause] += 1
        fates_not_reproduced += not consistent
    return {"documents": len(moved), "pages_not_found": missing,
            "causes": dict(causes.most_common()),
            # runs whose fate the per-document functions do not give (a cause above may then
            # not be the whole story)
            "fates_not_reproduced": fates_not_reproduced,
            "by_transition": {k: dict(v.most_common()) for k, v in sorted(
                by_transition.items(), key=lambda kv: -sum(kv[1].values()))}}


def changed_documents(old_out: Path, new_out: Path) -> dict[str, tuple]:
    """id -> (old fate, new fate, old kept text, new kept text) for every document whose fate
    or kept text differs."""
    sys.path.insert(0, str(PROJECT / "tools"))
    import compare_runs  # noqa: E402 - a sibling tool

    old, _ = compare_runs.fates(old_out)
    new, _ = compare_runs.fates(new_out)
    out = {}
    for doc_id in set(old) & set(new):
        (old_fate, old_row), (new_fate, new_row) = old[doc_id], new[doc_id]
        texts = (old_row.get("text"), new_row.get("text"))
        if old_fate != new_fate:
            out[doc_id] = (old_fate, new_fate, *texts)
        elif old_fate == "kept" and texts[0] != texts[1]:
            out[doc_id] = ("kept (text)", "kept (text)", *texts)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old_output", type=Path)
    parser.add_argument("new_output", type=Path)
    parser.add_argument("--input", nargs="+", required=True, help="the JSONL pages both ran on")
    parser.add_argument("--old-tree", type=Path, required=True)
    parser.add_argument("--new-tree", type=Path, default=PROJECT)
    parser.add_argument("--config", required=True, help="config path inside each checkout")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    changed = changed_documents(args.old_output, args.new_output)
    result = explain(changed, args.input, args.old_tree.resolve(),
                     args.new_tree.resolve(), args.config)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
