"""Dedup quality and cost: planted duplicates at known edit rates, scored against brute force.

    python tools/dedup_eval.py generate --n 4000 --out /tmp/dedup-eval     # docs.jsonl.gz + truth
    python tools/dedup_eval.py score --data /tmp/dedup-eval [--set threshold=0.8 ...] [--files N] [-- BEAM ARGS]
    python tools/dedup_eval.py bench [--docs 1500]                         # docs per CPU-second
    python tools/dedup_eval.py scale --data /tmp/dedup-eval [--dedup off] [-- BEAM ARGS]  # peak RSS
    python tools/dedup_eval.py shuffle-bytes --data /tmp/dedup-eval [--files N] [--partitions P]
    python tools/dedup_eval.py rounds [--sizes 100,1000,10000,100000]     # clustering rounds

Pool of real texts (built once, cached under ~/.cache/dedup-eval): the main text of the real
pages in ../shared/data/html_extraction_eval (trafilatura, as the extract stage runs it), the
Common Crawl texts of ../shared/data/corpora/en_commoncrawl, and the Chinese news articles of
../shared/data/corpora/zh_thucnews (lang zh: character shingles). A shard is: base documents
(the pool texts, then "mixed" texts made of random paragraphs of one language), exact copies
(new id and URL) and near copies with word edits (character edits for zh) at 1/5/10/15/20/30%,
a third each substitutions, deletions and insertions. ``generate`` also writes plain JSONL text
records the pipeline reads (for the scale runs in docs/dedup.md).

``score`` runs the dedup stage alone through the pipeline's own shell
(``pipeline.run.run_pipeline(config, beam_args, stages=[(dedup.SPEC, config)])`` on document
shards, ``input.format: docs``: the prepare pass, key files, decide and apply pass of a real
run; any runner flags after ``--``), then computes the exact shingle Jaccard of every pair of
documents (sparse matrix product, no sampling) and prints: pair recall on pairs with true
Jaccard >= threshold, precision of every removal against its survivor and of sampled
same-cluster pairs, recall per planted edit rate, and exact-copy checks (all removed, one
survivor per text). ``shuffle-bytes`` measures what the graph writes and moves per document
(key files, the per-partition grouping, the elements of the decide step; see its docstring).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
SHARED = Path(os.environ.get("SHARED_DATA", PROJECT.parent / "shared" / "data"))
CACHE = Path.home() / ".cache" / "dedup-eval"
RATES = (0.01, 0.05, 0.10, 0.15, 0.20, 0.30)


# ---------------------------------------------------------------- pool and shard -----------

def _extract_pages() -> list[dict[str, str]]:
    import trafilatura

    out = []
    folder = SHARED / "html_extraction_eval"
    for line in (folder / "manifest.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        html = gzip.decompress((folder / record["file"]).read_bytes())
        text = trafilatura.extract(html, include_tables=True, output_format="txt")
        if text and len(text.split()) >= 50:
            out.append({"text": text, "lang": (record.get("html_lang") or "en")[:2].lower(),
                        "url": record["url"]})
    return out


def build_pool() -> list[dict[str, str]]:
    """Real texts: extracted pages, Common Crawl texts, Chinese news (cached)."""
    cached = CACHE / "pool-v1.json"
    if cached.exists():
        return json.loads(cached.read_text(encoding="utf-8"))
    pool = _extract_pages()
    for path in sorted((SHARED / "corpora" / "en_commoncrawl").glob("*.jsonl.gz")):
        for line in gzip.open(path, "rt", encoding="utf-8"):
            record = json.loads(line)
            url = (record.get("metadata") or {}).get("url") or record.get("id", "")
            if len(record["text"].split()) >= 50:
                pool.append({"text": record["text"], "lang": "en", "url": str(url)})
    for number, line in enumerate(open(SHARED / "corpora" / "zh_thucnews" / "cnews.val.txt",
                                       encoding="utf-8")):
        _, _, text = line.rstrip("\n").partition("\t")
        if len(text) >= 200:
            pool.append({"text": text, "lang": "zh", "url": f"https://news.example.cn/{number}"})
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(pool, ensure_ascii=False), encoding="utf-8")
    return pool


def _paragraphs(text: str, lang: str) -> list[str]:
    if lang == "zh":
        sentences = [s + "。" for s in text.split("。") if len(s) >= 10]
        return ["".join(sentences[i:i + 3]) for i in range(0, len(sentences), 3)]
    return [line.strip() for line in text.split("\n") if len(line.split()) >= 8]


def _edit(text: str, rate: float, vocab: list[str], char_level: bool, rng: random.Random) -> str:
    """Substitute / delete / insert (a third each) at ``rate`` per word (per character for zh)."""
    if char_level:
        units = list(text)
    else:
        units = text.split(" ")
    out: list[str] = []
    for unit in units:
        if unit.strip() and rng.random() < rate:
            op = rng.randrange(3)
            if op == 0:
                out.append(rng.choice(vocab))
            elif op == 2:
                out.extend((unit, rng.choice(vocab)))
        else:
            out.append(unit)
    return ("" if char_level else " ").join(out)


def generate(n: int, out: Path, seed: int, exact: float, near: float) -> dict[str, Any]:
    """Write ``docs.jsonl.gz`` ({id, url, text, lang, date}) and ``truth.jsonl``."""
    rng = random.Random(seed)
    pool = build_pool()
    groups: dict[str, list[str]] = defaultdict(list)
    for item in pool:
        groups[item["lang"] if item["lang"] in ("en", "de", "zh") else "en"].extend(
            _paragraphs(item["text"], item["lang"]))
    vocab = {lang: ([c for p in paras[:2000] for c in p if not c.isspace()] if lang == "zh"
                    else [w for p in paras[:2000] for w in p.split()])
             for lang, paras in groups.items()}
    n_exact, n_near = round(n * exact), round(n * near)
    n_base = n - n_exact - n_near
    order = list(range(len(pool)))
    rng.shuffle(order)
    base = [dict(pool[i]) for i in order[:n_base]]
    for number in range(n_base - len(base)):
        lang = rng.choice(["en", "en", "de", "zh"])
        paras = [rng.choice(groups[lang]) for _ in range(rng.randint(4, 12))]
        base.append({"text": "\n".join(paras), "lang": lang,
                     "url": f"https://mixed.example.org/{lang}/{number}"})
    docs = [dict(b, kind="base", of=None, rate=None) for b in base]
    for number in range(n_exact):
        b = rng.randrange(n_base)
        docs.append(dict(base[b], url=base[b]["url"] + f"?utm_source=copy{number}", kind="exact",
                         of=b, rate=0.0))
    for number in range(n_near):
        b = rng.randrange(n_base)
        rate = RATES[number % len(RATES)]
        lang = base[b]["lang"] if base[b]["lang"] in vocab else "en"
        text = "\n".join(_edit(line, rate, vocab[lang], lang == "zh", rng)
                         for line in base[b]["text"].split("\n"))
        docs.append(dict(base[b], text=text, url=f"https://near.example.net/{number}",
                         kind="near", of=b, rate=rate))
    perm = list(range(len(docs)))
    rng.shuffle(perm)
    ids = {old: f"e{seed}-{new:07d}" for new, old in enumerate(perm)}
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "docs.jsonl.gz", "wt", encoding="utf-8", compresslevel=3) as handle, \
            open(out / "truth.jsonl", "w", encoding="utf-8") as truth:
        for old in perm:
            d = docs[old]
            date = f"20{rng.randint(10, 23)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            handle.write(json.dumps({"id": ids[old], "url": d["url"], "text": d["text"],
                                     "lang": d["lang"], "date": date}, ensure_ascii=False) + "\n")
            truth.write(json.dumps({"id": ids[old], "kind": d["kind"], "rate": d["rate"],
                                    "of": ids[d["of"]] if d["of"] is not None else None}) + "\n")
    counts = Counter(d["kind"] + (f"@{d['rate']}" if d["kind"] == "near" else "") for d in docs)
    return {"docs": len(docs), "pool_texts": len(pool), "counts": dict(sorted(counts.items()))}


# ---------------------------------------------------------------- run the stage ------------

def read_docs(data: Path, limit: int | None = None) -> list[Any]:
    """DATA/docs.jsonl.gz as Docs, in file order (the first ``limit``)."""
    from stages.record import Doc

    docs = []
    with gzip.open(data / "docs.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and len(docs) == limit:
                break
            r = json.loads(line)
            docs.append(Doc(id=r["id"], url=r["url"], source="eval", text=r["text"],
                            lang=r.get("lang"), date=r.get("date")))
    return docs


def write_shards(docs: list[Any], folder: Path, files: int) -> list[str]:
    """Docs as ``files`` pipeline document shards (``input.format: docs``), in order: the
    input a stage sees after the per-document stages of a real run."""
    from pipeline.shards import DOC_SCHEMA, RowWriter, doc_row

    folder.mkdir(parents=True, exist_ok=True)
    per_file = max(1, -(-len(docs) // files))
    paths = []
    for number, start in enumerate(range(0, max(len(docs), 1), per_file)):
        path = folder / f"docs-{number:04d}.parquet"
        writer = RowWriter(str(path), DOC_SCHEMA)
        for doc in docs[start:start + per_file]:
            writer.write(doc_row(doc))
        writer.close()
        paths.append(str(path))
    return paths


def run_stage(data: Path, out: Path, overrides: dict[str, Any], beam_args: list[str],
              seed: int, files: int = 1) -> dict[str, Any]:
    """docs.jsonl.gz -> the dedup stage alone through the pipeline's own shell
    (``run_pipeline(..., stages=[(dedup.SPEC, config)])``: prepare pass, key files, decide,
    apply pass) -> ``decisions.jsonl`` ({id, kept, reason, meta}) and the stage's report."""
    from pipeline.config import load_config
    from pipeline.outputs import read_rows
    from pipeline.run import run_pipeline
    from stages import dedup

    config = dedup.Config(**overrides)
    out.mkdir(parents=True, exist_ok=True)
    inputs = write_shards(read_docs(data), out / "input", files)
    run_config = load_config(None, [], **{"input.paths": inputs, "input.format": "docs",
                                          "output.path": str(out / "output"),
                                          "output.overwrite": True, "run.seed": seed})
    started = time.perf_counter()
    summary = run_pipeline(run_config, beam_args, stages=[(dedup.SPEC, config)])
    wall = time.perf_counter() - started
    with open(out / "decisions.jsonl", "w", encoding="utf-8") as handle:
        for row in read_rows(str(out / "output"), "kept"):
            handle.write(json.dumps({"id": row["id"], "kept": True,
                                     "meta": json.loads(row["meta"]).get("dedup")}) + "\n")
        for row in read_rows(str(out / "output"), "rejected"):
            handle.write(json.dumps({"id": row["id"], "kept": False, "reason": row["reason"],
                                     "meta": json.loads(row["meta"]).get("dedup")}) + "\n")
    report = dict(summary["reports"]["dedup"]["minhash"])
    report["wall_seconds"] = round(wall, 2)
    report["conservation"] = summary["conservation"]
    return report


