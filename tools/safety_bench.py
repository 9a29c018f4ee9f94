"""Measure the safety and content_safety stages on real data (numbers quoted in docs/safety.md).

    python tools/safety_bench.py list [--cache-dir DIR]   # load the 4.5 M-domain UT1 list: time, RSS, lookups/s
    python tools/safety_bench.py rates ['[{...content_safety overrides...}, ...]']   # word-rule rejects per corpus
    python tools/safety_bench.py pages ['[{...content_safety overrides...}, ...]'] [--json OUT]
                                          # dev eval pages rejected after extract -> language -> content_safety, and why
    python tools/safety_bench.py longurl  # CPU time and peak traced memory of check_url on long URLs

Word-rule variants are JSON lists of content_safety.Config overrides; "ALL_LDNOOBW" as the
value of "languages" loads all 28 LDNOOBW lists from ../shared/data/blocklists/ldnoobw/.
`pages` scored the raw HTML with the old safety stage until commit 8d65b75 (`--scorer raw`
there); the docs quote that run.
"""
from __future__ import annotations

import argparse
import collections
import csv
import gzip
import json
import os
import resource
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
SHARED = Path(os.environ.get("SHARED_DATA", PROJECT.parent / "shared" / "data"))

from stages.record import Doc, Drop  # noqa: E402
UT1 = SHARED / "blocklists" / "datatrove_fineweb" / "url_filterblacklistsv0_3_0.tar.gz"


