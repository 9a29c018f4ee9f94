"""Single-core floors of the library calls the stages make, on a bench shard (issue 19, target 3).

    python tools/floors.py --shard bench_runs/shards/n2000 [--config configs/bench_peer_stages.yaml]
    python tools/floors.py --shard bench_runs/shards/text-n10000 --config configs/bench_peer_text.yaml

Times (CPU seconds of this one process, nothing else around the calls) the library call each
enabled stage is built on, over the shard's documents: ``trafilatura.extract`` with the extract
stage's settings (HTML shards; its texts feed the other floors), fastText ``predict`` on the
language stage's sample windows, the MinHash shingles + numpy signatures of dedup, and
sentencepiece ``encode`` (batches of 256, one thread) with the tokenize model. Rules written in
Python over the text (the Gopher rules) have no library floor: their time counts as the
pipeline's own. Prints each floor, their sum, and with ``--pipeline-seconds`` the ratio of a
pipeline run's wall time to the sum; ``--json`` adds one JSON line with the numbers.
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

    from pipeline.config import load_config
    from stages import minhash, tokenizers

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shard", type=Path, required=True)
    parser.add_argument("--config", default="configs/bench_peer_stages.yaml")
    parser.add_argument("--pipeline-seconds", type=float, default=None)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the floors")
    args = parser.parse_args()
    config = load_config(PROJECT / args.config)
    records = [json.loads(line) for part in sorted(args.shard.glob("part-*.jsonl"))
               for line in part.open(encoding="utf-8")]
    floors: dict[str, float] = {}
    texts: list[str] = [r["text"] for r in records if r.get("text")]
    if records and "html" in records[0] and config.extract.enabled:
        import trafilatura

        ex = config.extract
        pages = [r["html"] for r in records]

        def extract_all() -> None:
            for html in pages:
                text = trafilatura.extract(html, include_tables=ex.include_tables,
                                           include_comments=ex.include_comments,
                                           favor_recall=ex.favor_recall, deduplicate=ex.deduplicate,
                                           fast=ex.fast, output_format="txt")
                if text:
                    texts.append(text)

        floors["trafilatura.extract"] = cpu(extract_all)
    if config.language.enabled:
        from stages.language import load_identifier, sample_text

        classify = load_identifier(config.language.identifier)
        samples = [sample_text(t) for t in texts]
        floors[f"{config.language.identifier} predict"] = cpu(lambda: [classify(s) for s in samples])
    if config.dedup.enabled:
        dd = config.dedup
        hasher = minhash.MinHasher(dd.num_perm, config.run.seed)
        spec = dd.shingle_spec()

        def signatures() -> None:
            for text in texts:
                shingles = minhash.shingle_hashes(minhash.normalized_units(text, False), False, spec)
                if shingles.size:
                    hasher.signature(shingles)

        floors["minhash shingles + signatures"] = cpu(signatures)
    model = config.tokenize.model if config.tokenize.enabled else None
    if model:
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_proto=tokenizers.read_bytes(tokenizers.resolve_model_path(model)))
        floors["sentencepiece encode"] = cpu(lambda: [sp.encode(texts[i:i + 256], num_threads=1)
                                                      for i in range(0, len(texts), 256)])
    total = sum(floors.values())
    for name, seconds in floors.items():
        print(f"{name:<34}{seconds:8.2f} s  ({len(records) / seconds:7.1f} docs/s)")
    print(f"{'sum of floors':<34}{total:8.2f} s   ({len(records)} docs, {len(texts)} texts; "
          f"numpy {np.__version__})")
    if args.pipeline_seconds:
        print(f"pipeline wall {args.pipeline_seconds:.1f} s = "
              f"{args.pipeline_seconds / total:.2f} x the sum of floors")
    if args.json:
        print(json.dumps({"floors": {k: round(v, 3) for k, v in floors.items()},
                          "sum": round(total, 3), "docs": len(records), "texts": len(texts)}))


if __name__ == "__main__":
    main()