# ---------------------------------------------------------------- scoring ------------------

def _shingle_sets(docs: list[dict[str, Any]], config: Any) -> tuple[list[np.ndarray], list[bytes]]:
    from stages import minhash
    from stages.dedup import uses_char_shingles

    spec = config.shingle_spec()
    char_langs = config.char_langs()
    sets, keys = [], []
    for d in docs:
        char = uses_char_shingles(d.get("lang"), char_langs)
        units = minhash.normalized_units(d["text"], char, config.map_digits)
        sets.append(minhash.shingle_hashes(units, char, spec))
        keys.append(minhash.content_digest(units, char))
    return sets, keys


def all_pair_jaccard(sets: list[np.ndarray]) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair sharing at least one shingle (binary sparse M @ M.T)."""
    from scipy import sparse

    sizes = np.array([s.size for s in sets])
    flat = np.concatenate(sets) if sets else np.zeros(0, dtype=np.uint64)
    _, columns = np.unique(flat, return_inverse=True)
    rows = np.repeat(np.arange(len(sets)), sizes)
    matrix = sparse.csr_matrix((np.ones(flat.size, dtype=np.int32), (rows, columns)),
                               shape=(len(sets), int(columns.max(initial=-1)) + 1))
    inter = sparse.triu(matrix @ matrix.T, k=1).tocoo()
    union = sizes[inter.row] + sizes[inter.col] - inter.data
    return {(int(i), int(j)): float(c) / u for i, j, c, u in
            zip(inter.row, inter.col, inter.data, union)}


def score(data: Path, decisions_path: Path, overrides: dict[str, Any], sample: int,
          seed: int) -> dict[str, Any]:
    from stages.dedup import Config

    config = Config(**overrides)
    threshold = config.threshold
    docs = [json.loads(line) for line in gzip.open(data / "docs.jsonl.gz", "rt", encoding="utf-8")]
    truth = {t["id"]: t for t in map(json.loads, open(data / "truth.jsonl", encoding="utf-8"))}
    decided = {d["id"]: d for d in map(json.loads, open(decisions_path, encoding="utf-8"))}
    index = {d["id"]: i for i, d in enumerate(docs)}
    assert len(decided) == len(docs), f"{len(decided)} decisions for {len(docs)} docs"
    started = time.perf_counter()
    sets, keys = _shingle_sets(docs, config)
    jaccard = all_pair_jaccard(sets)
    brute_seconds = time.perf_counter() - started

    cluster = {}
    for d in docs:
        row = decided[d["id"]]
        cluster[d["id"]] = d["id"] if row["kept"] else row["meta"]["kept"]

    def jac(a: str, b: str) -> float:
        i, j = sorted((index[a], index[b]))
        return 1.0 if i == j else jaccard.get((i, j), 0.0)

    # exact: one survivor per normalised text, every other copy removed as exact_duplicate
    by_key: dict[bytes, list[str]] = defaultdict(list)
    for d, key in zip(docs, keys):
        by_key[key].append(d["id"])
    exact_groups = [ids for ids in by_key.values() if len(ids) > 1]
    survivors_per_group = Counter(sum(1 for i in ids if decided[i]["kept"]
                                      or decided[i]["reason"] == "near_duplicate")
                                  for ids in exact_groups)
    planted_exact = [t for t in truth.values() if t["kind"] == "exact"]
    exact_removed = sum(1 for ids in exact_groups for i in ids
                        if not decided[i]["kept"] and decided[i]["reason"] == "exact_duplicate")

    # recall on all pairs whose true Jaccard clears the threshold
    true_pairs = [(i, j) for (i, j), v in jaccard.items() if v >= threshold]
    ids = [d["id"] for d in docs]
    found = sum(1 for i, j in true_pairs if cluster[ids[i]] == cluster[ids[j]])
    by_bucket: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i, j in true_pairs:
        v = jaccard[(i, j)]
        bucket = "1.0" if v >= 1.0 else f"{int(v * 20) / 20:.2f}"
        by_bucket[bucket][0] += 1
        by_bucket[bucket][1] += cluster[ids[i]] == cluster[ids[j]]

    # precision: every near removal against its survivor; sampled same-cluster pairs
    near_rows = [(i, decided[i]["meta"]["survivor"]) for i in ids
                 if not decided[i]["kept"] and decided[i]["reason"] == "near_duplicate"]
    near_ok = sum(1 for a, b in near_rows if jac(a, b) >= threshold)
    members: dict[str, list[str]] = defaultdict(list)
    for i in ids:
        members[cluster[i]].append(i)
    cluster_pairs = [(a, b) for group in members.values() if len(group) > 1
                     for x, a in enumerate(group) for b in group[x + 1:]]
    rng = random.Random(seed)
    sampled = rng.sample(cluster_pairs, min(sample, len(cluster_pairs)))
    pair_ok = sum(1 for a, b in sampled if jac(a, b) >= threshold)
    key_of = {d["id"]: key for d, key in zip(docs, keys)}
    near_pairs = [(a, b) for a, b in sampled if key_of[a] != key_of[b]]
    near_pair_ok = sum(1 for a, b in near_pairs if jac(a, b) >= threshold)

    per_rate: dict[str, list] = defaultdict(lambda: [0, 0, []])
    for t in truth.values():
        if t["kind"] == "near":
            row = per_rate[f"{t['rate']:.2f}"]
            row[0] += 1
            row[1] += cluster[t["id"]] == cluster[t["of"]]
            row[2].append(jac(t["id"], t["of"]))
    return {
        "threshold": threshold,
        "docs": len(docs),
        "brute_force_pairs_with_overlap": len(jaccard),
        "brute_force_seconds": round(brute_seconds, 1),
        "pair_recall": {"pairs_at_or_above_threshold": len(true_pairs), "found": found,
                        "recall": round(found / len(true_pairs), 4) if true_pairs else None,
                        "by_true_jaccard": {k: {"pairs": v[0], "recall": round(v[1] / v[0], 4)}
                                            for k, v in sorted(by_bucket.items())}},
        "precision_near_removals": {"removed": len(near_rows), "jaccard_ok": near_ok,
                                    "precision": round(near_ok / len(near_rows), 4)
                                    if near_rows else None},
        "precision_cluster_pairs": {"cluster_pairs": len(cluster_pairs), "sampled": len(sampled),
                                    "jaccard_ok": pair_ok,
                                    "precision": round(pair_ok / len(sampled), 4)
                                    if sampled else None,
                                    "sampled_with_different_text": len(near_pairs),
                                    "precision_different_text": round(
                                        near_pair_ok / len(near_pairs), 4) if near_pairs else None},
        "planted_near_by_rate": {k: {"copies": v[0], "clustered_with_base": v[1],
                                     "median_true_jaccard": round(float(np.median(v[2])), 3)}
                                 for k, v in sorted(per_rate.items())},
        "exact": {"planted_copies": len(planted_exact),
                  "groups": len(exact_groups),
                  "docs_in_groups": sum(len(g) for g in exact_groups),
                  "removed_as_exact_duplicate": exact_removed,
                  "recall": round(exact_removed / (sum(len(g) for g in exact_groups)
                                                   - len(exact_groups)), 4) if exact_groups else None,
                  "groups_by_survivor_count": dict(survivors_per_group)},
    }


# ---------------------------------------------------------------- speed --------------------

def bench(n_docs: int, num_perm: int, seed: int) -> dict[str, Any]:
    """Single-process docs per CPU-second of shingling + signatures, ours against datasketch."""
    from datasketch import MinHash

    from stages import minhash
    from stages.dedup import Config, Preparer
    from stages.record import Doc

    pool = [p for p in build_pool() if p["lang"] != "zh"]
    rng = random.Random(seed)
    texts = [pool[rng.randrange(len(pool))]["text"] for _ in range(n_docs)]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    config = Config(num_perm=num_perm)
    spec = config.shingle_spec()
    preparer = Preparer(config, seed)
    docs = [Doc(id=str(i), text=t, lang="en") for i, t in enumerate(texts)]

    def timed(fn: Any, items: list) -> float:
        """CPU seconds of the process (the machine is shared: wall time is noise)."""
        start = time.process_time()
        for item in items:
            fn(item)
        return time.process_time() - start

    results: dict[str, Any] = {"docs": n_docs, "mb": round(mb, 2), "num_perm": num_perm}
    seconds = timed(preparer.prepare, docs)
    results["prepare (normalise+shingle+signature+bands)"] = {
        "docs_per_s": round(n_docs / seconds), "mb_per_s": round(mb / seconds, 2)}
    shingles = [minhash.shingle_hashes(minhash.normalized_units(t, False), False, spec)
                for t in texts]
    seconds = timed(lambda t: minhash.shingle_hashes(minhash.normalized_units(t, False), False,
                                                     spec), texts)
    results["shingling only"] = {"docs_per_s": round(n_docs / seconds)}
    seconds = timed(preparer.hasher.signature, shingles)  # type: ignore[union-attr]
    results["signatures only, numpy affine64"] = {"docs_per_s": round(n_docs / seconds)}
    few = shingles[: max(20, n_docs // 20)]

    def update_loop(sh: np.ndarray) -> None:
        m = MinHash(num_perm=num_perm, seed=seed, scheme="affine64", hashfunc=int)
        for value in sh.tolist():
            m.update(value)

    seconds = timed(update_loop, few)
    results["signatures only, datasketch update loop"] = {"docs_per_s": round(len(few) / seconds)}
    start = time.process_time()
    MinHash.bulk([s.tolist() for s in shingles], num_perm=num_perm, seed=seed, scheme="affine64",
                 hashfunc=int)
    seconds = time.process_time() - start
    results["signatures only, datasketch MinHash.bulk"] = {"docs_per_s": round(n_docs / seconds)}
    return results


# ---------------------------------------------------------------- what the graph moves -----

def _grouping_bytes(paths: list[str], key_bytes: int, partition: int) -> tuple[int, int]:
    """(records, peak traced bytes) of one partition task: read the partition's keys and values
    from every key file, then walk its groups of two or more (what ``pipeline.keys`` does)."""
    import tracemalloc

    from pipeline.keys import iter_groups, read_partition

    tracemalloc.start()
    keys, values = read_partition(paths, partition, key_bytes)
    for _ in iter_groups(keys, values, 2):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return len(values), peak


def shuffle_bytes(data: Path, n_docs: int, seed: int, files: int,
                  partitions: int | None) -> dict[str, Any]:
    """What the dedup graph writes and moves per document, for the first ``n_docs`` documents.

    1. Key files: the stage's own ``prepare`` (``dedup.make_prepare``) feeds the pass's own
       writer (``pipeline.keys.KeyWriter``), ``files`` input files, ``partitions`` partitions
       (default: what a run of this input would use, ``graph.partitions_for``); their on-disk
       bytes per document and per channel. These are the only per-document records dedup adds.
    2. The document shard the prepare pass writes anyway (``pipeline.shards``, zstd): bytes per
       document, for scale (documents are written and read per file, never shuffled).
    3. What one partition task holds (``tracemalloc`` peak of reading one partition and walking
       its groups), per record.
    4. The elements ``decide`` hands the runner (Beam's FastPrimitivesCoder, the coder they get
       on every runner): candidate edges, the gather requests of their ends, verified edges,
       per-document decisions; their sizes and how many this sample has, from the key files
       (bucket pairs verified with the stage's own functions; the decisions count every
       document whose text has a copy or a verified near edge).
    5. The verification payload records the gather step writes to key files (one per edge end).
    """
    import pickle
    import tempfile

    from apache_beam.coders.coders import FastPrimitivesCoder

    from pipeline.graph import partitions_for
    from pipeline.keys import GATHER_KEY_BYTES, KeyWriter, iter_groups, key_file, read_partition
    from pipeline.shards import DOC_SCHEMA, RowWriter, doc_row
    from stages import dedup, minhash
    from stages.base import DocRef, RunContext

    docs = read_docs(data, n_docs)
    text_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    parts = partitions or partitions_for(text_bytes)
    config = dedup.Config()
    channels = {c.name: c for c in dedup.CHANNELS}
    coder = FastPrimitivesCoder()
    per_file = max(1, -(-len(docs) // files))
    result: dict[str, Any] = {"docs": len(docs), "files": files, "partitions": parts,
                              "text_bytes_per_doc": round(text_bytes / len(docs))}
    with tempfile.TemporaryDirectory() as work:
        prepare = dedup.make_prepare(config, RunContext(artefact_dir=f"{work}/artefacts",
                                                        seed=seed))
        shard_bytes = 0
        for file_index, start in enumerate(range(0, len(docs), per_file)):
            writers = {name: KeyWriter(key_file(work, dedup.STAGE, name, file_index),
                                       channel.key_bytes, parts)
                       for name, channel in channels.items()}
            shard = RowWriter(f"{work}/pass0/part-{file_index:05d}.parquet", DOC_SCHEMA, "zstd")
            for row, doc in enumerate(docs[start:start + per_file]):
                for name, key, value in prepare(doc, DocRef(file_index, row)):
                    writers[name].add(key, value)
                shard.write(doc_row(doc))
            for writer in writers.values():
                writer.close()
            shard.close()
            shard_bytes += os.path.getsize(f"{work}/pass0/part-{file_index:05d}.parquet")
        n_files = -(-len(docs) // per_file)
        paths = {name: [key_file(work, dedup.STAGE, name, i) for i in range(n_files)]
                 for name in channels}
        key_files: dict[str, Any] = {}
        for name, channel in channels.items():
            size = sum(os.path.getsize(p) for p in paths[name])
            records, peak = _grouping_bytes(paths[name], channel.key_bytes, 0)
            key_files[name] = {"bytes_per_doc": round(size / len(docs), 1),
                               "records_per_doc": round(
                                   sum(_key_file_rows(p) for p in paths[name]) / len(docs), 2),
                               "partition_0_records": records,
                               "partition_task_peak_bytes_per_record": round(peak / max(records, 1))}
        key_files["total_bytes_per_doc"] = round(sum(v["bytes_per_doc"] for v in key_files.values()), 1)
        result["key_files"] = key_files
        result["doc_shard_bytes_per_doc"] = round(shard_bytes / len(docs))

        # decide, replayed on the key files with the stage's own functions
        edges: set = set()
        for partition in range(parts):
            keys, values = read_partition(paths["bands"], partition, channels["bands"].key_bytes)
            for key, members in iter_groups(keys, values, 2):
                edges.update(dedup._candidates((key, members, None), config.clique_bucket_max))
        preparer = dedup.Preparer(config, seed)
        signer = dedup.Preparer(config.model_copy(update={"verify": "signature"}), seed)
        by_ref = {(i // per_file, i % per_file): doc for i, doc in enumerate(docs)}
        ends = sorted({tuple(end[1]) for edge in edges for end in edge})
        payloads = {ref: preparer.payload(by_ref[ref]) for ref in ends}
        signatures = {ref: signer.payload(by_ref[ref]) for ref in ends}
        verified = [edge for edge in edges if minhash.exact_jaccard(
            payloads[tuple(edge[0][1])], payloads[tuple(edge[1][1])]) >= config.threshold]
        near_nodes = {end[0][-1] for edge in verified for end in edge}
        decisions = []
        for partition in range(parts):
            keys, values = read_partition(paths["exact"], partition, channels["exact"].key_bytes)
            for node, members in iter_groups(keys, values, 1):
                if len(members) < 2 and node not in near_nodes:
                    continue
                cluster = dedup.Cluster(members[0][0][:2] + (node,), 2) if node in near_nodes else None
                decisions.extend(dedup.decide_group(
                    node, [(rank, ref) for rank, ref, _ in members], cluster, config.survivor,
                    config.threshold))

        def mean(items: list) -> float:
            return round(sum(len(coder.encode(x)) for x in items) / len(items), 1) if items else 0

        requests = [request for edge in sorted(edges) for request in dedup._edge_ends(edge)]
        elements = {
            "candidate edge ((node ref, doc ref), (node ref, doc ref))":
                (len(edges), mean(sorted(edges))),
            "gather request (doc ref, (edge key, (side, node ref)))":
                (len(requests), mean(requests)),
            "verified edge (node ref, node ref)":
                (len(verified), mean([(e[0][0], e[1][0]) for e in verified])),
            "decision (doc ref, (drop, meta))":
                (len(decisions), mean([(tuple(ref), (drop, meta)) for ref, drop, meta in decisions])),
        }
        result["decide_elements"] = {name: {"count": count, "bytes_each": size,
                                            "bytes_per_doc": round(count * size / len(docs), 1)}
                                     for name, (count, size) in elements.items()}

        # Verification payloads go through gather key files (one record per edge end), not
        # through Beam: the edge key + pickled ((side, node ref), payload).
        def record_bytes(table: dict) -> float:
            sizes = [GATHER_KEY_BYTES + len(pickle.dumps(((side, node), table[ref]), protocol=pickle.HIGHEST_PROTOCOL))
                     for ref, (_, (side, node)) in requests]
            return round(sum(sizes) / len(sizes), 1) if sizes else 0

        gathered = {"verification payload records (edge key, ((side, node ref), shingle "
                    "fingerprints))": record_bytes(payloads),
                    "[verify: signature] (edge key, ((side, node ref), signature))":
                    record_bytes(signatures)}
        result["gather_files"] = {name: {"count": len(requests), "bytes_each": size,
                                         "bytes_per_doc": round(len(requests) * size / len(docs), 1)}
                                  for name, size in gathered.items()}
    return result


def _key_file_rows(path: str) -> int:
    """Rows of one key file (its Parquet footer)."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


