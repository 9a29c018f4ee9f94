"""Plant benchmark items into real documents and check decontamination finds them.

    .venv/bin/python tools/decontam_eval.py [--config configs/benchmarks_all.yaml]
        [--plants 400] [--seed 7] [--max-matches N] [--max-items-per-ngram N|none]
        [--ignore-ngrams FILE] [--beam] [--json out.json]
        [--dump-planted planted.json]

The stage's code defaults are used with the config's benchmark list (``--max-matches`` etc.
change one rule). Steps, deterministic for a seed:

1. Build the index from the benchmark files *as published* (the config's field specs); report
   its n-grams, bytes, build CPU time and the process RSS increase while building it.
2. Load real documents: ../shared/data/corpora/en_commoncrawl (Dolma JSONL) and literature
   (books cut into ~3,000-character documents at paragraph breaks). Scan them untouched: any hit
   there is a *real collision* (listed).
3. Plant *quotes*: what a page copying an item contains, taken from the raw records (a question
   alone, a question with its correct answer, a context with its correct ending, a WikiText
   paragraph detokenised, a passage, code), one per host document at a random whitespace
   position, in several spellings: verbatim, whitespace collapsed, upper-cased, soft hyphens
   inside words, fullwidth words, zero-width spaces. Only quotes with at least
   ``min_item_words`` words after normalisation are planted (shorter ones are not matched by
   design; their number is reported).
4. Run the core (``find`` + ``apply_hits``; with ``--max-matches`` the in-run count first) and
   report: quotes detected, cut (every planted character inside a removed region, or the host
   dropped), quotes with an n-gram surviving in the output, host characters removed outside the
   quote, and unplanted (clean) documents changed.
5. The same quotes declared as a plain text benchmark (one quote per line): the matcher's upper
   bound, which separates "the matcher missed" from "the file declaration missed".
6. Run split: one quote planted on 15 pages; with an in-run ``max_matches: 10`` the pages are
   left alone in one run of all documents and cut when the documents are split into two runs.

``--beam`` also runs the Beam stage on the planted corpus and compares its output texts.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import psutil

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from pipeline.config import load_config  # noqa: E402
from stages import ngrams  # noqa: E402
from stages.benchmarks import BenchmarkSource, decode, read_bytes, split_lines  # noqa: E402
from stages.decontaminate import (Config, apply_hits, build_index, cut_regions, find,  # noqa: E402
                                  hash_seed)

SHARED = Path(os.environ.get("SHARED_DATA", PROJECT.parent / "shared" / "data"))
CORPORA = SHARED / "corpora"


# ------------------------------------------------------------------ quotes -----------------
# What a web page that copied an item would contain, from the raw published record. This is
# evaluation knowledge about each benchmark, deliberately independent of the stage's config.

def _detokenize(line: str) -> str:
    """WikiText's tokenised form as running text ("guest @-@ starring" -> "guest-starring")."""
    text = re.sub(r" @(.)@ ", r"\1", line.strip())
    text = re.sub(r" ([.,;:!?)\]'](?:s|t|re|ve|ll|d|m)?)(?=\s|$)", r"\1", text)
    return text.replace("( ", "(").replace(" n't", "n't")


def _strip_label(text: str) -> str:
    return re.sub(r"^\s*Question:\s*", "", text).strip()


def _gsm8k(r: dict, rng: random.Random) -> str:
    return r["question"] if rng.random() < 0.5 else r["question"] + "\n" + r["answer"]


QUOTES: dict[str, Callable[[Any, random.Random], str | None]] = {
    "gsm8k": _gsm8k,
    "humaneval": lambda r, rng: r["prompt"] + r["canonical_solution"],
    "nq_open": lambda r, rng: r["question"].capitalize() + "?",
    "squad_v2_contexts": lambda r, rng: r["context"],
    "squad_v2_questions": lambda r, rng: r["question"],
    "wikitext2": lambda r, rng: _detokenize(r),
    "arc_challenge": lambda r, rng: _strip_label(r["query"]) + (
        "" if rng.random() < 0.5 else " Answer: " + r["choices"][r["gold"]]),
    "piqa": lambda r, rng: _strip_label(r["query"]) + " " + r["choices"][r["gold"]],
    "winogrande": lambda r, rng: r["context_options"][r["gold"]] + " " + r["continuation"],
    "lambada": lambda r, rng: r["context"] + " " + r["continuation"],
}


