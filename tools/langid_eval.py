"""Language ID: accuracy per language, calibration, score distributions and speed, for the
identifiers the language stage can use (fastText lid.176.ftz, py3langid).

- Accuracy on ``../shared/data/langid_sentences`` (75 languages x 500 labelled sentences):
  per sentence, and per "paragraph" (5 consecutive sentences joined, 100 per language), the
  label after the stage's aliases (wuu/yue -> zh; the data's nb is Norwegian Bokmål, which
  both identifiers call "no").
- Calibration: expected calibration error over the sentences (10 equal-width score bins,
  |accuracy - mean score| weighted by the bin's share).
- Scores of correctly labelled paragraphs per language (p1/p5/p50), the basis of min_score.
- Speed: CPU seconds (time.process_time, best of 3) of the language stage core end to end
  (windows + identifier + aliases + checks) on 8 KB documents cut from the Common Crawl sample,
  and of the bare model call on the whole 8 KB.

    .venv/bin/python tools/langid_eval.py            # markdown tables for docs/rules.md §6
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from stages import language  # noqa: E402
from stages.record import Doc  # noqa: E402

SHARED = Path(os.environ.get("SHARED_DATA", PROJECT.parent / "shared" / "data"))
if not SHARED.is_dir():
    SHARED = PROJECT.parent.parent / "shared" / "data"  # worktrees live one level deeper
SENTENCES = SHARED / "langid_sentences"
CC = SHARED / "corpora" / "en_commoncrawl" / "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"
DATA_ALIASES = {"nb": "no"}
FINEWEB2_30 = ("ru zh ja de es fr it pt nl pl id vi ko tr fa sv cs ro ar no hu da uk th el fi "
               "bg sk hi lt").split()


def load_sentences() -> dict[str, list[str]]:
    return {p.stem: [line.strip() for line in p.open(encoding="utf-8") if line.strip()]
            for p in sorted(SENTENCES.glob("*.txt"))}


def eight_kb_docs(n: int = 1000) -> list[str]:
    """Consecutive Common Crawl texts joined, cut into 8,192-byte documents."""
    texts = [json.loads(line)["text"] for line in gzip.open(CC, "rt", encoding="utf-8")]
    docs: list[str] = []
    buffer = ""
    while len(docs) < n:
        for text in texts:
            buffer += text + "\n\n"
            while len(buffer.encode("utf-8")) >= 8192 and len(docs) < n:
                piece = buffer.encode("utf-8")[:8192].decode("utf-8", "ignore")
                docs.append(piece)
                buffer = buffer[len(piece):]
    return docs


WINDOWS = language.Config().windows
WINDOW_CHARS = language.Config().window_chars


def label(classify, text: str, aliases: dict[str, str]) -> tuple[str, float]:
    lang, score = language.identify(text, classify, WINDOWS, WINDOW_CHARS)
    return aliases.get(lang, lang), score


def ece(scores: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    idx = np.minimum((scores * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - scores[mask].mean())
    return float(total)


def evaluate(name: str, classify, data: dict[str, list[str]]) -> dict:
    aliases = {**language.Config().aliases}
    sentence_acc, paragraph_acc, para_scores = {}, {}, {}
    all_scores, all_correct = [], []
    for lang, sentences in data.items():
        truth = DATA_ALIASES.get(lang, lang)
        got = [label(classify, s, aliases) for s in sentences]
        ok = [g == truth for g, _ in got]
        sentence_acc[lang] = float(np.mean(ok))
        all_scores += [s for _, s in got]
        all_correct += ok
        paragraphs = [" ".join(sentences[i:i + 5]) for i in range(0, len(sentences), 5)]
        pgot = [label(classify, p, aliases) for p in paragraphs]
        paragraph_acc[lang] = float(np.mean([g == truth for g, _ in pgot]))
        para_scores[lang] = [s for g, s in pgot if g == truth]
    return {"name": name, "sentence": sentence_acc, "paragraph": paragraph_acc,
            "ece": ece(np.array(all_scores), np.array(all_correct, dtype=float)),
            "para_scores": para_scores}


def speed(name: str, docs: list[str]) -> tuple[float, float]:
    """(stage core docs/CPU-s, bare model on the whole 8 KB docs/CPU-s), best of 3."""
    config = language.Config(identifier=name, windows=WINDOWS, window_chars=WINDOW_CHARS)
    core = language.make_core(config)
    classify = language.load_identifier(name)

    def best(fn) -> float:
        times = []
        for _ in range(3):
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
        return len(docs) / min(times)

    stage = best(lambda: [core(Doc(id="x", text=d)) for d in docs])
    bare = best(lambda: [classify(d) for d in docs])
    return stage, bare


def rules_speed(data: dict[str, list[str]]) -> None:
    """quality + repetition stage cores per language family (the segmenter is most of the
    cost): documents of ~2,000 characters joined from one language's sentences."""
    from stages import quality, repetition

    qconf, rconf = quality.Config(), repetition.Config()
    for lang in ("en", "de", "ru", "ar", "hi", "zh", "ja", "ko", "th"):
        sentences = data[lang]
        docs, current = [], ""
        for sentence in sentences:
            current += sentence + " "
            if len(current) >= 2000:
                docs.append(current)
                current = ""
        code = DATA_ALIASES.get(lang, lang)
        items = [Doc(id=str(i), text=d, lang=code) for i, d in enumerate(docs)]
        quality.make_core(qconf)(items[0])  # load the segmenter outside the clock
        start = time.process_time()
        for doc in items:
            quality.quality_doc(doc, qconf)
            repetition.repetition_doc(doc, rconf)
        rate = len(items) / (time.process_time() - start)
        print(f"  {lang} ({qconf.segmentation.mode(code)}): {len(items)} docs of ~2,000 chars, "
              f"quality+repetition {rate:,.0f} docs/CPU-s")


