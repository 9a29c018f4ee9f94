"""Train a Chinese SentencePiece model and compare its compression with Llama 2 on held-back text.

    python tools/tokenizer_compare.py [--vocab-size 32000] [--model-type bpe] [--save zh.model]

Data (../shared/data/corpora): THUCNews articles (zh_thucnews/cnews.val.txt) and the Chinese
reviews (zh_reviews: waimai_10k, ChnSentiCorp_htl_all, online_shopping_10_cats). Cleaning is
the text-level part of the pipeline that matters for a tokenizer: strip, drop empty texts and
exact duplicates (reviews repeat). Every text goes to *held-back* when
``xxh64(text, seed) % 10 == 0``, else to training, so duplicates never straddle the split and
the split does not depend on file order. Training uses the tokenize stage's own
``train_model`` (single thread, seeded), so the model is the one the pipeline would train.

Printed per held-back set and model: characters/token, tokens/character, UTF-8 bytes/token
(sentencepiece encode, no BOS/EOS; characters = Unicode code points).
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
import time
import zipfile
from pathlib import Path

import xxhash

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from stages import tokenize  # noqa: E402

DATA = PROJECT.parent / "shared" / "data"


def news(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        _, _, text = line.partition("\t")
        out.append(text)
    return out


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


def split(texts: list[str], seed: int) -> tuple[list[str], list[str]]:
    train, held = [], []
    for text in texts:
        (held if xxhash.xxh64_intdigest(text.encode(), seed=seed) % 10 == 0 else train).append(text)
    return train, held


def measure(processor, texts: list[str]) -> dict[str, float]:
    ids = tokenize.encode_texts(processor, texts)
    tokens = sum(map(len, ids))
    chars = sum(map(len, texts))
    size = sum(len(t.encode("utf-8")) for t in texts)
    return {"tokens": tokens, "chars": chars, "chars_per_token": chars / tokens,
            "tokens_per_char": tokens / chars, "bytes_per_token": size / tokens}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--model-type", choices=("bpe", "unigram"), default="bpe")
    parser.add_argument("--character-coverage", type=float, default=0.9995)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--llama", default=str(DATA / "tokenizers" / "llama2_tokenizer.model"))
    parser.add_argument("--save", help="write the trained .model here")
    args = parser.parse_args(argv)

    corpora = DATA / "corpora"
    news_train, news_held = split(clean(news(corpora / "zh_thucnews" / "cnews.val.txt")), args.seed)
    rev_train, rev_held = split(clean(reviews(corpora / "zh_reviews")), args.seed)
    train_texts = news_train + rev_train
    print(f"training text: {len(news_train)} news + {len(rev_train)} reviews, "
          f"{sum(map(len, train_texts)):,} chars; held back: {len(news_held)} news "
          f"({sum(map(len, news_held)):,} chars), {len(rev_held)} reviews "
          f"({sum(map(len, rev_held)):,} chars)")

    config = tokenize.TrainConfig(vocab_size=args.vocab_size, model_type=args.model_type,
                                  character_coverage=args.character_coverage, byte_fallback=True,
                                  sample_docs=len(train_texts), max_doc_chars=10**9)
    started = time.perf_counter()
    model = tokenize.train_model(train_texts, config, args.seed)
    info = tokenize.model_info(model)
    print(f"trained {info['model_type']} vocab={info['vocab_size']} (asked {args.vocab_size}) "
          f"byte_fallback={info['byte_fallback']} coverage={args.character_coverage} "
          f"in {time.perf_counter() - started:.1f}s (1 thread)")
    if args.save:
        Path(args.save).write_bytes(model)

    models = {"zh-trained": tokenize.load_processor(model),
              "llama2": tokenize.load_processor(Path(args.llama).read_bytes())}
    sets = {"news (held back)": news_held, "reviews (held back)": rev_held}
    english = corpora / "literature" / "botchan.txt"
    if english.exists():
        sets["English botchan.txt"] = [english.read_text(encoding="utf-8")]
    print()
    print("| text | model | tokens | chars | chars/token | tokens/char | bytes/token |")
    print("|---|---|---|---|---|---|---|")
    for set_name, texts in sets.items():
        for model_name, processor in models.items():
            m = measure(processor, texts)
            print(f"| {set_name} | {model_name} | {m['tokens']:,} | {m['chars']:,} | "
                  f"{m['chars_per_token']:.3f} | {m['tokens_per_char']:.3f} | "
                  f"{m['bytes_per_token']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
