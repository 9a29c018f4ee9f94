"""Extraction quality and speed on real annotated pages: trafilatura's defaults vs the extract stage.

    python tools/extraction_eval.py [--limit N] [--repeats 3] [--json] [--misses]
    python tools/extraction_eval.py --set bullet='• ' --set favor_recall=true
    python tools/extraction_eval.py --only defaults --traf favor_recall=true --traf include_comments=false

Data: ../shared/data/html_extraction_eval/ (manifest.jsonl + pages/*.html.gz; see its
PROVENANCE.md). For each extractor it prints:
  (a) recall: share of `expected_with` strings found in the text,
  (b) boilerplate absent: share of `expected_without` strings NOT found in the text,
  (c) bullet retention: share of `expected_with_inside_li` strings found on one line that starts
      with a bullet marker (optional indentation, then one of BULLET_CHARS, then a space),
  (c') bullet retention, li only: the same over the li strings that do NOT also occur in the page
      outside every <li> (a TOC entry repeating a heading, a footer link repeating a name): for
      those, a correct extractor may keep the heading/paragraph copy and drop the list copy,
  (d) docs/s: single process, pages / CPU seconds of this process (time.process_time), best of
      --repeats passes, passes of the extractors interleaved. CPU time, not wall time, because
      the machine is shared: other jobs stretch wall time by up to 2x between runs, CPU time
      far less. docs_per_wall_s is printed beside it.
Matching is whitespace-normalised: both the expected string and the text (or the line) are
reduced to their words joined by one space (``" ".join(s.split())``), so line breaks, tabs,
runs of spaces and non-breaking spaces (str.split treats U+00A0 as whitespace) never decide a
match; invisible format characters (Unicode category Cf: soft hyphen, zero-width space/joiner,
U+2063 invisible separator, ...) are deleted first, because extractors differ in whether they keep
them and one annotation ends in U+2063. Case and punctuation still decide.

"defaults" is ``trafilatura.extract(html_bytes)`` with no options (trafilatura sniffs the
charset itself); "ours" is ``stages.extract.TimedExtractor`` with the stage Config defaults (plus any
--set overrides), i.e. exactly what the in-process pipeline runs, time limit included (on the
main thread: a SIGALRM timer); --watchdog adds the same through the watchdog child.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
SHARED = Path(os.environ.get("SHARED_DATA", PROJECT.parent / "shared" / "data"))
EVAL_DIR = SHARED / "html_extraction_eval"

# Markers a bullet line may start with: trafilatura's "- ", the common "• ", and friends.
BULLET_CHARS = "-•*–·▪◦‣"
_BULLET_LINE = re.compile(r"^\s*[" + re.escape(BULLET_CHARS) + r"]\s")


def norm(text: str) -> str:
    """Whitespace normalisation used for every match (see module docstring)."""
    if not text.isprintable():  # fast path: most strings hold no invisible format characters
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())


@dataclass
class Page:
    file: str
    html: bytes
    with_: list[str]
    without: list[str]
    with_li: list[str]
    # li strings that also occur in the page outside every <li> (TOC, heading, footer copies):
    # the extractor may rightly keep the non-list occurrence, so they are counted apart too.
    li_also_outside: set[str] = field(default_factory=set)


@dataclass
class Score:
    name: str
    found: int = 0
    expected: int = 0
    absent: int = 0
    unwanted: int = 0
    bullets: int = 0
    li_expected: int = 0
    bullets_unambiguous: int = 0
    li_unambiguous: int = 0
    seconds: list[float] = field(default_factory=list)  # CPU time of this process per pass
    wall_seconds: list[float] = field(default_factory=list)
    pages: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        best = min(self.seconds) if self.seconds else float("nan")
        return {
            "extractor": self.name,
            "pages": self.pages,
            "recall": round(self.found / max(self.expected, 1), 4),
            "with_found": f"{self.found}/{self.expected}",
            "boilerplate_absent": round(self.absent / max(self.unwanted, 1), 4),
            "without_absent": f"{self.absent}/{self.unwanted}",
            "bullet_retention": round(self.bullets / max(self.li_expected, 1), 4),
            "li_on_bullet_line": f"{self.bullets}/{self.li_expected}",
            "bullet_retention_li_only": round(self.bullets_unambiguous / max(self.li_unambiguous, 1), 4),
            "li_only_on_bullet_line": f"{self.bullets_unambiguous}/{self.li_unambiguous}",
            "docs_per_s": round(self.pages / best, 2) if self.seconds else None,
            "docs_per_wall_s": round(self.pages / min(self.wall_seconds), 2) if self.wall_seconds else None,
            "cpu_s": [round(s, 2) for s in self.seconds],
            "wall_s": [round(s, 2) for s in self.wall_seconds],
        }


def load_pages(limit: int | None = None, eval_dir: Path = EVAL_DIR) -> list[Page]:
    """Pages in manifest order (first ``limit`` if given)."""
    pages = []
    with open(eval_dir / "manifest.jsonl", encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            html = gzip.decompress((eval_dir / entry["file"]).read_bytes())
            pages.append(Page(entry["file"], html, entry["expected_with"], entry["expected_without"],
                              entry["expected_with_inside_li"],
                              _outside_li(html, entry["expected_with_inside_li"])))
            if limit and len(pages) >= limit:
                break
    return pages


def _outside_li(html: bytes, strings: list[str]) -> set[str]:
    """The li strings that also occur in the page's text with every <li> removed."""
    if not strings:
        return set()
    from lxml import html as lxml_html

    tree = lxml_html.fromstring(html)
    for item in list(tree.iter("li")):
        if item.getparent() is not None:
            item.drop_tree()
    rest = norm(tree.text_content())
    return {s for s in strings if norm(s) in rest}