# ---------------------------------------------------------------- clustering rounds --------

def rounds(sizes: list[int], max_rounds: int, seed: int) -> list[dict[str, Any]]:
    """Rounds ConnectedComponents needs on a path of n nodes in random order (a chain of
    revisions: the slow case for label chasing) and on a star of n nodes (a template cluster)."""
    import tempfile

    import apache_beam as beam

    from pipeline.io import write_json
    from pipeline.options import beam_options
    from stages.components import ConnectedComponents

    results = []
    rng = random.Random(seed)
    for n in sizes:
        order = list(range(n))
        rng.shuffle(order)
        graphs = {"random-order path": [(order[i], order[i + 1]) for i in range(n - 1)],
                  "star around a random node": [(order[0], order[i]) for i in range(1, n)]}
        for name, edges in graphs.items():
            edges = [(min(a, b), max(a, b)) for a, b in edges]
            with tempfile.TemporaryDirectory() as tmp:
                path = f"{tmp}/stats.json"
                with beam.Pipeline(options=beam_options([])) as pipeline:
                    out = pipeline | beam.Create(edges) | ConnectedComponents(max_rounds)
                    out["stats"] | beam.Map(lambda stats, p=path: write_json(p, stats))
                stats = json.loads(Path(path).read_text())
            results.append({"graph": name, "nodes": n, "converged": stats["converged"],
                            "rounds_to_converge": stats["rounds_to_converge"]})
    return results


