"""Build a deterministic text bench shard: JSONL ``{"id", "url", "text"}`` of ~8 KB documents.

The text is real: the main text the project's extract stage (default settings) takes from the
*original* pages of a ``../shared/bench/make_shard.py`` HTML shard (the pinned pool: the HTML
extraction eval pages plus the Debian python3.11-doc and postgresql-doc-15 manuals; 1,879
pages). Those texts are split into lines ("paragraphs", bullet lines included), grouped by the
page's language, and cached as the *paragraph pool* (``text-pool-<sha>.jsonl``).

Documents (all fractions of N; every document is a function of (seed, position) alone, so any N
is built in constant memory and a shard of N is a prefix-free, byte-identical rebuild):

- ``base`` (75 %): a pool page picks the language; then passages (a random page of that
  language - any page when the language has fewer than 500 lines - from a random line, 1-3 KB
  of consecutive lines) are appended until the text reaches a length drawn evenly from
  6,000-10,000 bytes (mean ~8 KB). Like make_shard.py's "mixed" pages: real text in new
  combinations; two documents share a passage too rarely to be near-duplicates unplanned.
- ``exact_dup`` (10 %): the text of a random base document, new id, url + ``?utm_source=``.
- ``near_dup`` (15 %): a base document's paragraphs with word edits (substitute / delete /
  insert, 1/3 each, words drawn from the language's vocabulary) at a rate taken in turn from
  1 %, 5 %, 15 %, 30 % of the words.

``truth.jsonl`` holds kind, dup_of and edit_rate per document (the layout make_shard.py uses,
so the datatrove peer's dedup evaluation reads it); ``meta.json`` the counts, sizes, the pool's
hash and the shard's content hash.

    tools/make_text_shard.py --html-shard bench_runs/shards/n2000 --n 10000 --out bench_runs/shards/text-n10000
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

POOL_VERSION = 1
EXACT, NEAR = 0.10, 0.15
NEAR_RATES = (0.01, 0.05, 0.15, 0.30)
MIN_BYTES, MAX_BYTES = 6000, 10000
MIN_LANGUAGE_PARAGRAPHS = 500
PASSAGE_MIN, PASSAGE_MAX = 1000, 3000
VOCAB_PARAGRAPHS = 3000


def build_pool(html_shard: Path, cache: Path) -> tuple[Path, str]:
    """The paragraph pool (one JSON line per original page: url, lang, paragraphs), cached by
    the HTML shard's content; returns (path, sha256 of the pool file)."""
    truth = {}
    for line in (html_shard / "truth.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        truth[row["id"]] = row
    parts = sorted(html_shard.glob("part-*.jsonl"))
    digest = hashlib.sha256(f"pool-v{POOL_VERSION}".encode())
    for part in parts:
        digest.update(part.read_bytes())
    path = cache / f"text-pool-{digest.hexdigest()[:16]}.jsonl"
    if not path.exists():
        from stages import extract

        config = extract.Config()
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pages = 0
        with tmp.open("w", encoding="utf-8") as out:
            for part in parts:
                for line in part.open(encoding="utf-8"):
                    record = json.loads(line)
                    meta = truth[record["id"]]
                    if meta["kind"] != "original":
                        continue
                    text = extract.extract_or_drop(record["html"].encode("utf-8"), "utf-8", config)
                    if not isinstance(text, str):
                        continue
                    paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
                    if paragraphs:
                        out.write(json.dumps({"url": record["url"], "lang": meta["lang"],
                                              "paragraphs": paragraphs}, ensure_ascii=False) + "\n")
                        pages += 1
        tmp.rename(path)
        print(f"[pool] {pages} pages extracted -> {path}", file=sys.stderr)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


class Pool:
    def __init__(self, path: Path) -> None:
        self.pages = [json.loads(line) for line in path.open(encoding="utf-8")]
        self.paragraphs: list[str] = []
        self.spans: list[tuple[int, int]] = []   # page -> (first paragraph id, end)
        lines: dict[str, int] = {}
        pages_of: dict[str, list[int]] = {}
        for number, page in enumerate(self.pages):
            start = len(self.paragraphs)
            self.paragraphs.extend(page["paragraphs"])
            self.spans.append((start, len(self.paragraphs)))
            lines[page["lang"]] = lines.get(page["lang"], 0) + len(page["paragraphs"])
            pages_of.setdefault(page["lang"], []).append(number)
        everything = list(range(len(self.pages)))
        self.groups = {lang: (pages if lines[lang] >= MIN_LANGUAGE_PARAGRAPHS else everything)
                       for lang, pages in pages_of.items()}
        rng = random.Random("vocab")
        self.vocab = {}
        for lang, pages in sorted(self.groups.items()):
            ids = [i for p in pages for i in range(*self.spans[p])]
            sample = sorted(rng.sample(ids, min(VOCAB_PARAGRAPHS, len(ids))))
            self.vocab[lang] = [w for i in sample for w in self.paragraphs[i].split()] or ["lorem"]


def kind_of(seed: int, position: int) -> str:
    u = random.Random(f"{seed}/kind/{position}").random()
    return "exact_dup" if u < EXACT else "near_dup" if u < EXACT + NEAR else "base"


def base_doc(pool: Pool, seed: int, position: int) -> tuple[str, str, list[int]]:
    """(url, lang, paragraph ids) of the base document at ``position``."""
    rng = random.Random(f"{seed}/base/{position}")
    page = pool.pages[rng.randrange(len(pool.pages))]
    group = pool.groups[page["lang"]]
    target = rng.randint(MIN_BYTES, MAX_BYTES)
    chosen, size = [], 0
    while size < target:
        first, end = pool.spans[group[rng.randrange(len(group))]]
        index = rng.randrange(first, end)
        passage = rng.randint(PASSAGE_MIN, PASSAGE_MAX)
        taken = 0
        while index < end and taken < passage and size < target:
            chosen.append(index)
            length = len(pool.paragraphs[index].encode("utf-8")) + 1
            taken += length
            size += length
            index += 1
    sep = "&" if "?" in page["url"] else "?"
    return f"{page['url']}{sep}text={position}", page["lang"], chosen


def source_of(seed: int, position: int, n: int) -> int:
    """The base document a duplicate at ``position`` copies (any base position but itself)."""
    rng = random.Random(f"{seed}/dup/{position}")
    while True:
        candidate = rng.randrange(n)
        if candidate != position and kind_of(seed, candidate) == "base":
            return candidate


def edited(pool: Pool, lang: str, ids: list[int], rate: float, rng: random.Random) -> str:
    vocab = pool.vocab[lang]
    out, edits = [], 0
    for index in ids:
        new = []
        for word in pool.paragraphs[index].split():
            if rng.random() < rate:
                edits += 1
                op = rng.randrange(3)
                if op == 0:
                    new.append(vocab[rng.randrange(len(vocab))])
                elif op == 2:
                    new.extend((word, vocab[rng.randrange(len(vocab))]))
            else:
                new.append(word)
        out.append(" ".join(new))
    if not edits:  # at least one edit: drop the first word
        out[0] = " ".join(pool.paragraphs[ids[0]].split()[1:])
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--html-shard", type=Path, required=True,
                        help="a make_shard.py shard whose original pages give the text")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=PROJECT / "bench_runs" / "shards")
    args = parser.parse_args()
    pool_path, pool_sha = build_pool(args.html_shard, args.cache)
    pool = Pool(pool_path)
    n, seed = args.n, args.seed
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("part-*.jsonl*"):
        old.unlink()
    per_file = -(-n // args.files)
    handles = [open(args.out / f"part-{i:05d}.jsonl", "w", encoding="utf-8")
               for i in range(args.files)]
    counts: dict[str, int] = {}
    text_bytes = 0
    near_count = 0
    with open(args.out / "truth.jsonl", "w", encoding="utf-8") as truth:
        for position in range(n):
            kind = kind_of(seed, position)
            entry: dict = {"id": f"t{seed}-{position:08d}", "kind": kind, "dup_of": None,
                           "edit_rate": None, "file": position // per_file}
            if kind == "base":
                url, lang, ids = base_doc(pool, seed, position)
                text = "\n".join(pool.paragraphs[i] for i in ids)
            else:
                source = source_of(seed, position, n)
                base_url, lang, ids = base_doc(pool, seed, source)
                entry["dup_of"] = f"t{seed}-{source:08d}"
                if kind == "exact_dup":
                    text, entry["edit_rate"] = "\n".join(pool.paragraphs[i] for i in ids), 0.0
                    tag = "utm_source"
                else:
                    rate = NEAR_RATES[near_count % len(NEAR_RATES)]
                    near_count += 1
                    entry["edit_rate"] = rate
                    text = edited(pool, lang, ids, rate, random.Random(f"{seed}/edit/{position}"))
                    tag = "utm_campaign"
                url = f"{base_url}&{tag}=bench{position}"
            entry["lang"] = lang
            record = {"id": entry["id"], "url": url, "text": text}
            handles[position // per_file].write(json.dumps(record, ensure_ascii=False) + "\n")
            truth.write(json.dumps(entry) + "\n")
            label = kind + (f"@{entry['edit_rate']}" if kind == "near_dup" else "")
            counts[label] = counts.get(label, 0) + 1
            text_bytes += len(text.encode("utf-8"))
    for handle in handles:
        handle.close()
    meta = {"n": n, "seed": seed, "files": args.files, "counts": counts,
            "text_mb": round(text_bytes / 1e6, 2),
            "mean_text_bytes": round(text_bytes / max(n, 1)),
            "pool": {"path": pool_path.name, "sha256": pool_sha, "pages": len(pool.pages),
                     "paragraphs": len(pool.paragraphs),
                     "languages": {lang: len(pages) for lang, pages in sorted(pool.groups.items())}},
            "html_shard": str(args.html_shard)}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1))
    print(json.dumps({k: meta[k] for k in ("n", "counts", "text_mb", "mean_text_bytes")}))


if __name__ == "__main__":
    main()
