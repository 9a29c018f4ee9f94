"""Measure the safety stage on real data (numbers quoted in docs/safety.md).

    python tools/safety_bench.py list [--cache-dir DIR]   # load the 4.5 M-domain UT1 list: time, RSS, lookups/s
    python tools/safety_bench.py rates ['[{...TextWordsConfig overrides...}]']   # word-rule rejects per corpus
"""
from __future__ import annotations

import argparse
import collections
import csv
import gzip
import json
import resource
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
SHARED = PROJECT.parent / "shared" / "data"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list")
    listing.add_argument("--cache-dir", default=None)
    rate = sub.add_parser("rates")
    rate.add_argument("variants", nargs="?", default="[{}]")
    args = parser.parse_args()
    if args.command == "list":
        bench_list(args.cache_dir)
    else:
        rates(json.loads(args.variants))


if __name__ == "__main__":
    main()