def raw_records(source: BenchmarkSource) -> list[Any]:
    """The published file's records (JSONL lines, SQuAD paragraphs/questions, text lines)."""
    location = source.location()
    text = decode(read_bytes(location), location)
    if source.name.startswith("squad"):
        data = json.loads(text)["data"]
        paragraphs = [p for article in data for p in article["paragraphs"]]
        if source.name.endswith("questions"):
            return [q for p in paragraphs for q in p["qas"]]
        return paragraphs
    if source.resolved_format() == "text":
        return [line for line in split_lines(text) if line.strip() and
                not line.strip().startswith("=")]
    return [json.loads(line) for line in split_lines(text) if line.strip()]


# ------------------------------------------------------------------ spellings --------------

def _fullwidth(word: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in word)


def _every_word(text: str, change: Callable[[str], str], rng: random.Random, share: float
                ) -> str:
    return re.sub(r"[A-Za-z]{6,}", lambda m: change(m.group()) if rng.random() < share
                  else m.group(), text)


def plant_text(quote: str, rng: random.Random) -> tuple[str, str]:
    """The quote as planted, in one of several spellings."""
    style = rng.choice(("verbatim", "verbatim", "collapsed", "upper", "soft_hyphen",
                        "fullwidth", "zero_width"))
    if style == "collapsed":
        return " ".join(quote.split()), style
    if style == "upper":
        return quote.upper(), style
    if style == "soft_hyphen":
        return _every_word(quote, lambda w: w[:3] + "\u00ad" + w[3:], rng, 0.5), style
    if style == "fullwidth":
        return _every_word(quote, _fullwidth, rng, 0.5), style
    if style == "zero_width":
        return _every_word(quote, lambda w: w[:2] + "\u200b" + w[2:], rng, 0.5), style
    return quote, style


# ------------------------------------------------------------------ corpus and core --------

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


def run_core(texts: list[str], index: ngrams.NgramIndex, config: Config) -> list[dict]:
    """find + apply_hits per document; with max_matches, the in-run count first (as the Beam
    shell's optional two-pass step does)."""
    per_doc = [find(text, index) for text in texts]
    ignored: frozenset[int] = frozenset()
    if config.max_matches is not None:
        counts = Counter(h for matches in per_doc for h in {m.hash for m in matches})
        ignored = frozenset(h for h, n in counts.items() if n > config.max_matches)
    results = []
    for text, found in zip(texts, per_doc):
        matches = [m for m in found if m.hash not in ignored]
        outcome = apply_hits(text, matches, config)
        regions = cut_regions(((m.start, m.end) for m in matches), len(text),
                              config.chars_each_side)
        results.append({"matches": matches, "outcome": outcome, "regions": regions,
                        "ignored": len(found) - len(matches)})
    return results


def insert_at(host: str, planted: str, rng: random.Random) -> tuple[str, int]:
    """Insert at a random whitespace boundary (a paragraph break half of the time)."""
    spaces = [i for i, ch in enumerate(host) if ch.isspace()] or [len(host)]
    position = rng.choice(spaces)
    sep = "\n\n" if rng.random() < 0.5 else " "
    return host[:position] + sep + planted + sep + host[position:], position + len(sep)


def removed_outside(text: str, start: int, end: int, outcome: Any, regions: list) -> int:
    """Host characters lost outside the planted span (collateral of the cut)."""
    if outcome.drop is not None:
        return len(text) - (end - start)
    return outcome.chars_removed - sum(max(0, min(hi, end) - max(lo, start)) for lo, hi in regions)


