"""Measure the safety stage on real data (numbers quoted in docs/safety.md).

    python tools/safety_bench.py list [--cache-dir DIR]   # load the 4.5 M-domain UT1 list: time, RSS, lookups/s
    python tools/safety_bench.py rates ['[{...TextWordsConfig overrides...}]']   # word-rule rejects per corpus
    python tools/safety_bench.py pages --scorer raw|extracted [--json OUT]   # dev eval pages rejected, and why
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
UT1 = SHARED / "blocklists" / "datatrove_fineweb" / "url_filterblacklistsv0_3_0.tar.gz"


def bench_list(cache_dir: str | None) -> None:
    """Cold build (empty cache dir) or cached load of the full list, then 50k synthetic URLs."""
    import psutil

    from stages import blocklists as bl

    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    started = time.perf_counter()
    dl = bl.load_domain_list(bl.ListSpec(str(UT1), "ut1", "all"), 0x5AFE, cache_dir=cache_dir)
    load = time.perf_counter() - started
    rss1 = proc.memory_info().rss
    print(f"load {load:.2f}s  domains={len(dl.domains)} urls={len(dl.urls)}  "
          f"RSS +{(rss1 - rss0) / 2**20:.0f} MiB  array {dl.domains.hashes.nbytes / 2**20:.1f} MiB  "
          f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    urls = [f"https://www.site{i}.example{i % 7}.com/path/{i}/page.html" for i in range(50000)]
    started = time.perf_counter()
    hits = 0
    for url in urls:
        host, path = bl.split_normalized(url)
        hits += dl.match_domain(bl.host_candidates(host)) is not None
        hits += dl.match_url(bl.path_candidates(host, path)) is not None
    print(f"{len(urls) / (time.perf_counter() - started):.0f} URLs/s (domain + URL lookup, {hits} hits)")


def corpora() -> dict[str, list[str]]:
    base = SHARED / "corpora"
    with open(base / "zh_reviews" / "waimai_10k.csv", encoding="utf-8") as f:
        waimai = [row[1] for row in list(csv.reader(f))[1:]]
    with open(base / "zh_reviews" / "ChnSentiCorp_htl_all.csv", encoding="utf-8") as f:
        hotel = [row[1] for row in list(csv.reader(f))[1:] if len(row) > 1]
    cc = base / "en_commoncrawl" / "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"
    return {
        "zh_news": [line.split("\t", 1)[1] for line in
                    open(base / "zh_thucnews" / "cnews.val.txt", encoding="utf-8")],
        "zh_waimai": waimai,
        "zh_hotel": hotel,
        "en_cc": [json.loads(line)["text"] for line in gzip.open(cc, "rt")],
    }


def rates(variants: list[dict]) -> None:
    from stages.record import Doc
    from stages.safety import Config, SafetyRules, TextWordsConfig

    sets = corpora()
    for variant in variants:
        rules = SafetyRules(Config(cache=False, text_words=TextWordsConfig(**variant)))
        for name, texts in sets.items():
            started = time.perf_counter()
            kinds: collections.Counter = collections.Counter()
            examples = []
            for number, text in enumerate(texts):
                drop = rules.check_text(Doc(id=str(number), text=text))
                if drop:
                    kinds[drop.detail.split(";")[0][:4]] += 1
                    examples.append(drop.detail)
            rate = len(texts) / (time.perf_counter() - started)
            print(variant, name, len(texts), "rejected", sum(kinds.values()), dict(kinds),
                  f"{rate:.0f} docs/s", examples[:4])


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

    from lxml import html as lxml_html

    from stages.extract import decode_html

    tree = lxml_html.fromstring(decode_html(html, None))
    pattern = re.compile(r"(?<!\w)" + re.escape(term) + r"(?!\w)", re.IGNORECASE)
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


def pages(scorer: str, out: str | None) -> None:
    """Score every dev eval page; print the rejected ones with the terms and where they sit."""
    from stages import extract, safety
    from stages.record import Doc, Drop

    rules = safety.SafetyRules(safety.Config(cache=False))
    core = extract.make_core(extract.Config())
    results = []
    started = time.process_time()
    for url, file, html in eval_pages():
        doc = Doc(id=file, url=url, html=html)
        if scorer == "raw":
            drop = rules.check_text(doc)
        else:
            extracted = core(doc)
            if isinstance(extracted, Drop):
                results.append({"file": file, "url": url, "extract": extracted.reason})
                continue
            drop = rules.check_text(extracted)
        row = {"file": file, "url": url, "rejected": drop is not None}
        if drop is not None:
            terms = [t.split(":")[2].rsplit("x", 1)[0] for t in drop.detail.split("; ")[2].split(", ")]
            row.update(detail=drop.detail, where={t: where_on_page(html, t)[:6] for t in terms})
        results.append(row)
    rejected = [r for r in results if r.get("rejected")]
    print(f"scorer={scorer}: {len(results)} pages, {len(rejected)} rejected as unsafe_words, "
          f"{sum(1 for r in results if 'extract' in r)} not extracted; "
          f"{time.process_time() - started:.1f} CPU s")
    for row in rejected:
        print(f"- {row['file']} ({row['url']}): {row['detail']}")
        for term, spots in row["where"].items():
            print(f"    {term!r}: {spots}")
    if out:
        Path(out).write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list")
    listing.add_argument("--cache-dir", default=None)
    rate = sub.add_parser("rates")
    rate.add_argument("variants", nargs="?", default="[{}]")
    page = sub.add_parser("pages")
    page.add_argument("--scorer", choices=["raw", "extracted"], required=True)
    page.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.command == "list":
        bench_list(args.cache_dir)
    elif args.command == "pages":
        pages(args.scorer, args.json)
    else:
        rates(json.loads(args.variants))


if __name__ == "__main__":
    main()
