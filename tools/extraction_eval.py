"""Extraction quality and speed on real annotated pages: trafilatura's defaults vs the extract stage.

    python tools/extraction_eval.py [--limit N] [--repeats 3] [--json] [--misses]
    python tools/extraction_eval.py --set bullet='• ' --set favor_recall=true
    python tools/extraction_eval.py --only defaults --traf favor_recall=true --traf include_comments=false
    python tools/extraction_eval.py --only ours --set engine=resiliparse --resiliparse
    python tools/extraction_eval.py --changes include_comments=true     # what one setting changes

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
main thread: a SIGALRM timer); --watchdog adds the same through the watchdog child;
--resiliparse adds resiliparse's own ``extract_plain_text(html, main_content=True,
list_bullets=True)`` on the decoded page (its own bullets, for comparison with
``--set engine=resiliparse``).

--charsets measures the stage's decoding on real sentences of ../shared/data/langid_sentences
written in the legacy encoding of their language (Windows code pages, Shift_JIS, GB18030,
EUC-KR): (1) for pages of 1/5/20 sentences, how strong the UTF-8 evidence gets on legacy bytes
(valid multi-byte sequences per invalid byte; decode_html keeps UTF-8 at >= 2), (2) how often
decode_html restores such a page when nothing declares its charset (detection), and (3) when
its true charset is declared.

--changes KEY=VALUE[,KEY=VALUE] prints, instead of scores, what the override changes in the
stage's output against the stage defaults: pages whose text changes, lines and characters
added and removed (e.g. the comment-thread trade-off in docs/extract.md).
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


def load_shard(shard: Path, limit: int | None = None) -> list[Page]:
    """Pages of a bench shard (``../shared/bench/make_shard.py``: JSONL parts with "html"),
    without annotations: they time extraction on many more pages (scores stay 0/0)."""
    pages: list[Page] = []
    for part in sorted(shard.glob("part-*.jsonl*")):
        opener = gzip.open if part.suffix == ".gz" else open
        with opener(part, "rt", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                pages.append(Page(record.get("id", f"{part.name}#{len(pages)}"),
                                  record["html"].encode("utf-8"), [], [], []))
                if limit and len(pages) >= limit:
                    return pages
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
    """The stage's extraction through its watchdog child (what a worker off the main thread runs)."""
    return ours_extractor({**(overrides or {}), "timeout_mode": "process"})


def resiliparse_extractor() -> Callable[[bytes], str | None]:
    """resiliparse's main-content text with its own list bullets, on the stage's decoding."""
    from resiliparse.extract.html2text import extract_plain_text

    from stages.extract import decode_html

    return lambda html: extract_plain_text(decode_html(html, None), main_content=True, list_bullets=True)


def changes(pages: list[Page], overrides: dict[str, Any]) -> dict[str, Any]:
    """What ``overrides`` change in the stage's output against its defaults, over ``pages``."""
    import difflib

    base, other = ours_extractor(), ours_extractor(overrides)
    out = {"override": overrides, "pages": len(pages), "pages_changed": 0, "lines_added": 0,
           "lines_removed": 0, "chars_added": 0, "chars_removed": 0, "chars_default": 0, "per_page": []}
    for page in pages:
        a, b = base(page.html) or "", other(page.html) or ""
        out["chars_default"] += len(a)
        if a == b:
            continue
        added = removed = chars_added = chars_removed = 0
        for line in difflib.ndiff(a.splitlines(), b.splitlines()):
            if line.startswith("+ "):
                added, chars_added = added + 1, chars_added + len(line) - 2
            elif line.startswith("- "):
                removed, chars_removed = removed + 1, chars_removed + len(line) - 2
        out["pages_changed"] += 1
        out["lines_added"] += added
        out["lines_removed"] += removed
        out["chars_added"] += chars_added
        out["chars_removed"] += chars_removed
        out["per_page"].append({"file": page.file, "lines_added": added, "lines_removed": removed,
                                "chars_added": chars_added, "chars_removed": chars_removed})
    return out


LEGACY = {"de": "cp1252", "fr": "cp1252", "es": "cp1252", "pt": "cp1252", "it": "cp1252", "nl": "cp1252",
          "da": "cp1252", "sv": "cp1252", "is": "cp1252", "fi": "cp1252", "pl": "cp1250", "cs": "cp1250",
          "hu": "cp1250", "sk": "cp1250", "sl": "cp1250", "hr": "cp1250", "ro": "cp1250", "ru": "cp1251",
          "uk": "cp1251", "bg": "cp1251", "el": "cp1253", "tr": "cp1254", "he": "cp1255", "ar": "cp1256",
          "fa": "cp1256", "lt": "cp1257", "lv": "cp1257", "et": "cp1257", "vi": "cp1258", "th": "cp874",
          "ja": "shift_jis", "zh": "gb18030", "ko": "euc-kr"}