def score(plants: list[dict], texts: list[str], results: list[dict], config: Config,
          seed: int) -> dict:
    """Detection, cuts, surviving n-grams and collateral for planted documents."""
    per_bench: dict[str, Counter] = {}
    per_style: dict[str, Counter] = {}
    failures = []
    collateral = dropped = 0
    for plant in plants:
        res = results[plant["doc"]]
        outcome = res["outcome"]
        inside = [m for m in res["matches"] if m.start < plant["end"] and m.end > plant["start"]]
        covered = outcome.drop is not None or any(
            lo <= plant["start"] and plant["end"] <= hi for lo, hi in res["regions"])
        words = ngrams.normalized_words(plant["quote"])
        grams = ngrams.item_grams([words], config.ngram, config.min_item_words, seed,
                                  each_part=False)
        length = config.ngram if len(words) >= config.ngram else len(words)
        left = ngrams.normalized_words(outcome.text or "")
        alive = len(set(grams.hashes.tolist()) &
                    set(ngrams.window_hashes(left, length, seed).tolist()))
        row = per_bench.setdefault(plant["benchmark"], Counter())
        row.update(planted=1, detected=int(bool(inside)), cut=int(covered),
                   surviving=int(bool(alive)))
        per_style.setdefault(plant["style"], Counter()).update(planted=1,
                                                              detected=int(bool(inside)))
        dropped += outcome.drop is not None
        collateral += removed_outside(texts[plant["doc"]], plant["start"], plant["end"],
                                      outcome, res["regions"])
        if not inside or not covered or alive:
            failures.append({k: plant[k] for k in ("benchmark", "style")} |
                            {"detected": bool(inside), "cut": covered, "surviving": alive,
                             "quote": plant["quote"][:160]})
    total = Counter()
    for row in per_bench.values():
        total.update(row)
    return {"planted": total["planted"], "detected": total["detected"], "cut": total["cut"],
            "with_surviving_ngrams": total["surviving"], "host_docs_dropped": dropped,
            "host_chars_removed_outside_quote": collateral,
            "per_benchmark": {k: dict(v) for k, v in sorted(per_bench.items())},
            "per_style": {k: dict(v) for k, v in sorted(per_style.items())},
            "failures": failures}


def beam_texts(texts: list[str], config: Config, seed: int) -> tuple[dict, dict]:
    """Run the stage through the pipeline's shell; id -> kept text (None if rejected), and the
    stage's contamination report."""
    from pipeline.outputs import read_rows
    from pipeline.run import run_stages_on_docs
    from stages.decontaminate import SPEC
    from stages.record import Doc

    docs = [Doc(id=f"d{i}", source="eval", text=t) for i, t in enumerate(texts)]
    folder = tempfile.mkdtemp(prefix="decontam_eval_")
    out = run_stages_on_docs(docs, [(SPEC, config)], folder, overrides=[f"run.seed={seed}"])
    kept = {row["id"]: row["text"] for row in read_rows(out, "kept")}
    report = json.loads(Path(out, "summary.json").read_text())["reports"][SPEC.name]
    shutil.rmtree(folder, ignore_errors=True)
    return {f"d{i}": kept.get(f"d{i}") for i in range(len(texts))}, report["contamination"]


# ------------------------------------------------------------------ main -------------------

