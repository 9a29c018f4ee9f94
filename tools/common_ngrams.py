"""List the benchmark n-grams that are common phrases in a fixed reference sample.

    .venv/bin/python tools/common_ngrams.py --config configs/benchmarks_all.yaml \\
        (--jsonl FILE [FILE ...] | --run OUTPUT_DIR) [--min-docs 10] [--out FILE]

Why: an n-gram of a benchmark that many ordinary pages contain (a pager "1 2 3 ... 13", a
licence line, a famous quotation) is not evidence that a page copied the benchmark, and cutting
it everywhere harms clean text. GPT-3 counted such n-grams in the corpus being cleaned
(``max_matches``); counted inside one pipeline run, that makes a page's fate depend on how the
crawl is split into runs. Counted here, once, in a fixed sample, the list is an input like the
benchmark files: every run that names it (``decontaminate.ignore_ngrams``) ignores the same
phrases, and the list can be reviewed and versioned.

The sample is JSONL files with a ``text`` field (``.gz`` read by magic bytes) or a finished
pipeline run's ``kept`` output. The index is built from the config's benchmarks with its
matching rules but without any existing ignore list. Output: ``#`` header lines (sample, sizes,
threshold), then one normalised n-gram (or whole short sequence) per line, sorted, each found in
at least ``--min-docs`` documents of the sample. Review the list before using it: a benchmark
item copied onto many sample pages is listed too, and would then never be cut.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from stages import ngrams  # noqa: E402
from stages.decontaminate import Config, build_index, find  # noqa: E402


def common_ngrams(texts: Iterable[str], index: ngrams.NgramIndex, min_docs: int
                  ) -> tuple[list[tuple[str, int]], int]:
    """(normalised n-gram, documents containing it) for every index n-gram in at least
    ``min_docs`` documents, sorted by text; and the number of documents read. Memory grows
    with the distinct n-grams hit, at most the index size."""
    counts: Counter = Counter()
    text_of: dict[int, str] = {}
    docs = 0
    for text in texts:
        docs += 1
        for match in {m.hash: m for m in find(text, index)}.values():
            counts[match.hash] += 1
            text_of[match.hash] = match.text
    return sorted((text_of[h], n) for h, n in counts.items() if n >= min_docs), docs


def jsonl_texts(paths: Iterable[str]) -> Iterator[str]:
    for path in paths:
        raw = Path(path).read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        for line in raw.decode("utf-8").split("\n"):
            if line.strip():
                text = json.loads(line).get("text")
                if isinstance(text, str) and text.strip():
                    yield text


def run_texts(output: str) -> Iterator[str]:
    from pipeline.outputs import read_rows
    for row in read_rows(output, "kept"):
        if row.get("text"):
            yield row["text"]


def load_config(path: str) -> Config:
    from pipeline.config import load_config as load
    return load(path, []).decontaminate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(PROJECT / "configs" / "benchmarks_all.yaml"))
    sample = parser.add_mutually_exclusive_group(required=True)
    sample.add_argument("--jsonl", nargs="+", help="JSONL(.gz) files with a text field")
    sample.add_argument("--run", help="a finished pipeline run's output directory (kept rows)")
    parser.add_argument("--min-docs", type=int, default=10)
    parser.add_argument("--out", help="write the list here (default: stdout)")
    args = parser.parse_args(argv)
    config = load_config(args.config).model_copy(update={"ignore_ngrams": None})
    index = build_index(config, seed=0)  # the list holds words, not hashes: any seed
    texts = jsonl_texts(args.jsonl) if args.jsonl else run_texts(args.run)
    common, docs = common_ngrams(texts, index, args.min_docs)
    sample_name = " ".join(args.jsonl) if args.jsonl else f"run {args.run}"
    lines = [f"# common benchmark n-grams: in >= {args.min_docs} of {docs} documents of {sample_name}",
             f"# benchmarks: {', '.join(s.name for s in config.benchmarks)}",
             f"# made by tools/common_ngrams.py; {len(common)} phrases; review before use"]
    lines += [f"# {n} docs\n{text}" for text, n in common]
    output = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(output, encoding="utf-8")
        print(f"{len(common)} common n-grams in {docs} documents -> {args.out}")
    else:
        sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