def agreement(name: str) -> str:
    """How often the sample's label equals the whole text's label on the Common Crawl sample
    (non-empty texts), for a few sample shapes."""
    classify = language.load_identifier(name)
    texts = [t for t in (json.loads(line)["text"] for line in gzip.open(CC, "rt", encoding="utf-8"))
             if t.strip()]
    whole = [language.identify(t, classify, 1, 0)[0] for t in texts]
    parts = []
    for windows, chars in ((1, 2000), (3, 300), (3, 200), (3, 150)):
        got = [language.identify(t, classify, windows, chars)[0] for t in texts]
        parts.append(f"{windows} x {chars}: {sum(a == b for a, b in zip(got, whole))}")
    first = [language.identify(t[:2000], classify, 1, 0)[0] for t in texts]
    parts.append(f"first 2,000 chars: {sum(a == b for a, b in zip(first, whole))}")
    return f"{name}, of {len(texts)} CC docs agreeing with the whole-text label: " + "; ".join(parts)


def main() -> None:
    global WINDOWS, WINDOW_CHARS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--rules-speed", action="store_true",
                        help="only time quality+repetition per language family")
    parser.add_argument("--windows", type=int, default=WINDOWS)
    parser.add_argument("--window-chars", type=int, default=WINDOW_CHARS)
    args = parser.parse_args()
    WINDOWS, WINDOW_CHARS = args.windows, args.window_chars
    print(f"sample: {WINDOWS} x {WINDOW_CHARS} characters; load average {os.getloadavg()[0]:.1f}")
    data = load_sentences()
    if args.rules_speed:
        print(f"quality + repetition per language (CPU time; load average "
              f"{os.getloadavg()[0]:.1f}):")
        rules_speed(data)
        return
    results = [evaluate(n, language.load_identifier(n), data) for n in ("fasttext", "py3langid")]
    a, b = results
    print("| language | fastText sentences | py3langid sentences | fastText paragraphs | "
          "py3langid paragraphs |")
    print("|---|---|---|---|---|")
    for lang in data:
        mark = " *" if DATA_ALIASES.get(lang, lang) in FINEWEB2_30 else ""
        print(f"| {lang}{mark} | {a['sentence'][lang]:.3f} | {b['sentence'][lang]:.3f} | "
              f"{a['paragraph'][lang]:.3f} | {b['paragraph'][lang]:.3f} |")
    for key in ("sentence", "paragraph"):
        for subset, langs in (("all 75", list(data)),
                              ("the 30 FineWeb-2 languages", [l for l in data if
                                                              DATA_ALIASES.get(l, l) in FINEWEB2_30])):
            print(f"mean {key} accuracy, {subset}: fastText {np.mean([a[key][l] for l in langs]):.4f}"
                  f", py3langid {np.mean([b[key][l] for l in langs]):.4f}")
    print(f"expected calibration error (sentences, 10 bins): fastText {a['ece']:.4f}, "
          f"py3langid {b['ece']:.4f}")
    print("\nscores of correctly labelled paragraphs (fastText), the 30 FineWeb-2 languages:")
    print("| language | p1 | p5 | p50 | below 0.5 |")
    print("|---|---|---|---|---|")
    for lang in data:
        if DATA_ALIASES.get(lang, lang) not in FINEWEB2_30:
            continue
        s = np.array(a["para_scores"][lang])
        if len(s):
            print(f"| {lang} | {np.percentile(s, 1):.3f} | {np.percentile(s, 5):.3f} | "
                  f"{np.percentile(s, 50):.3f} | {int((s < 0.5).sum())} of {len(s)} |")
    for name in ("fasttext", "py3langid"):
        print(agreement(name))
    if args.no_speed:
        return
    docs = eight_kb_docs()
    print(f"\nspeed on {len(docs)} documents of 8,192 bytes (CPU time, best of 3, one sitting; "
          f"load average {os.getloadavg()[0]:.1f}):")
    for name in ("fasttext", "py3langid"):
        stage, bare = speed(name, docs)
        print(f"  {name}: language stage core ({WINDOWS} x {WINDOW_CHARS}-char windows) "
              f"{stage:,.0f} docs/CPU-s; model on the whole 8 KB {bare:,.0f} docs/CPU-s")
    old = language.load_classifier()
    start = time.process_time()
    for d in docs:
        old(d[:2000])
    print(f"  before (py3langid on the first 2,000 characters): "
          f"{len(docs) / (time.process_time() - start):,.0f} docs/CPU-s")


if __name__ == "__main__":
    main()
