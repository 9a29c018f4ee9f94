"""Tokenizer measurements quoted in docs/tokenize.md; two subcommands.

    python tools/tokenizer_compare.py trained-vs-reference [--lang en zh] [--reference PATH ...]
        [--samples 50 150 400 0] [--vocab-sizes 8000 16000 32000] [--model-types unigram bpe]
        [--json out.json]
    python tools/tokenizer_compare.py zh [--vocab-size 32000] [--model-type bpe] [--save zh.model]

``trained-vs-reference``: how far token counts made with a tokenizer trained in the run (the
default when ``tokenize.model`` is null) are from counts made with a user's own tokenizer
(default: Llama 2, ../shared/data/tokenizers). Text: the 697 Common Crawl documents of
``en_commoncrawl/dolma_CC-MAIN-…-00140.jsonl.gz`` (en) and the 1,000 THUCNews articles of
``zh_thucnews/cnews.val.txt`` (zh), stripped, empty and exact-duplicate texts removed. Every text
with ``xxh64(text, seed) % 5 == 0`` is held back. The in-run sample is emulated as the stage
builds it: the training texts in seeded-hash order, the first N (0 = all), each cut to the
default ``train.max_doc_chars``; the model is trained with the stage's own ``train_model`` and
the stage's default TrainConfig except ``vocab_size`` and ``model_type``. Printed per row: the trained model's
tokens and the reference's tokens on the held-back text, and ``reference / trained - 1`` (the
difference a user sees when recounting with their own tokenizer), also on the sample itself
(in-sample: what a run whose sample is its whole corpus reports).

``zh``: a Chinese tokenizer trained on THUCNews + the Chinese reviews vs Llama 2 on held-back
news, reviews and English (issue 9's table).

All counts: ``encode`` without BOS/EOS (stages.tokenizers); characters = Unicode code points.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import itertools
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import xxhash

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from stages import tokenize, tokenizers  # noqa: E402

DATA = Path(os.environ.get("SHARED_DATA", PROJECT.parent / "shared" / "data"))
LLAMA2 = DATA / "tokenizers" / "llama2_tokenizer.model"
CC_FILE = DATA / "corpora" / "en_commoncrawl" / "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"
NEWS_FILE = DATA / "corpora" / "zh_thucnews" / "cnews.val.txt"


def news(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        _, _, text = line.partition("\t")
        out.append(text)
    return out


def common_crawl(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def reviews_csv(handle: io.TextIOBase) -> list[str]:
    reader = csv.DictReader(handle)
    return [row.get("review") or "" for row in reader]


def reviews(directory: Path) -> list[str]:
    out: list[str] = []
    for name in ("waimai_10k.csv", "ChnSentiCorp_htl_all.csv"):
        with open(directory / name, encoding="utf-8", newline="") as handle:
            out += reviews_csv(handle)
    with zipfile.ZipFile(directory / "online_shopping_10_cats.zip") as archive:
        with archive.open("online_shopping_10_cats.csv") as raw:
            out += reviews_csv(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
    return out


def clean(texts: list[str]) -> list[str]:
    """Strip, drop empties and exact duplicates (first occurrence wins, order kept)."""
    seen: set[str] = set()
    out = []
    for text in texts:
        text = text.strip()
        if text and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def split(texts: list[str], seed: int, every: int = 10) -> tuple[list[str], list[str]]:
    """(training, held back): held back when xxh64(text, seed) % every == 0."""
    train, held = [], []
    for text in texts:
        (held if xxhash.xxh64_intdigest(text.encode(), seed=seed) % every == 0 else train).append(text)
    return train, held


def count(tokenizer: tokenizers.Tokenizer, texts: list[str]) -> int:
    return sum(len(ids) for ids in tokenizer.encode(texts))


def measure(tokenizer: tokenizers.Tokenizer, texts: list[str]) -> dict[str, float]:
    tokens = count(tokenizer, texts)
    chars = sum(map(len, texts))
    size = sum(len(t.encode("utf-8")) for t in texts)
    return {"tokens": tokens, "chars": chars, "chars_per_token": chars / tokens,
            "tokens_per_char": tokens / chars, "bytes_per_token": size / tokens}


def load_reference(path: str) -> tuple[str, tokenizers.Tokenizer, dict[str, Any]]:
    source = tokenizers.read_source(path)
    tokenizer = tokenizers.load(source)
    ident = tokenizers.identity(source, tokenizer)
    name = "llama2" if Path(path).resolve() == LLAMA2.resolve() else Path(path).name
    return name, tokenizer, {"name": name, "kind": ident["kind"], "sha256": ident["sha256"],
                             "vocab_size": ident["vocab_size"]}


# --------------------------------------------------------------------------- trained vs reference

CORPORA = {"en": ("Common Crawl (dolma CC-MAIN-2019-30, 697 docs)", lambda: common_crawl(CC_FILE)),
           "zh": ("THUCNews cnews.val (1,000 articles)", lambda: news(NEWS_FILE))}


def trained_vs_reference(args: argparse.Namespace) -> int:
    references = [load_reference(path) for path in args.reference]
    defaults = tokenize.TrainConfig()
    rows: list[dict[str, Any]] = []
    print("| lang | type | sample docs | sample chars | vocab asked | vocab got | held-back chars | "
          "trained tokens | reference | reference tokens | ref/trained - 1 | in-sample ref/trained - 1 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for lang in args.lang:
        corpus_name, read = CORPORA[lang]
        train_texts, held = split(clean(read()), args.seed, every=5)
        # The stage's sample: smallest seeded hashes first, each text cut to max_doc_chars.
        ordered = sorted(train_texts, key=lambda t: xxhash.xxh64_intdigest(t.encode(), seed=args.seed))
        held_chars = sum(map(len, held))
        ref_held = {name: count(tok, held) for name, tok, _ in references}
        for docs in args.samples:
            sample = [t[: defaults.max_doc_chars] for t in (ordered[:docs] if docs else ordered)]
            ref_sample = {name: count(tok, sample) for name, tok, _ in references}
            for model_type, vocab in itertools.product(args.model_types, args.vocab_sizes):
                train = defaults.model_copy(update={"vocab_size": vocab, "model_type": model_type})
                started = time.process_time()
                model = tokenize.train_model(sample, train, args.seed)
                seconds = time.process_time() - started
                trained = tokenizers.load(tokenizers.TokenizerSource("sentencepiece", model, None))
                trained_held = count(trained, held)
                trained_sample = count(trained, sample)
                for name, _, _ in references:
                    row = {"lang": lang, "corpus": corpus_name, "model_type": model_type,
                           "sample_docs": len(sample),
                           "sample_chars": sum(map(len, sample)), "vocab_asked": vocab,
                           "vocab_got": trained.vocab_size, "train_cpu_seconds": round(seconds, 1),
                           "held_docs": len(held), "held_chars": held_chars,
                           "trained_tokens": trained_held, "reference": name,
                           "reference_tokens": ref_held[name],
                           "difference": round(ref_held[name] / trained_held - 1, 4),
                           "in_sample_difference": round(ref_sample[name] / trained_sample - 1, 4)}
                    rows.append(row)
                    print(f"| {lang} | {model_type} | {row['sample_docs']} | {row['sample_chars']:,} | {vocab:,} | "
                          f"{row['vocab_got']:,} | {held_chars:,} | {trained_held:,} | {name} | "
                          f"{ref_held[name]:,} | {row['difference']:+.1%} | "
                          f"{row['in_sample_difference']:+.1%} |", flush=True)
    print()
    for lang in args.lang:
        for name, _, _ in references:
            diffs = [r["difference"] for r in rows if r["lang"] == lang and r["reference"] == name]
            print(f"{lang} vs {name}: held-back difference {min(diffs):+.1%} .. {max(diffs):+.1%} "
                  f"over {len(diffs)} trained models")
    if args.json:
        Path(args.json).write_text(json.dumps({"seed": args.seed, "references": [r[2] for r in references],
                                               "rows": rows}, indent=1))
    return 0


# --------------------------------------------------------------------------- zh vs Llama 2

def zh_vs_llama(args: argparse.Namespace) -> int:
    corpora = DATA / "corpora"
    news_train, news_held = split(clean(news(NEWS_FILE)), args.seed)
    rev_train, rev_held = split(clean(reviews(corpora / "zh_reviews")), args.seed)
    train_texts = news_train + rev_train
    print(f"training text: {len(news_train)} news + {len(rev_train)} reviews, "
          f"{sum(map(len, train_texts)):,} chars; held back: {len(news_held)} news "
          f"({sum(map(len, news_held)):,} chars), {len(rev_held)} reviews "
          f"({sum(map(len, rev_held)):,} chars)")

    config = tokenize.TrainConfig(vocab_size=args.vocab_size, model_type=args.model_type,
                                  character_coverage=args.character_coverage, byte_fallback=True,
                                  sample_docs=len(train_texts), max_doc_chars=10**9)
    started = time.process_time()
    model = tokenize.train_model(train_texts, config, args.seed)
    trained = tokenizers.TokenizerSource("sentencepiece", model, None, trained_in_run=True)
    info = tokenizers.identity(trained)
    print(f"trained {info['model_type']} vocab={info['vocab_size']} (asked {args.vocab_size}) "
          f"byte_fallback={info['byte_fallback']} coverage={args.character_coverage} "
          f"in {time.process_time() - started:.1f} CPU s (1 thread)")
    if args.save:
        Path(args.save).write_bytes(model)

    models = {"zh-trained": tokenizers.load(trained), "llama2": load_reference(args.llama)[1]}
    sets = {"news (held back)": news_held, "reviews (held back)": rev_held}
    english = corpora / "literature" / "botchan.txt"
    if english.exists():
        sets["English botchan.txt"] = [english.read_text(encoding="utf-8")]
    print()
    print("| text | model | tokens | chars | chars/token | tokens/char | bytes/token |")
    print("|---|---|---|---|---|---|---|")
    for set_name, texts in sets.items():
        for model_name, tokenizer in models.items():
            m = measure(tokenizer, texts)
            print(f"| {set_name} | {model_name} | {m['tokens']:,} | {m['chars']:,} | "
                  f"{m['chars_per_token']:.3f} | {m['tokens_per_char']:.3f} | "
                  f"{m['bytes_per_token']:.3f} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 1)[1])
    commands = parser.add_subparsers(dest="command", required=True)
    grid = commands.add_parser("trained-vs-reference", help="in-run trained tokenizer vs your own")
    grid.add_argument("--lang", nargs="+", choices=sorted(CORPORA), default=["en", "zh"])
    grid.add_argument("--reference", nargs="+", default=[str(LLAMA2)],
                      help="tokenizer files (.model or tokenizer.json) to compare with")
    grid.add_argument("--samples", nargs="+", type=int, default=[50, 150, 400, 0],
                      help="sample sizes in documents (0 = every training document)")
    grid.add_argument("--vocab-sizes", nargs="+", type=int, default=[8000, 16000, 32000])
    grid.add_argument("--model-types", nargs="+", choices=("unigram", "bpe"),
                      default=["unigram", "bpe"])
    grid.add_argument("--seed", type=int, default=1234)
    grid.add_argument("--json", help="also write the rows here")
    zh = commands.add_parser("zh", help="Chinese-trained tokenizer vs Llama 2 (issue 9)")
    zh.add_argument("--vocab-size", type=int, default=32000)
    zh.add_argument("--model-type", choices=("bpe", "unigram"), default="bpe")
    zh.add_argument("--character-coverage", type=float, default=0.9995)
    zh.add_argument("--seed", type=int, default=1234)
    zh.add_argument("--llama", default=str(LLAMA2))
    zh.add_argument("--save", help="write the trained .model here")
    args = parser.parse_args(argv)
    return trained_vs_reference(args) if args.command == "trained-vs-reference" else zh_vs_llama(args)


if __name__ == "__main__":
    sys.exit(main())
