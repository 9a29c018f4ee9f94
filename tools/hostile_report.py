"""What happened to each hostile case: a Markdown table from a run's outputs (for the README).

    python tools/make_hostile_corpus.py --out /tmp/hostile
    python -m pipeline run --input '/tmp/hostile/input/*' --output /tmp/hostile-out
    python tools/hostile_report.py --cases /tmp/hostile/cases.json --output /tmp/hostile-out
"""
from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from pipeline.outputs import read_rows


def fates(output: Path, folder: str = "") -> dict[str, Counter]:
    """Per input file (its `source`: the path below the input folder): counts of kept /
    stage:reason / dead-letter errors (``folder`` is cut from messages, so tables compare)."""
    per_file: dict[str, Counter] = defaultdict(Counter)

    for row in read_rows(str(output), "kept"):
        per_file[row["source"]]["kept"] += 1
    for row in read_rows(str(output), "rejected"):
        per_file[row["source"]][f"rejected `{row['stage']}:{row['reason']}`"] += 1
    for row in read_rows(str(output), "dead_letter"):
        error = row["error"].replace(folder, "").replace("|", "/") if folder else row["error"].replace("|", "/")
        per_file[row["source"]][f"dead letter ({row['stage']}: {error[:150]})"] += 1
    return per_file


def table(cases: list[dict], per_file: dict[str, Counter]) -> str:
    lines = ["| case | file | records | what happened |", "|---|---|---|---|"]
    for case in cases:
        outcome = per_file.get(case["file"], Counter())
        said = "; ".join(f"{n} {what}" for what, n in sorted(outcome.items(), key=lambda kv: -kv[1]))
        lines.append(f"| {case['case']} | `{case['file'].replace('|', '/')}` | {case['records_written']} | "
                     f"{said or 'nothing to account for'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    summary = json.loads((args.output / "summary.json").read_text())
    folder = str(args.cases.resolve().parent / "input") + "/"
    print(table(json.loads(args.cases.read_text()), fates(args.output, folder)))
    print(f"\nconservation: {summary['conservation']}")


if __name__ == "__main__":
    main()