def charset_study(sentences_dir: Path, per_language: int = 200) -> dict[str, Any]:
    """See --charsets in the module docstring."""
    from stages.extract import decode_html

    out: dict[str, Any] = {"pages": {}, "max_valid_per_invalid": {}, "undeclared_restored": {},
                           "declared_restored": {}, "worst_undeclared": {}}
    for size in (1, 5, 20):
        pages = restored = declared = 0
        worst_ratio, worst_lang = 0.0, ""
        per_lang: dict[str, list[int]] = {}
        for lang, encoding in LEGACY.items():
            path = sentences_dir / f"{lang}.txt"
            if not path.exists():
                continue
            lines = path.read_text(encoding="utf-8").splitlines()[:per_language]
            for start in range(0, len(lines), size):
                chunk = " ".join(lines[start:start + size])
                try:
                    raw = chunk.encode(encoding)
                except UnicodeEncodeError:
                    continue
                if raw.isascii():
                    continue
                text = raw.decode("utf-8", "replace")  # invalid runs (>= invalid bytes / 3)
                invalid = text.count("\ufffd")
                valid = len(text) - len(text.encode("ascii", "ignore")) - invalid
                ratio = valid / invalid if invalid else float("inf")
                if ratio > worst_ratio:
                    worst_ratio, worst_lang = ratio, f"{lang} {encoding}"
                html = b"<html><head><title>t</title></head><body><p>" + raw + b"</p></body></html>"
                pages += 1
                ok = chunk in decode_html(html, None)
                restored += ok
                declared += chunk in decode_html(html, encoding)
                per_lang.setdefault(lang, [0, 0])
                per_lang[lang][0] += ok
                per_lang[lang][1] += 1
        key = f"{size} sentences"
        out["pages"][key] = pages
        out["max_valid_per_invalid"][key] = f"{worst_ratio:.2f} ({worst_lang})"
        out["undeclared_restored"][key] = f"{restored}/{pages} = {restored / pages:.3f}"
        out["declared_restored"][key] = f"{declared}/{pages} = {declared / pages:.3f}"
        out["worst_undeclared"][key] = [f"{lang} {ok}/{n}" for lang, (ok, n) in
                                        sorted(per_lang.items(), key=lambda kv: kv[1][0] / kv[1][1])[:6]]
    return out


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
    parser.add_argument("--shard", type=Path, default=None,
                        help="time on a bench shard's pages instead (no annotations: speed only)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the best is reported")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a stage Config field for 'ours' (JSON value or string)")
    parser.add_argument("--only", choices=["defaults", "ours"], default=None)
    parser.add_argument("--traf", action="append", default=[], metavar="KEY=VALUE",
                        help="add a row: plain trafilatura.extract(html, KEY=VALUE, ...) (option study)")
    parser.add_argument("--watchdog", action="store_true",
                        help="also time ours through the watchdog child (compare docs_per_wall_s: "
                             "the child's CPU is not in this process's CPU time)")
    parser.add_argument("--resiliparse", action="store_true",
                        help="add a row: resiliparse's own extract_plain_text (main_content, its bullets)")
    parser.add_argument("--changes", default=None, metavar="KEY=VALUE[,KEY=VALUE]",
                        help="print what these stage overrides change against the stage defaults")
    parser.add_argument("--never-main-text", default=None, metavar="TAG,TAG",
                        help="replace stages.extract.NEVER_MAIN_TEXT (the elements cut before "
                             "trafilatura) for this run, e.g. to measure a cut; '+TAG,...' adds to it")
    parser.add_argument("--charsets", action="store_true",
                        help="decoding study on legacy-encoded sentences (see the docstring)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--misses", action="store_true", help="also list every missed string")
    args = parser.parse_args(argv)

    if args.never_main_text is not None:
        from stages import extract

        tags = tuple(filter(None, args.never_main_text.lstrip("+").split(",")))
        extract.NEVER_MAIN_TEXT = (extract.NEVER_MAIN_TEXT + tags) if args.never_main_text.startswith("+") else tags
    if args.charsets:
        print(json.dumps(charset_study(SHARED / "langid_sentences"), ensure_ascii=False, indent=1))
        return 0
    pages = load_shard(args.shard, args.limit) if args.shard else load_pages(args.limit, args.data)
    if args.changes:
        result = changes(pages, _parse_sets(args.changes.split(",")))
        if not args.json:
            result.pop("per_page")
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    extractors: dict[str, Callable[[bytes], str | None]] = {}
    if args.only in (None, "defaults"):
        extractors["trafilatura defaults"] = defaults_extractor()
    if args.only in (None, "ours"):
        overrides = _parse_sets(args.set)
        extractors["ours (stage defaults)" + (f" {overrides}" if overrides else "")] = ours_extractor(overrides)
        if args.watchdog:
            extractors["ours + watchdog"] = watchdog_extractor(overrides)
    if args.resiliparse:
        extractors["resiliparse extract_plain_text"] = resiliparse_extractor()
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
