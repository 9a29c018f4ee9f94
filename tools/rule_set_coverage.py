"""Which rule sets judged the kept documents of a finished run: tokens and documents per
quality rule set and per language, and the share of kept tokens that no rule set judged
(``doc.meta["rule_sets"]["quality"]`` is null: the language had no set and
``other_languages: pass``). Issue 17's measure: 70.7 % of kept tokens on the Common Crawl sample
were never quality-filtered before per-language rule sets.

    .venv/bin/python -m pipeline run --input <file> --output /tmp/lang_cc --overwrite
    .venv/bin/python tools/rule_set_coverage.py /tmp/lang_cc
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.outputs import read_rows  # noqa: E402


def coverage(output: str) -> dict:
    """Kept documents/tokens by quality rule set and by language; unjudged share."""
    tokens_by_set: Counter[str] = Counter()
    docs_by_set: Counter[str] = Counter()
    unjudged_by_lang: Counter[str] = Counter()
    tokens_by_lang: Counter[str] = Counter()
    total = 0
    for row in read_rows(output, "kept"):
        meta = json.loads(row["meta"]) if isinstance(row["meta"], str) else (row["meta"] or {})
        judged = (meta.get("rule_sets") or {}).get("quality")
        tokens = int(row.get("token_count") or 0)
        name = judged or "(none)"
        tokens_by_set[name] += tokens
        docs_by_set[name] += 1
        tokens_by_lang[row.get("lang") or "(none)"] += tokens
        if judged is None:
            unjudged_by_lang[row.get("lang") or "(none)"] += tokens
        total += tokens
    unjudged = sum(unjudged_by_lang.values())
    return {"kept_tokens": total, "unjudged_tokens": unjudged,
            "unjudged_share": unjudged / total if total else 0.0,
            "tokens_by_rule_set": dict(tokens_by_set.most_common()),
            "docs_by_rule_set": dict(docs_by_set.most_common()),
            "unjudged_tokens_by_lang": dict(unjudged_by_lang.most_common()),
            "tokens_by_lang": dict(tokens_by_lang.most_common())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="a finished run's --output")
    args = parser.parse_args()
    result = coverage(args.output)
    print(f"kept tokens {result['kept_tokens']:,}; judged by no rule set "
          f"{result['unjudged_tokens']:,} = {result['unjudged_share']:.1%}")
    print("tokens (docs) by quality rule set:")
    for name, tokens in result["tokens_by_rule_set"].items():
        print(f"  {name:24s} {tokens:>9,} ({result['docs_by_rule_set'][name]})")
    if result["unjudged_tokens_by_lang"]:
        print("unjudged tokens by language:", result["unjudged_tokens_by_lang"])


if __name__ == "__main__":
    main()
