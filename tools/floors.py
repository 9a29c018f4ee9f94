"""Single-core floors of the library calls the stages make, on a bench shard (issue 7, target 2).

    python tools/floors.py --shard bench_runs/shards/n2000 [--config configs/bench_peer_stages.yaml]

Times, in this one process with nothing else around them: trafilatura.extract with the extract
stage's settings (raw library call, no marking or limits), sentencepiece encode of the extracted
texts with the tokenize model, and the MinHash signature hashing of dedup over the same texts.
Prints each floor, their sum, and (with --pipeline-seconds) the ratio of a pipeline run's wall
time to that sum.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))


def cpu(fn) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def main() -> None:
    import numpy as np
    import sentencepiece as spm
    import trafilatura

    from pipeline.config import load_config
    from stages import minhash
    from stages.tokenize import read_model_bytes

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shard", type=Path, required=True)
    parser.add_argument("--config", default="configs/bench_peer_stages.yaml")
    parser.add_argument("--pipeline-seconds", type=float, default=None)
    args = parser.parse_args()
    config = load_config(PROJECT / args.config)
    pages = [json.loads(line)["html"] for part in sorted(args.shard.glob("part-*.jsonl"))
             for line in part.open(encoding="utf-8")]
    ex = config.extract
    texts: list[str] = []

    def extract_all() -> None:
        for html in pages:
            text = trafilatura.extract(html, include_tables=ex.include_tables,
                                       include_comments=ex.include_comments,
                                       favor_recall=ex.favor_recall, deduplicate=ex.deduplicate,
                                       fast=ex.fast, output_format="txt")
            if text:
                texts.append(text)

    floors = {"trafilatura.extract": cpu(extract_all)}
    model = config.tokenize.model
    if model:
        sp = spm.SentencePieceProcessor(model_proto=read_model_bytes(model))
        floors["sentencepiece encode"] = cpu(lambda: [sp.encode(texts[i:i + 256])
                                                      for i in range(0, len(texts), 256)])
    dd = config.dedup
    hasher = minhash.MinHasher(dd.num_perm, config.run.seed)
    spec = dd.shingle_spec()

    def signatures() -> None:
        for text in texts:
            shingles = minhash.shingle_hashes(minhash.normalized_units(text, False), False, spec)
            if shingles.size:
                hasher.signature(shingles)

    floors["minhash shingles + signatures"] = cpu(signatures)
    total = sum(floors.values())
    for name, seconds in floors.items():
        print(f"{name:<34}{seconds:8.2f} s  ({len(pages) / seconds:7.1f} docs/s)")
    print(f"{'sum of floors':<34}{total:8.2f} s   ({len(pages)} pages, {len(texts)} texts; numpy {np.__version__})")
    if args.pipeline_seconds:
        print(f"pipeline wall {args.pipeline_seconds:.1f} s = {args.pipeline_seconds / total:.2f} x the sum of floors")


if __name__ == "__main__":
    main()
