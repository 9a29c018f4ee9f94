"""Plant real benchmark items into real corpus documents and check decontamination finds them.

    .venv/bin/python tools/decontam_eval.py [--config configs/benchmarks_all.yaml] [--plants 400]
        [--seed 7] [--beam [--index join]] [--json out.json]

Steps (all deterministic for a seed):
1. Build the benchmark index from the config's ``decontaminate`` section; report its n-grams,
   bytes, build time and the process RSS increase while building it.
2. Load real documents: ../shared/data/corpora/en_commoncrawl (Dolma JSONL) and literature
   (books cut into ~3,000-character documents at paragraph breaks).
3. Scan the untouched corpus: any hit there is a *real collision*; they are listed.
4. Plant items (questions, passages, code; several benchmarks; some reformatted: whitespace
   collapsed, upper-cased) at known character positions, one item per host document, and run
   the core with corpus-wide ``max_matches`` exactly as the Beam stage does.
5. Report: planted items detected, planted items cut (every planted character inside a removed
   region, or the document dropped), planted n-grams surviving in the output, and unplanted
   documents that changed. ``--beam`` also runs the Beam stage and compares its output texts.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import psutil

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from pipeline.config import load_config  # noqa: E402
from stages import ngrams  # noqa: E402
from stages.benchmarks import load_items, resolve  # noqa: E402
from stages.decontaminate import (Config, apply_hits, build_index, cut_regions, find,  # noqa: E402
                                  hash_seed)

CORPORA = resolve("../shared/data/corpora")
# Which benchmarks to plant from, and how many of the plants each gets (weights).
PLANT_FROM = ("gsm8k", "humaneval", "squad_v2_contexts", "lambada", "arc_challenge", "piqa",
              "winogrande", "wikitext2", "nq_open", "squad_v2_questions")


def load_corpus(chunk_chars: int = 3000) -> list[tuple[str, str]]:
    """(doc id, text) for the English CC files and the literature books."""
    docs = []
    for path in sorted((CORPORA / "en_commoncrawl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                text = json.loads(line).get("text") or ""
                if text.strip():
                    docs.append((f"{path.name}:{number}", text))
    for path in sorted((CORPORA / "literature").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        paragraphs = [p for p in text.split("\n\n") if p.strip()] if "\n\n" in text else \
            text.splitlines()
        chunk: list[str] = []
        for paragraph in paragraphs:
            chunk.append(paragraph)
            if sum(len(p) for p in chunk) >= chunk_chars:
                docs.append((f"{path.name}:{len(docs)}", "\n\n".join(chunk)))
                chunk = []
        if chunk:
            docs.append((f"{path.name}:{len(docs)}", "\n\n".join(chunk)))
    return docs


def common_hashes(texts: list[str], index: ngrams.NgramIndex, max_matches: int
                  ) -> tuple[frozenset[int], dict[int, list]]:
    """Hashes hit by more than max_matches documents (the Beam stage's pass 1), and matches."""
    per_doc = {i: find(text, index) for i, text in enumerate(texts)}
    counts: Counter = Counter(h for matches in per_doc.values() for h in {m.hash for m in matches})
    return frozenset(h for h, n in counts.items() if n > max_matches), per_doc


def run_core(texts: list[str], index: ngrams.NgramIndex, config: Config) -> list[dict]:
    ignored, per_doc = common_hashes(texts, index, config.max_matches)
    results = []
    for i, text in enumerate(texts):
        matches = [m for m in per_doc[i] if m.hash not in ignored]
        outcome = apply_hits(text, matches, config)
        regions = cut_regions(((m.start, m.end) for m in matches), len(text),
                              config.chars_each_side)
        results.append({"matches": matches, "outcome": outcome, "regions": regions,
                        "ignored": len(per_doc[i]) - len(matches)})
    return results


def plant_text(item: str, rng: random.Random) -> tuple[str, str]:
    """The item as planted: verbatim, whitespace-collapsed, or upper-cased."""
    style = rng.choice(("verbatim", "verbatim", "collapsed", "upper"))
    if style == "collapsed":
        return " ".join(item.split()), style
    if style == "upper":
        return item.upper(), style
    return item, style


def insert_at(host: str, planted: str, rng: random.Random) -> tuple[str, int]:
    """Insert at a random whitespace boundary (a paragraph break half of the time)."""
    spaces = [i for i, ch in enumerate(host) if ch.isspace()] or [len(host)]
    position = rng.choice(spaces)
    sep = "\n\n" if rng.random() < 0.5 else " "
    text = host[:position] + sep + planted + sep + host[position:]
    return text, position + len(sep)


def beam_texts(texts: list[str], config: Config, seed: int) -> tuple[dict, dict]:
    """Run the Beam stage on the documents; id -> kept text (None if rejected)."""
    import apache_beam as beam

    from pipeline.registry import RunContext
    from stages.decontaminate import Stage
    from stages.record import Doc

    kept: dict[str, str | None] = {}
    docs = [Doc(id=f"d{i}", source="eval", text=t) for i, t in enumerate(texts)]
    out_dir = Path("/tmp") / f"decontam_eval_{seed}"
    out_dir.mkdir(parents=True, exist_ok=True)
    with beam.Pipeline() as pipeline:
        outputs = (pipeline | beam.Create(docs)
                   | Stage(config, RunContext(artefact_dir=str(out_dir), seed=seed)))
        (outputs.kept | "kept json" >> beam.Map(lambda d: json.dumps([d.id, d.text]))
         | "write kept" >> beam.io.WriteToText(str(out_dir / "kept"), shard_name_template=""))
        (outputs.reports["contamination"] | "report json" >> beam.Map(json.dumps)
         | "write report" >> beam.io.WriteToText(str(out_dir / "report"),
                                                 shard_name_template=""))
    for line in (out_dir / "kept").read_text().splitlines():
        doc_id, text = json.loads(line)
        kept[doc_id] = text
    report = json.loads((out_dir / "report").read_text())
    return {f"d{i}": kept.get(f"d{i}") for i in range(len(texts))}, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(PROJECT / "configs" / "benchmarks_all.yaml"))
    parser.add_argument("--plants", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--run-seed", type=int, default=1234, help="the pipeline run.seed")
    parser.add_argument("--beam", action="store_true", help="also run the Beam stage")
    parser.add_argument("--index", choices=("auto", "side_input", "join"), default="auto",
                        help="index path for the --beam run")
    parser.add_argument("--json", help="write the full result here")
    parser.add_argument("--show", type=int, default=10, help="collisions to print")
    args = parser.parse_args(argv)

    if not CORPORA.is_dir():
        print(f"shared corpora not found at {CORPORA}", file=sys.stderr)
        return 2
    config: Config = load_config(args.config, []).decontaminate
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    index = build_index(config, args.run_seed)
    build_seconds = time.perf_counter() - started
    rss_after = process.memory_info().rss
    result: dict = {"index": {
        "benchmarks": len(index.bench_names),
        "items": sum(s["items"] for s in index.stats.values()),
        "items_indexed": sum(s["items_indexed"] for s in index.stats.values()),
        "ngrams": int(len(index.hashes)), "bytes": index.nbytes,
        "build_seconds": round(build_seconds, 3),
        "rss_increase_mb": round((rss_after - rss_before) / 1e6, 1),
        "window_lengths": list(index.lengths)}}
    print(f"index: {result['index']}")

    corpus = load_corpus()
    texts = [text for _, text in corpus]
    started = time.perf_counter()
    clean = run_core(texts, index, config)
    scan_seconds = time.perf_counter() - started
    chars = sum(len(t) for t in texts)
    collisions = []
    for (doc_id, text), res in zip(corpus, clean):
        for m in res["matches"]:
            collisions.append({"doc": doc_id,
                               "benchmarks": [index.bench_names[b] for b in m.benches],
                               "ngram": m.text, "context": text[max(0, m.start - 60):m.end + 60]})
    touched = sum(1 for r in clean if r["matches"])
    result["corpus"] = {"docs": len(texts), "chars": chars,
                        "scan_seconds": round(scan_seconds, 2),
                        "scan_mb_per_s": round(chars / 1e6 / scan_seconds, 2),
                        "docs_with_real_collisions": touched,
                        "real_collision_ngrams": len(collisions),
                        "common_ngrams_ignored": sum(r["ignored"] for r in clean)}
    print(f"corpus: {result['corpus']}")
    per_doc: dict = {}
    for c in collisions:
        per_doc.setdefault(c["doc"], []).append(c)
    result["corpus"]["collisions"] = [
        {"doc": doc, "ngrams": len(cs),
         "benchmarks": sorted({b for c in cs for b in c["benchmarks"]}),
         "first_ngram": cs[0]["ngram"], "context": cs[0]["context"]} for doc, cs in per_doc.items()]
    for c in result["corpus"]["collisions"][:args.show]:
        print(f"  collision {c['doc']} {c['benchmarks']} ({c['ngrams']} n-grams), first "
              f"{c['first_ngram']!r}\n    ...{c['context']!r}")

    # ---- plant
    rng = random.Random(args.seed)
    pools = {}
    for source in config.benchmarks:
        if source.name in PLANT_FROM:
            items = [t for t in load_items(source)
                     if len(ngrams.normalized_words(t)) >= config.min_item_words]
            pools[source.name] = items
    names = [n for n in PLANT_FROM if n in pools]
    hosts = [i for i, r in enumerate(clean) if not r["matches"] and len(texts[i]) >= 400]
    rng.shuffle(hosts)
    plants = []
    planted_texts = list(texts)
    for k in range(min(args.plants, len(hosts))):
        name = names[k % len(names)]
        item = rng.choice(pools[name])
        planted, style = plant_text(item, rng)
        host = hosts[k]
        planted_texts[host], offset = insert_at(texts[host], planted, rng)
        plants.append({"doc": host, "benchmark": name, "style": style, "start": offset,
                       "end": offset + len(planted), "item": item})
    planted_docs = {p["doc"] for p in plants}
    dirty = run_core(planted_texts, index, config)
    detected = cut = survived = 0
    failures = []
    seed = hash_seed(args.run_seed)
    for plant in plants:
        res = dirty[plant["doc"]]
        outcome = res["outcome"]
        inside = [m for m in res["matches"] if m.start < plant["end"] and m.end > plant["start"]]
        detected += bool(inside)
        covered = outcome.drop is not None or any(
            lo <= plant["start"] and plant["end"] <= hi for lo, hi in res["regions"])
        cut += covered
        # Does any n-gram (or the whole short item) of the planted item survive in the output?
        words = ngrams.normalized_words(plant["item"])
        grams, length = ngrams.item_grams(words, config.ngram, config.min_item_words, seed)
        left = outcome.text or ""
        out_grams = set(ngrams.window_hashes(ngrams.normalized_words(left), length, seed).tolist())
        alive = len(set(grams.tolist()) & out_grams)
        survived += bool(alive)
        if not inside or not covered or alive:
            failures.append({**plant, "detected": bool(inside), "cut": covered,
                             "surviving_ngrams": alive, "item": plant["item"][:200]})
    changed_unplanted = [corpus[i][0] for i, r in enumerate(dirty)
                         if i not in planted_docs and (r["outcome"].text != texts[i])]
    by_bench = Counter(p["benchmark"] for p in plants)
    dropped = sum(1 for d in planted_docs if dirty[d]["outcome"].drop is not None)
    result["planting"] = {
        "planted": len(plants), "per_benchmark": dict(sorted(by_bench.items())),
        "styles": dict(Counter(p["style"] for p in plants)),
        "detected": detected, "detected_share": round(detected / max(len(plants), 1), 4),
        "cut": cut, "cut_share": round(cut / max(len(plants), 1), 4),
        "items_with_surviving_ngrams": survived,
        "host_docs_dropped": dropped,
        "unplanted_docs_changed": len(changed_unplanted),
        "unplanted_docs_changed_examples": changed_unplanted[:10],
        "failures": failures[:20]}
    print(f"planting: { {k: v for k, v in result['planting'].items() if k != 'failures'} }")
    for failure in failures[:args.show]:
        print(f"  failure: {failure}")
    if args.beam:
        started = time.perf_counter()
        beam_config = config.model_copy(update={"index": args.index})
        beam_out, report = beam_texts(planted_texts, beam_config, args.run_seed)
        core_out = {f"d{i}": r["outcome"].text for i, r in enumerate(dirty)}
        diff = [k for k in core_out if core_out[k] != beam_out[k]]
        result["beam"] = {"seconds": round(time.perf_counter() - started, 1),
                          "docs_differing_from_core": len(diff),
                          "report_index_path": report["index_path"],
                          "report": {name: {k: v for k, v in row.items() if k != "examples"}
                                     for name, row in report["benchmarks"].items()}}
        print(f"beam: {result['beam']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