# ---------------------------------------------------------------- scale --------------------

def scale(data: Path, out: Path, dedup_on: bool, beam_args: list[str]) -> dict[str, Any]:
    """``python -m pipeline run`` on DATA/docs.jsonl.gz as a child process, measured by
    ``tools/bench.py``'s ``watch``: peak RSS of the whole process tree (runner + SDK workers),
    sampled every 0.1 s, its CPU time and wall time."""
    import shutil
    import subprocess

    from bench import stage_overrides, watch

    shutil.rmtree(out, ignore_errors=True)
    # Only dedup (or nothing): read -> dedup -> write, so the numbers are dedup's own and not
    # those of the tokenizer trained in the run or the other stages.
    command = [sys.executable, "-m", "pipeline", "run", "--input", str(data / "docs.jsonl.gz"),
               "--output", str(out), *stage_overrides(["dedup"] if dedup_on else []), *beam_args]
    run = watch(command, PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if run["returncode"]:
        log = (run["stdout"] or b"").decode("utf-8", "replace")
        raise SystemExit(f"pipeline failed ({run['returncode']}):\n{log[-3000:]}")
    wall, cpu, peak = run["wall_seconds"], run["cpu_seconds"], run["peak_rss_bytes"]
    summary = json.loads((out / "summary.json").read_text())
    result: dict[str, Any] = {"docs": summary["conservation"]["input"], "dedup": dedup_on,
                              "beam_args": beam_args, "wall_seconds": round(wall, 1),
                              "cpu_seconds": round(cpu, 1), "peak_rss_mb": round(peak / 1e6),
                              "timing": summary["timing"]}
    report = summary["reports"].get("dedup", {}).get("minhash")
    if report:
        result["report"] = {k: report[k] for k in ("exact", "near", "candidate_edges",
                                                   "components")}
    return result


# ---------------------------------------------------------------- CLI ----------------------

def _overrides(items: list[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key.removeprefix("dedup.")] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, beam_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("--n", type=int, default=4000)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--exact", type=float, default=0.10)
    gen.add_argument("--near", type=float, default=0.20)
    sc = sub.add_parser("score")
    sc.add_argument("--data", type=Path, required=True)
    sc.add_argument("--out", type=Path, help="run directory (default DATA/run)")
    sc.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="KEY=VALUE", help="dedup config override, e.g. threshold=0.7")
    sc.add_argument("--sample", type=int, default=20000, help="same-cluster pairs checked")
    sc.add_argument("--files", type=int, default=1, help="input files the docs are split over")
    sb = sub.add_parser("shuffle-bytes")
    sb.add_argument("--data", type=Path, required=True)
    sb.add_argument("--docs", type=int, default=2000)
    sb.add_argument("--files", type=int, default=1, help="input files the docs are split over")
    sb.add_argument("--partitions", type=int,
                    help="key-file partitions (default: what a run of this input would use)")
    ro = sub.add_parser("rounds")
    ro.add_argument("--sizes", default="100,1000,10000,100000")
    ro.add_argument("--max-rounds", type=int, default=30)
    sl = sub.add_parser("scale")
    sl.add_argument("--data", type=Path, required=True)
    sl.add_argument("--out", type=Path, help="pipeline output (default DATA/pipeline-run)")
    sl.add_argument("--dedup", choices=("on", "off"), default="on")
    be = sub.add_parser("bench")
    be.add_argument("--docs", type=int, default=1500)
    be.add_argument("--num-perm", type=int, default=128)
    for p in (gen, sc, be, sl, sb, ro):
        p.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    if args.cmd == "generate":
        print(json.dumps(generate(args.n, args.out, args.seed, args.exact, args.near)))
    elif args.cmd == "score":
        overrides = _overrides(args.overrides)
        out = args.out or args.data / "run"
        report = run_stage(args.data, out, overrides, beam_args, args.seed, args.files)
        result = score(args.data, out / "decisions.jsonl", overrides, args.sample, args.seed)
        result["stage"] = {k: report[k] for k in ("bands", "rows", "num_perm", "verify",
                                                  "candidate_edges", "components", "exact",
                                                  "near", "wall_seconds")}
        print(json.dumps(result, indent=1))
    elif args.cmd == "shuffle-bytes":
        print(json.dumps(shuffle_bytes(args.data, args.docs, args.seed, args.files,
                                       args.partitions), indent=1))
    elif args.cmd == "rounds":
        for row in rounds([int(x) for x in args.sizes.split(",")], args.max_rounds, args.seed):
            print(json.dumps(row))
    elif args.cmd == "scale":
        print(json.dumps(scale(args.data, args.out or args.data / "pipeline-run",
                               args.dedup == "on", beam_args), indent=1))
    else:
        print(json.dumps(bench(args.docs, args.num_perm, args.seed), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