def stage_config(args: argparse.Namespace) -> Config:
    """Code defaults + the config file's benchmark list + the rule flags given."""
    sources = load_config(args.config, []).decontaminate.benchmarks
    changes: dict[str, Any] = {"benchmarks": sources}
    if args.max_matches is not None:
        changes["max_matches"] = args.max_matches
    if args.max_items_per_ngram is not None:
        changes["max_items_per_ngram"] = (None if args.max_items_per_ngram == "none"
                                          else int(args.max_items_per_ngram))
    if args.ignore_ngrams:
        changes["ignore_ngrams"] = args.ignore_ngrams
    return Config(**changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(PROJECT / "configs" / "benchmarks_all.yaml"))
    parser.add_argument("--plants", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--run-seed", type=int, default=1234, help="the pipeline run.seed")
    parser.add_argument("--max-matches", type=int, help="in-run common-phrase cutoff")
    parser.add_argument("--max-items-per-ngram", help="template rule (a number or none)")
    parser.add_argument("--ignore-ngrams", help="a common-phrase list (tools/common_ngrams.py)")
    parser.add_argument("--beam", action="store_true",
                        help="also run the stage through the pipeline and compare its texts")
    parser.add_argument("--json", help="write the full result here")
    parser.add_argument("--dump-planted", help="write the planted texts and plants (JSON) here, "
                        "to score another version of the stage on the same input")
    parser.add_argument("--show", type=int, default=10, help="collisions / failures to print")
    args = parser.parse_args(argv)

    if not CORPORA.is_dir():
        print(f"shared corpora not found at {CORPORA} (set SHARED_DATA)", file=sys.stderr)
        return 2
    config = stage_config(args)
    seed = hash_seed(args.run_seed)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.process_time()
    index = build_index(config, args.run_seed)
    build_cpu = time.process_time() - started
    stats = index.stats.values()
    result: dict = {"rules": {k: getattr(config, k) for k in (
        "ngram", "min_item_words", "max_matches", "max_items_per_ngram", "ignore_ngrams")},
        "index": {
            "benchmarks": len(index.bench_names),
            **{k: sum(s[k] for s in stats) for k in (
                "items", "items_indexed", "short_items", "too_short", "short_sequences",
                "template_ngrams", "ignored_ngrams")},
            "ngram_rows": int(len(index.hashes)), "bytes": index.nbytes,
            "build_cpu_seconds": round(build_cpu, 3),
            "rss_increase_mb": round((process.memory_info().rss - rss_before) / 1e6, 1),
            "window_lengths": list(index.lengths)}}
    print(f"rules: {result['rules']}\nindex: {result['index']}")

    corpus = load_corpus()
    texts = [text for _, text in corpus]
    started = time.process_time()
    clean = run_core(texts, index, config)
    scan_cpu = time.process_time() - started
    chars = sum(len(t) for t in texts)
    per_doc: dict[str, list] = {}
    for (doc_id, text), res in zip(corpus, clean):
        for m in res["matches"]:
            per_doc.setdefault(doc_id, []).append(
                {"benchmarks": [index.bench_names[b] for b in m.benches], "ngram": m.text,
                 "context": text[max(0, m.start - 60):m.end + 60]})
    result["corpus"] = {
        "docs": len(texts), "chars": chars, "scan_cpu_seconds": round(scan_cpu, 2),
        "scan_mb_per_cpu_s": round(chars / 1e6 / scan_cpu, 2),
        "docs_with_real_collisions": len(per_doc),
        "real_collision_ngrams": sum(len(v) for v in per_doc.values()),
        "common_ngrams_ignored": sum(r["ignored"] for r in clean),
        "collisions": [{"doc": doc, "ngrams": len(cs),
                        "benchmarks": sorted({b for c in cs for b in c["benchmarks"]}),
                        "first_ngram": cs[0]["ngram"], "context": cs[0]["context"]}
                       for doc, cs in per_doc.items()]}
    print(f"corpus: { {k: v for k, v in result['corpus'].items() if k != 'collisions'} }")
    for c in result["corpus"]["collisions"][:args.show]:
        print(f"  collision {c['doc']} {c['benchmarks']} ({c['ngrams']} n-grams), first "
              f"{c['first_ngram']!r}")

    # ---- quotes from the published records
    rng = random.Random(args.seed)
    pools: dict[str, list[str]] = {}
    too_short: dict[str, int] = {}
    for source in config.benchmarks:
        if source.name not in QUOTES:
            continue
        quotes = [QUOTES[source.name](r, rng) for r in raw_records(source)]
        long_enough = [q for q in quotes
                       if q and len(ngrams.normalized_words(q)) >= config.min_item_words]
        pools[source.name] = long_enough
        too_short[source.name] = len(quotes) - len(long_enough)
    names = sorted(pools)
    # Hosts do not depend on the rules, so every rule variant is scored on the same plants.
    hosts = [i for i, text in enumerate(texts) if len(text) >= 400]
    rng.shuffle(hosts)
    plants, planted_texts = [], list(texts)
    for k in range(min(args.plants, len(hosts))):
        name = names[k % len(names)]
        quote = rng.choice(pools[name])
        planted, style = plant_text(quote, rng)
        host = hosts[k]
        planted_texts[host], offset = insert_at(texts[host], planted, rng)
        plants.append({"doc": host, "benchmark": name, "style": style, "start": offset,
                       "end": offset + len(planted), "quote": quote})
    planted_docs = {p["doc"] for p in plants}
    if args.dump_planted:
        Path(args.dump_planted).write_text(json.dumps(
            {"texts": planted_texts, "clean": texts, "plants": plants}, ensure_ascii=False))
    dirty = run_core(planted_texts, index, config)
    result["published"] = score(plants, planted_texts, dirty, config, seed)
    result["published"]["quotes_under_min_words"] = too_short
    result["published"]["styles"] = dict(Counter(p["style"] for p in plants))
    kept_cut = [r for r in dirty if r["matches"] and r["outcome"].drop is None]
    result["published"]["chars_removed_from_cut_docs"] = {
        # what the documents lost vs the cut regions alone (the report's count before issue 16)
        "actual": sum(r["outcome"].chars_removed for r in kept_cut),
        "in_cut_regions": sum(hi - lo for r in kept_cut for lo, hi in r["regions"])}
    changed = [corpus[i][0] for i, r in enumerate(dirty)
               if i not in planted_docs and r["outcome"].text != texts[i]]
    result["published"]["clean_docs_changed"] = len(changed)
    result["published"]["clean_docs_changed_examples"] = changed[:10]
    shown = {k: v for k, v in result["published"].items() if k not in ("failures",)}
    print(f"declared as published: {shown}")
    for failure in result["published"]["failures"][:args.show]:
        print(f"  miss: {failure}")

    # ---- the same quotes declared as a plain text benchmark (the matcher's upper bound)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "quotes.txt"
        plain.write_text("\n".join(" ".join(p["quote"].split()) for p in plants) + "\n",
                         encoding="utf-8")
        plain_config = config.model_copy(update={"benchmarks": (BenchmarkSource(
            name="plain", path=str(plain), format="text", fields="line"),)})
        plain_index = build_index(plain_config, args.run_seed)
        plain_results = run_core(planted_texts, plain_index, plain_config)
        plain_score = score([{**p, "benchmark": "plain"} for p in plants], planted_texts,
                            plain_results, plain_config, seed)
    result["plain"] = {k: plain_score[k] for k in ("planted", "detected", "cut",
                                                    "with_surviving_ngrams")}
    print(f"declared as plain text: {result['plain']}")

    # ---- run split: one quote on 15 pages, in-run max_matches 10, one run vs two runs
    split_config = config.model_copy(update={"max_matches": 10})
    quote = pools[names[0]][0]
    pages = [i for i in hosts[len(plants):len(plants) + 15]]
    split_texts = [insert_at(texts[i], quote, rng)[0] for i in pages]
    one_run = run_core(split_texts, index, split_config)
    two_runs = run_core(split_texts[:8], index, split_config) + \
        run_core(split_texts[8:], index, split_config)
    default_runs = run_core(split_texts, index, config)
    result["run_split"] = {
        "pages": len(pages),
        "cut_in_one_run_max_matches_10": sum(r["outcome"].text != t
                                             for r, t in zip(one_run, split_texts)),
        "cut_in_two_runs_max_matches_10": sum(r["outcome"].text != t
                                              for r, t in zip(two_runs, split_texts)),
        "cut_with_the_rules_used": sum(r["outcome"].text != t
                                       for r, t in zip(default_runs, split_texts))}
    print(f"run split: {result['run_split']}")

    if args.beam:
        started = time.perf_counter()
        beam_out, report = beam_texts(planted_texts, config, args.run_seed)
        core_out = {f"d{i}": r["outcome"].text for i, r in enumerate(dirty)}
        diff = [k for k in core_out if core_out[k] != beam_out[k]]
        result["beam"] = {"wall_seconds": round(time.perf_counter() - started, 1),
                          "docs_differing_from_core": len(diff),
                          "report": {name: {k: v for k, v in row.items() if k != "examples"}
                                     for name, row in report["benchmarks"].items()}}
        print(f"beam: { {k: v for k, v in result['beam'].items() if k != 'report'} }")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
