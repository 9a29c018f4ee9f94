"""Encode throughput of the tokenize core (numbers quoted in docs/tokenize.md).

    python tools/tokenize_bench.py [--model PATH ...] [--input JSONL.GZ] [--batches 1 64 256]

Default: the Llama 2 model and the 697 Common Crawl texts of ../shared/data/corpora/en_commoncrawl.
``--model`` takes any tokenizer the stage accepts (a SentencePiece .model or a Hugging Face
tokenizer.json, or several to compare in one sitting). Reported: CPU seconds of this process
(``time.process_time``, best of 3; the machine is shared, so wall time would measure the
neighbours), documents and MB per CPU second, and the token total (so two files of the same
tokenizer can be seen to agree).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
SHARED = Path(os.environ.get("SHARED_DATA", PROJECT.parent / "shared" / "data"))


def main() -> None:
    from stages import tokenize, tokenizers
    from stages.record import Doc

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=[str(SHARED / "tokenizers" / "llama2_tokenizer.model")])
    parser.add_argument("--input", default=str(SHARED / "corpora" / "en_commoncrawl" /
                                               "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 64, 256])
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in gzip.open(args.input, "rt")]
    config = tokenize.Config()
    mb = sum(len(t.encode()) for t in texts) / 1e6
    for path in args.model:
        source = tokenizers.read_source(path)
        tokenizer = tokenizers.load(source)
        for batch in args.batches:
            best = float("inf")
            for _ in range(3):
                docs = [Doc(id=str(i), text=t) for i, t in enumerate(texts)]
                started = time.process_time()
                for i in range(0, len(docs), batch):
                    tokenize.tokenize_docs(tokenizer, docs[i:i + batch], config)
                best = min(best, time.process_time() - started)
            tokens = sum(d.token_count for d in docs)
            print(f"{source.kind:<13} {Path(path).name:<24} batch={batch:4d} docs={len(docs)} "
                  f"tokens={tokens} cpu_best_of_3={best:.3f}s docs/cpu-s={len(docs) / best:.0f} "
                  f"MB/cpu-s={mb / best:.2f}")


if __name__ == "__main__":
    main()