def bullet_lines(text: str) -> list[str]:
    return [norm(line) for line in text.splitlines() if _BULLET_LINE.match(line)]


def score_text(score: Score, page: Page, text: str, keep_misses: bool) -> None:
    flat = norm(text)
    bullets = bullet_lines(text)
    score.pages += 1
    for s in page.with_:
        score.expected += 1
        ok = norm(s) in flat
        score.found += ok
        if not ok and keep_misses:
            score.misses.append({"file": page.file, "kind": "with", "string": s})
    for s in page.without:
        score.unwanted += 1
        ok = norm(s) not in flat
        score.absent += ok
        if not ok and keep_misses:
            score.misses.append({"file": page.file, "kind": "without", "string": s})
    for s in page.with_li:
        score.li_expected += 1
        needle = norm(s)
        ok = any(needle in line for line in bullets)
        score.bullets += ok
        if s not in page.li_also_outside:
            score.li_unambiguous += 1
            score.bullets_unambiguous += ok
        if not ok and keep_misses:
            score.misses.append({"file": page.file, "kind": "li", "string": s,
                                 "in_text": needle in flat,
                                 "also_outside_li": s in page.li_also_outside})


def evaluate(name: str, extract: Callable[[bytes], str | None], pages: list[Page],
             repeats: int = 3, keep_misses: bool = False) -> Score:
    """Score one extractor: quality from the first pass, speed = best of ``repeats`` passes."""
    return evaluate_many({name: extract}, pages, repeats, keep_misses)[0]


def evaluate_many(extractors: dict[str, Callable[[bytes], str | None]], pages: list[Page],
                  repeats: int = 3, keep_misses: bool = False) -> list[Score]:
    """Like evaluate, with the timed passes interleaved (A B A B ...) so that load from other
    jobs on a shared machine hits every extractor alike."""
    scores = {name: Score(name) for name in extractors}
    for rep in range(max(repeats, 1)):
        for name, extract in extractors.items():
            texts = []
            start, wall = time.process_time(), time.perf_counter()
            for page in pages:
                texts.append(extract(page.html) or "")
            scores[name].seconds.append(time.process_time() - start)
            scores[name].wall_seconds.append(time.perf_counter() - wall)
            if rep == 0:
                for page, text in zip(pages, texts):
                    score_text(scores[name], page, text, keep_misses)
    return list(scores.values())


def defaults_extractor() -> Callable[[bytes], str | None]:
    import trafilatura

    return lambda html: trafilatura.extract(html)


def ours_extractor(overrides: dict[str, Any] | None = None) -> Callable[[bytes], str | None]:
    """The stage's extraction with its time limit as the pipeline runs it on the main thread
    (timeout_mode auto -> SIGALRM timer); rejects count as empty text."""
    from stages.extract import Config, TimedExtractor

    extractor = TimedExtractor(Config(**(overrides or {})))

    def run(html: bytes) -> str | None:
        result = extractor(html, None)
        return result if isinstance(result, str) else None

    return run


def watchdog_extractor(overrides: dict[str, Any] | None = None) -> Callable[[bytes], str | None]:
    """The stage's extraction through its watchdog child (what a worker runs by default)."""
    from stages.extract import Config, Watchdog

    watchdog = Watchdog(Config(**(overrides or {})))  # timeout_mode="process" behaviour

    def run(html: bytes) -> str | None:
        result = watchdog(html, None)
        return result if isinstance(result, str) else None

    return run


def _parse_sets(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, _, raw = item.partition("=")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def format_table(rows: list[dict[str, Any]]) -> str:
    cols = ["extractor", "pages", "recall", "boilerplate_absent", "bullet_retention",
            "bullet_retention_li_only", "docs_per_s", "docs_per_wall_s", "with_found", "without_absent", "li_on_bullet_line",
            "li_only_on_bullet_line"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=EVAL_DIR)
    parser.add_argument("--limit", type=int, default=None, help="first N pages of the manifest")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the best is reported")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a stage Config field for 'ours' (JSON value or string)")
    parser.add_argument("--only", choices=["defaults", "ours"], default=None)
    parser.add_argument("--traf", action="append", default=[], metavar="KEY=VALUE",
                        help="add a row: plain trafilatura.extract(html, KEY=VALUE, ...) (option study)")
    parser.add_argument("--watchdog", action="store_true",
                        help="also time ours through the watchdog child (compare docs_per_wall_s: "
                             "the child's CPU is not in this process's CPU time)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--misses", action="store_true", help="also list every missed string")
    args = parser.parse_args(argv)

    pages = load_pages(args.limit, args.data)
    extractors: dict[str, Callable[[bytes], str | None]] = {}
    if args.only in (None, "defaults"):
        extractors["trafilatura defaults"] = defaults_extractor()
    if args.only in (None, "ours"):
        overrides = _parse_sets(args.set)
        extractors["ours (stage defaults)" + (f" {overrides}" if overrides else "")] = ours_extractor(overrides)
        if args.watchdog:
            extractors["ours + watchdog"] = watchdog_extractor(overrides)
    if args.traf:
        import trafilatura

        options = _parse_sets(args.traf)
        extractors[f"trafilatura {options}"] = lambda html: trafilatura.extract(html, **options)
    scores = evaluate_many(extractors, pages, args.repeats, args.misses)
    rows = [s.row() for s in scores]
    if args.json:
        out: dict[str, Any] = {"rows": rows}
        if args.misses:
            out["misses"] = {s.name: s.misses for s in scores}
        print(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        print(format_table(rows))
        if args.misses:
            for s in scores:
                print(f"\n# misses: {s.name}")
                for miss in s.misses:
                    print(json.dumps(miss, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
