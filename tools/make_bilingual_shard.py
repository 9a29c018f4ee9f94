"""Build a bilingual (Chinese + English) text shard from ../shared/data/corpora for issue-9 runs.

    python tools/make_bilingual_shard.py --out /tmp/bilingual [--news 1000 --reviews 3000 --english 697]

Writes ``OUT/shard.jsonl.gz`` (records ``{id, url, text, source}``), ``OUT/heldback_zh.txt``
(Chinese news articles *not* in the shard, one per line, for tokenizer comparisons) and
``OUT/truth.json`` (which review ids are exact copies of which, across and within files).

- Chinese news: THUCNews ``cnews.val.txt`` (10 categories); every article whose
  ``xxh64(text) % 10 == 0`` is held back.
- Chinese reviews: hotel reviews (ChnSentiCorp) and online-shopping reviews, whose "酒店"
  category overlaps ChnSentiCorp, plus food-delivery reviews (waimai, 7 exact duplicates):
  every review whose normalised text occurs more than once is included, then a deterministic
  sample of the rest up to ``--reviews``.
- English: the Common Crawl documents of ``en_commoncrawl`` (unfiltered web text).
Deterministic: the same arguments give the same bytes.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import zipfile
from collections import defaultdict
from pathlib import Path

import xxhash

PROJECT = Path(__file__).resolve().parent.parent
CORPORA = PROJECT.parent / "shared" / "data" / "corpora"
CC_FILE = "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"


def _h(text: str) -> int:
    return xxhash.xxh64_intdigest(text.encode("utf-8"))


def news(corpora: Path) -> tuple[list[dict], list[str]]:
    kept, held = [], []
    for number, line in enumerate((corpora / "zh_thucnews" / "cnews.val.txt").read_text("utf-8").splitlines()):
        label, _, text = line.partition("\t")
        if not text.strip():
            continue
        if _h(text) % 10 == 0:
            held.append(text)
        else:
            kept.append({"id": f"zh-news-{number:04d}", "url": f"https://news.example.cn/{label}/{number}",
                         "text": text, "source": "zh_thucnews"})
    return kept, held


def reviews(corpora: Path) -> list[tuple[str, str]]:
    """(source, review) in file order."""
    out: list[tuple[str, str]] = []
    for name in ("ChnSentiCorp_htl_all.csv", "waimai_10k.csv"):
        with open(corpora / "zh_reviews" / name, encoding="utf-8", newline="") as handle:
            out += [(name.split(".")[0], row[-1]) for row in list(csv.reader(handle))[1:] if row]
    with zipfile.ZipFile(corpora / "zh_reviews" / "online_shopping_10_cats.zip") as archive:
        data = archive.read("online_shopping_10_cats.csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data)))[1:]
    out += [("online_shopping_10_cats", row[-1].lstrip("\ufeff")) for row in rows if len(row) >= 3]
    return [(source, text) for source, text in out if text.strip()]


def pick_reviews(all_reviews: list[tuple[str, str]], limit: int) -> tuple[list[dict], dict]:
    groups: dict[str, list[int]] = defaultdict(list)
    for number, (_, text) in enumerate(all_reviews):
        groups[text.strip()].append(number)
    duplicated = [n for members in groups.values() if len(members) > 1 for n in members]
    chosen = set(duplicated[: max(0, limit // 3)])
    rest = sorted((n for n in range(len(all_reviews)) if n not in chosen),
                  key=lambda n: _h(f"{n}:{all_reviews[n][1]}"))
    chosen.update(rest[: max(0, limit - len(chosen))])
    records = []
    for number in sorted(chosen):
        source, text = all_reviews[number]
        records.append({"id": f"zh-review-{number:05d}", "url": f"https://reviews.example.cn/{number}",
                        "text": text, "source": source})
    ids = {n: f"zh-review-{n:05d}" for n in chosen}
    truth = {"duplicate_groups": [sorted(ids[n] for n in members if n in chosen)
                                  for members in groups.values()
                                  if sum(n in chosen for n in members) > 1]}
    return records, truth


def english(corpora: Path, limit: int) -> list[dict]:
    out = []
    with gzip.open(corpora / "en_commoncrawl" / CC_FILE, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number >= limit:
                break
            record = json.loads(line)
            out.append({"id": f"en-cc-{number:04d}", "url": record.get("metadata", {}).get("url", ""),
                        "text": record["text"], "source": "en_commoncrawl"})
    return out


def build(out: Path, n_news: int, n_reviews: int, n_english: int, corpora: Path = CORPORA) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    zh_news, held = news(corpora)
    zh_reviews, truth = pick_reviews(reviews(corpora), n_reviews)
    records = zh_news[:n_news] + zh_reviews + english(corpora, n_english)
    payload = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    with open(out / "shard.jsonl.gz", "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
            handle.write(payload.encode("utf-8"))
    (out / "heldback_zh.txt").write_text("\n".join(held) + "\n", encoding="utf-8")
    counts = {"news": len(zh_news[:n_news]), "reviews": len(zh_reviews),
              "english": len(records) - len(zh_news[:n_news]) - len(zh_reviews),
              "heldback_news": len(held), "duplicate_groups": len(truth["duplicate_groups"])}
    (out / "truth.json").write_text(json.dumps({**truth, "counts": counts}, indent=1, ensure_ascii=False))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--news", type=int, default=1000)
    parser.add_argument("--reviews", type=int, default=3000)
    parser.add_argument("--english", type=int, default=697)
    args = parser.parse_args()
    print(json.dumps(build(args.out, args.news, args.reviews, args.english)))


if __name__ == "__main__":
    main()