def bench_list(cache_dir: str | None) -> None:
    """Cold build (empty cache dir) or cached load of the full list, then 50k synthetic URLs."""
    import psutil

    from stages import blocklists as bl
    from stages.urls import blocklist_url, host_suffixes

    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    started, cpu = time.perf_counter(), time.process_time()
    dl = bl.load_domain_list(bl.ListSpec(str(UT1), "ut1", "all"), 0x5AFE, cache_dir=cache_dir)
    load, load_cpu = time.perf_counter() - started, time.process_time() - cpu
    rss1 = proc.memory_info().rss
    print(f"load {load:.2f}s wall, {load_cpu:.2f}s CPU  domains={len(dl.domains)} urls={len(dl.urls)}  "
          f"RSS +{(rss1 - rss0) / 2**20:.0f} MiB  array {dl.domains.hashes.nbytes / 2**20:.1f} MiB  "
          f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    urls = [f"https://www.site{i}.example{i % 7}.com/path/{i}/page.html" for i in range(50000)]
    cpu = time.process_time()
    hits = 0
    for url in urls:
        parsed = blocklist_url(url)
        hits += dl.match_domain(host_suffixes(parsed)) is not None
        hits += dl.match_url(parsed) is not None
    print(f"{len(urls) / (time.process_time() - cpu):.0f} URLs/CPU-s (domain + URL lookup, {hits} hits)")


def corpora() -> dict[str, list[str]]:
    base = SHARED / "corpora"
    with open(base / "zh_reviews" / "waimai_10k.csv", encoding="utf-8") as f:
        waimai = [row[1] for row in list(csv.reader(f))[1:]]
    with open(base / "zh_reviews" / "ChnSentiCorp_htl_all.csv", encoding="utf-8") as f:
        hotel = [row[1] for row in list(csv.reader(f))[1:] if len(row) > 1]
    cc = base / "en_commoncrawl" / "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"
    neko = (base / "literature" / "wagahaiwa_nekodearu.txt").read_text(encoding="utf-8")
    return {
        "zh_news": [line.split("\t", 1)[1] for line in
                    open(base / "zh_thucnews" / "cnews.val.txt", encoding="utf-8")],
        "zh_waimai": waimai,
        "zh_hotel": hotel,
        "en_cc": [json.loads(line)["text"] for line in gzip.open(cc, "rt")],
        # a Japanese novel in 2,000-character documents (kanji meet the zh substring terms)
        "ja_novel": [neko[i:i + 2000] for i in range(0, len(neko), 2000)],
    }


def word_rules(variant: dict):
    """content_safety rules for one variant of overrides (see the module docstring)."""
    from stages import content_safety as cs

    variant = dict(variant)
    if variant.get("languages") == "ALL_LDNOOBW":
        folder = SHARED / "blocklists" / "ldnoobw"
        variant["languages"] = sorted(p.name for p in folder.iterdir()
                                      if p.is_file() and p.name.islower() and "." not in p.name)
        variant["list_path"] = str(folder / "{lang}")
    return cs.WordRules(cs.Config(**variant))


def rates(variants: list[dict]) -> None:
    """Rejects per corpus per variant; each document first gets its language from the
    language core, as in the pipeline. Speed is CPU time of this process (the word rule only)."""
    from stages import language

    sets = corpora()
    identify = language.make_core(language.Config(reject_no_text=False, min_score=0))
    labelled = {name: [(text, identify(Doc(id=str(i), text=text)).lang) for i, text in enumerate(texts)]
                for name, texts in sets.items()}
    for variant in variants:
        rules = word_rules(variant)
        for name, docs in labelled.items():
            started = time.process_time()
            kinds: collections.Counter = collections.Counter()
            examples = []
            for text, lang in docs:
                drop = rules.check(text, lang)
                if drop:
                    kinds[drop.detail.split(";")[0][:4]] += 1
                    examples.append(drop.detail)
            cpu = time.process_time() - started
            print(json.dumps(variant), name, len(docs), "rejected", sum(kinds.values()), dict(kinds),
                  f"{len(docs) / max(cpu, 1e-9):.0f} docs/CPU-s", examples[:4])


def eval_pages() -> list[tuple[str, str, bytes]]:
    """(url, file, html) of every page of the dev extraction eval set."""
    folder = SHARED / "html_extraction_eval"
    rows = [json.loads(line) for line in open(folder / "manifest.jsonl", encoding="utf-8")]
    return [(row["url"], row["file"], gzip.decompress((folder / row["file"]).read_bytes()))
            for row in rows]


def where_on_page(html: bytes, term: str) -> list[str]:
    """Where a term occurs in the parsed page: the element path of each text node (or attribute)
    holding it, e.g. ``body/div.sidebar/ul/li/a`` or ``img@alt``; word-boundary match after
    lower-casing, the way the word rule matches."""
    import re

    from trafilatura.utils import load_html

    from stages.blocklists import is_unspaced
    from stages.extract import decode_html

    tree = load_html(decode_html(html, None))
    if tree is None:
        return []
    body = re.escape(term).replace("\\ ", r"\s+")
    pattern = re.compile(body if is_unspaced(term) else r"(?<!\w)" + body + r"(?!\w)", re.IGNORECASE)
    spots = []

    def label(el) -> str:
        parts = []
        for node in [el, *el.iterancestors()][::-1]:
            if not isinstance(node.tag, str):
                continue
            name = node.tag
            klass = (node.get("class") or "").split()
            ident = node.get("id")
            if ident:
                name += f"#{ident[:20]}"
            elif klass:
                name += f".{klass[0][:20]}"
            parts.append(name)
        return "/".join(parts[-5:])

    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        for attr, value in el.attrib.items():
            if pattern.search(value):
                spots.append(f"{label(el)}@{attr}")
        if el.text and pattern.search(el.text):
            spots.append(label(el))
        if el.tail and pattern.search(el.tail) and el.getparent() is not None:
            spots.append(label(el.getparent()) + " (tail)")
    return spots


def pages(variants: list[dict], out: str | None) -> None:
    """Run extract -> language -> content_safety (pipeline defaults, the variant's overrides)
    on every dev eval page; print the rejected ones with their terms and where they sit."""
    from stages import extract, language

    extract_core = extract.make_core(extract.Config())
    language_core = language.make_core(language.Config())
    prepared = []
    for url, file, html in eval_pages():
        doc = extract_core(Doc(id=file, url=url, html=html))
        if not isinstance(doc, Drop):
            doc = language_core(doc)
        prepared.append((url, file, html, doc))
    results = []
    for variant in variants:
        rules = word_rules(variant)
        rejected = []
        for url, file, html, doc in prepared:
            drop = doc if isinstance(doc, Drop) else rules(doc)
            row = {"variant": variant, "file": file, "url": url,
                   "lang": None if isinstance(doc, Drop) else doc.lang,
                   "outcome": drop.reason if isinstance(drop, Drop) else "kept"}
            if isinstance(drop, Drop) and drop.reason == "unsafe_words":
                terms = [t.split(":")[2].rsplit("x", 1)[0]
                         for t in drop.detail.split("; ")[2].split(", ")]
                row.update(detail=drop.detail,
                           where={t: where_on_page(html, t)[:4] for t in terms})
                rejected.append(row)
            results.append(row)
        outcomes = collections.Counter(r["outcome"] for r in results if r["variant"] == variant)
        print(f"{json.dumps(variant)}: {len(prepared)} pages, {len(rejected)} rejected as "
              f"unsafe_words; outcomes {dict(sorted(outcomes.items()))}")
        for row in rejected:
            print(f"- {row['file']} [{row['lang']}] ({row['url']}): {row['detail']}")
            for term, spots in row["where"].items():
                print(f"    {term!r}: {spots}")
    if out:
        Path(out).write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")


def longurl() -> None:
    """check_url on long URLs (length cap lifted): CPU time and peak traced memory. The old
    check built every path prefix string (quadratic)."""
    import tracemalloc

    from stages import safety

    rules = safety.SafetyRules(safety.Config(cache=False, max_url_chars=10**7))
    for size in (10_000, 20_000, 80_000, 200_000, 2_000_000):
        url = "http://ok.example/" + "a/" * (size // 2)
        tracemalloc.start()
        started = time.process_time()
        rules.check_url(url)
        cpu = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{len(url):>9,} chars ({size // 2:,} segments): {cpu * 1000:8.1f} ms CPU, "
              f"peak traced memory {peak / 2**20:7.2f} MiB ({peak / len(url):.1f} bytes/char)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list")
    listing.add_argument("--cache-dir", default=None)
    rate = sub.add_parser("rates")
    rate.add_argument("variants", nargs="?", default="[{}]")
    page = sub.add_parser("pages")
    page.add_argument("variants", nargs="?", default="[{}]")
    page.add_argument("--json", default=None)
    sub.add_parser("longurl")
    args = parser.parse_args()
    if args.command == "list":
        bench_list(args.cache_dir)
    elif args.command == "pages":
        pages(json.loads(args.variants), args.json)
    elif args.command == "longurl":
        longurl()
    else:
        rates(json.loads(args.variants))


if __name__ == "__main__":
    main()
