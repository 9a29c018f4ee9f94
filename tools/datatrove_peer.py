#!/usr/bin/env python3
"""FineWeb-style datatrove pipeline over a bench shard, with per-stage timing (the peer of `tools/bench --compare`).

A copy of ../shared/bench/datatrove_pipeline.py (HTML shards of make_shard.py) that adds --text: the same pipeline
on a text shard (tools/make_text_shard.py: JSONL with `text`), i.e. stage A without extraction and URL filter:
  A' tasks=T : JsonlReader(text_key='text') -> GopherRepetitionFilter -> GopherQualityFilter -> JsonlWriter -> MinhashDedupSignature
B, C, D as below. Runs in the peer's venv (bench_runs/.venv-dt, `tools/bench --setup-peer`).

HTML stages (each one LocalPipelineExecutor; datatrove has no in-memory hand-off between them):
  A  tasks=T : JsonlReader(text_key='html') -> Trafilatura -> URLFilter -> GopherRepetitionFilter
               -> GopherQualityFilter -> JsonlWriter(intermediate) -> MinhashDedupSignature   (sig fused into A)
  B  tasks=14: MinhashDedupBuckets   (datatrove requires tasks % num_buckets == 0)
  C  tasks=1 : MinhashDedupCluster
  D  tasks=T : JsonlReader(intermediate) -> MinhashDedupFilter -> TokensCounter(local tokenizer.json) -> JsonlWriter
MinHash config = FineWeb: 5-grams, 14 buckets x 8 hashes, 64-bit hashes (datatrove default HashConfig), seed 1.

Usage (datatrove venv):
  python datatrove_pipeline.py --shard shards/n2000 --out runs/n2000-w1 --tasks 1 --workers 1
  python datatrove_pipeline.py --shard shards/n2000 --out runs/n2000-w2 --tasks 2 --workers 2 --results results/runs.jsonl
By default the process (and its children) is pinned to the first `workers` CPUs (os.sched_setaffinity), so that a
1-worker run really uses one core (HF tokenizers' rayon pool would otherwise take both). --no-pin to disable.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(os.environ.get("SHARED_BENCH", Path(__file__).resolve().parent.parent.parent / "shared" / "bench"))
sys.path.insert(0, str(HERE))  # calib.py


def versions():
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for p in ("datatrove", "trafilatura", "lxml", "tokenizers", "spacy", "tldextract", "numpy", "orjson"):
        try:
            out[p] = version(p)
        except Exception:
            out[p] = None
    return out


def offline_url_filter():
    """datatrove URLFilter with tldextract forced onto its bundled public-suffix snapshot (no network try).
    The UT1 block lists are the ones inside the datatrove wheel (assets/url_filterblacklistsv0_3_0.tar.gz)."""
    from tldextract import TLDExtract

    from datatrove.pipeline.filters import URLFilter

    uf = URLFilter()
    uf.tldextractor = TLDExtract(suffix_list_urls=())
    return uf


def prewarm_url_filter_assets():
    """One-time, untimed: extract the bundled UT1 tarball into the HF assets cache (datatrove does it lazily on
    the first document otherwise, and the first run would pay it)."""
    from huggingface_hub import cached_assets_path

    d = cached_assets_path(library_name="datatrove", namespace="filters", subfolder="url_filter")
    if os.path.exists(os.path.join(d, "domains")) and os.path.exists(os.path.join(d, "urls")):
        return
    code = "from datatrove.pipeline.filters import URLFilter; URLFilter().download_data()"
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read_stats(logdir: Path):
    p = logdir / "stats.json"
    return json.loads(p.read_text()) if p.exists() else []


def step_summary(stats):
    """Per step: datatrove's tracked time (sum over tasks) and its counters. Note: MinhashDedupSignature wraps its
    whole input loop in track_time, so its time includes every upstream step; 'self_s' subtracts those."""
    rows, upstream = [], 0.0
    for s in stats:
        st = s.get("stats", {})
        ts = s.get("time_stats", {})
        tot = ts.get("total", 0.0)
        self_s = tot - upstream if "MinHash stage 1" in (s.get("name") or "") else tot
        upstream += tot
        rows.append(dict(name=s.get("name"), time_total_s=round(tot, 3), self_s=round(self_s, 3),
                         docs_in=_n(st.get("total", st.get("documents"))), forwarded=st.get("forwarded"),
                         dropped=st.get("dropped"),
                         detail={k: _n(v) for k, v in st.items() if k not in ("total", "forwarded", "dropped")}))
    return rows


def _n(v):
    if isinstance(v, dict):
        return v.get("total", v.get("n"))
    return v


def read_ids(folder: Path):
    ids = []
    for f in sorted(glob.glob(str(folder / "*.jsonl*"))):
        op = gzip.open if f.endswith(".gz") else open
        with op(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                ids.append(json.loads(line)["id"])
    return ids


def evaluate(shard: Path, inter_ids, final_ids):
    """Dedup quality vs make_shard's ground truth, over docs that reached the dedup stage."""
    truth = {}
    with open(shard / "truth.jsonl", encoding="utf-8") as f:
        for line in f:
            t = json.loads(line)
            truth[t["id"]] = t
    reached, kept = set(inter_ids), set(final_ids)
    removed = reached - kept
    has_dup = {}
    for t in truth.values():
        if t["dup_of"] and t["id"] in reached and t["dup_of"] in reached:
            has_dup.setdefault(t["dup_of"], []).append(t["id"])
    res = {}
    for kind, rate in [("exact_dup", None)] + [("near_dup", r) for r in sorted({t["edit_rate"] for t in truth.values() if t["kind"] == "near_dup"})]:
        pairs = [t for t in truth.values() if t["kind"] == kind and (rate is None or t["edit_rate"] == rate)
                 and t["id"] in reached and t["dup_of"] in reached]
        caught = sum(1 for t in pairs if not (t["id"] in kept and t["dup_of"] in kept))
        res[kind if rate is None else f"near_dup@{rate}"] = dict(pairs_reaching_dedup=len(pairs), caught=caught,
                                                                 recall=round(caught / len(pairs), 3) if pairs else None)
    base_removed = [i for i in removed if truth[i]["kind"] in ("original", "mixed")]
    unexplained = [i for i in base_removed if i not in has_dup]
    res["base_docs_removed"] = len(base_removed)
    res["base_docs_removed_without_planted_dup (false positives)"] = len(unexplained)
    res["reached_dedup"] = len(reached)
    res["kept"] = len(kept)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shard", required=True, help="directory with part-*.jsonl[.gz] from make_shard.py")
    ap.add_argument("--out", required=True, help="work dir (deleted and recreated)")
    ap.add_argument("--tasks", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--tokenizer", default=str(HERE / "tok" / "llama2" / "tokenizer.json"))
    ap.add_argument("--favour-precision", action="store_true", help="Trafilatura favour_precision (default False)")
    ap.add_argument("--extract-timeout", type=float, default=1.0, help="datatrove default: 1 s per document")
    ap.add_argument("--no-url-filter", action="store_true")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--text", action="store_true", help="text shard: JSONL `text`, no extraction, no URL filter")
    ap.add_argument("--results", default=None, help="append a JSON line with the run's results here")
    ap.add_argument("--label", default="")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (default: delete big outputs at the end)")
    args = ap.parse_args()

    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[: args.workers]
        os.sched_setaffinity(0, set(cpus))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.tokens import TokensCounter
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    shard = Path(args.shard).resolve()
    out = Path(args.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if args.text:
        args.no_url_filter = True
    if not args.no_url_filter:
        prewarm_url_filter_assets()
    from calib import calib  # host-speed calibration in a subprocess (never import trafilatura in this process:
    calib_s = calib(sorted(os.sched_getaffinity(0))[0])  # it would change datatrove's sandbox restart behaviour)

    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, seed=1,
                        hash_config=HashConfig(precision=64))
    T, W = args.tasks, args.workers
    glob_pat = "part-*.jsonl*"
    settings = dict(text=args.text, favour_precision=args.favour_precision, extract_timeout=args.extract_timeout, deduplicate=True,
                    include_comments=False, url_filter=not args.no_url_filter, minhash=str(cfg),
                    tokenizer=args.tokenizer, tasks=T, workers=W, pinned_cpus=sorted(os.sched_getaffinity(0)))

    if args.text:
        stage_a = [JsonlReader(str(shard), text_key="text", id_key="id", glob_pattern=glob_pat)]
    else:
        stage_a = [
            JsonlReader(str(shard), text_key="html", id_key="id", glob_pattern=glob_pat),
            Trafilatura(favour_precision=args.favour_precision, timeout=args.extract_timeout),
        ]
    if not args.no_url_filter:
        stage_a.append(offline_url_filter())
    stage_a += [
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        JsonlWriter(str(out / "intermediate")),
        MinhashDedupSignature(output_folder=str(out / "sigs"), config=cfg),
    ]
    stages = [
        ("A_extract_filter_sig", stage_a, T),
        ("B_minhash_buckets", [MinhashDedupBuckets(input_folder=str(out / "sigs"), output_folder=str(out / "buckets"),
                                                   config=cfg)], cfg.num_buckets),
        ("C_minhash_cluster", [MinhashDedupCluster(input_folder=str(out / "buckets"), output_folder=str(out / "remove_ids"),
                                                   config=cfg)], 1),
        ("D_dedup_filter_tokens_write", [
            JsonlReader(str(out / "intermediate")),
            MinhashDedupFilter(input_folder=str(out / "remove_ids")),
            TokensCounter(tokenizer_name_or_path=args.tokenizer),
            JsonlWriter(str(out / "final")),
        ], T),
    ]
    timings, all_steps = {}, {}
    t_all = time.perf_counter()
    for name, pipe, ntasks in stages:
        ex = LocalPipelineExecutor(pipeline=pipe, tasks=ntasks, workers=min(W, ntasks), logging_dir=str(out / "logs" / name))
        t0 = time.perf_counter()
        ex.run()
        timings[name] = round(time.perf_counter() - t0, 3)
        all_steps[name] = step_summary(read_stats(out / "logs" / name))
    wall = round(time.perf_counter() - t_all, 3)

    meta = json.loads((shard / "meta.json").read_text())
    inter_ids, final_ids = read_ids(out / "intermediate"), read_ids(out / "final")
    quality = evaluate(shard, inter_ids, final_ids)
    tokens = sum(s["detail"].get("tokens", 0) or 0 for s in all_steps["D_dedup_filter_tokens_write"] if "Counter" in (s["name"] or ""))
    meta.setdefault("html_mb", meta.get("text_mb", 0))
    res = dict(label=args.label, mode="text" if args.text else "html", shard=str(shard), n=meta["n"], html_mb=meta["html_mb"], settings=settings, calib_s=calib_s,
               versions=versions(), wall_s=wall, stage_wall_s=timings, steps=all_steps, docs_in=meta["n"],
               docs_out=len(final_ids), tokens=tokens, dedup_quality=quality,
               docs_per_s=round(meta["n"] / wall, 2), html_mb_per_s=round(meta["html_mb"] / wall, 3))

    print(f"\n=== datatrove {res['versions']['datatrove']}  N={meta['n']}  tasks={T} workers={W}  wall {wall:.1f}s "
          f"({res['docs_per_s']} docs/s, {res['html_mb_per_s']} MB html/s) calib {calib_s}s ===")
    for name in timings:
        print(f"[{name}] wall {timings[name]:.1f}s")
        for s in all_steps[name]:
            drops = {k: v for k, v in s["detail"].items() if k.startswith("dropped_")}
            extra = {k: v for k, v in s["detail"].items() if k in ("timeout", "clean_error", "broken_process", "tokens")}
            print(f"   {s['name']:<28} step-time(sum over tasks) {s['self_s']:8.2f}s  in={s['docs_in']} "
                  f"fwd={_n(s['forwarded'])} dropped={_n(s['dropped'])} {drops or ''} {extra or ''}")
    print(f"docs in {meta['n']} -> reached dedup {len(inter_ids)} -> out {len(final_ids)};  tokens {tokens}")
    print("dedup vs ground truth:", json.dumps(quality))
    if args.results:
        Path(args.results).parent.mkdir(parents=True, exist_ok=True)
        with open(args.results, "a") as f:
            f.write(json.dumps(res) + "\n")
    if not args.keep:
        for d in ("intermediate", "final", "sigs", "buckets"):
            shutil.rmtree(out / d, ignore_errors=True)


if __name__ == "__main__":
    main()
