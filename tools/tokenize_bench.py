"""Encode throughput of the tokenize core on one core (numbers quoted in docs/tokenize.md).

    taskset -c 0 python tools/tokenize_bench.py [--model PATH] [--input JSONL.GZ]

Default: the Llama 2 model and the 697 Common Crawl texts of ../shared/data/corpora/en_commoncrawl;
batch sizes 1, 64 and 256, best of 3.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
SHARED = PROJECT.parent / "shared" / "data"


def main() -> None:
    from stages import tokenize
    from stages.record import Doc

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(SHARED / "tokenizers" / "llama2_tokenizer.model"))
    parser.add_argument("--input", default=str(SHARED / "corpora" / "en_commoncrawl" /
                                               "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"))
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in gzip.open(args.input, "rt")]
    sp = tokenize.load_processor(Path(args.model).read_bytes())
    config = tokenize.Config()
    mb = sum(len(t.encode()) for t in texts) / 1e6
    for batch in (1, 64, 256):
        best = float("inf")
        for _ in range(3):
            docs = [Doc(id=str(i), text=t) for i, t in enumerate(texts)]
            started = time.perf_counter()
            for i in range(0, len(docs), batch):
                tokenize.tokenize_docs(sp, docs[i:i + batch], config)
            best = min(best, time.perf_counter() - started)
        tokens = sum(d.token_count for d in docs)
        print(f"batch={batch:4d} docs={len(docs)} tokens={tokens} best_of_3={best:.3f}s "
              f"docs/s={len(docs) / best:.0f} MB/s={mb / best:.2f}")


if __name__ == "__main__":
    main()
