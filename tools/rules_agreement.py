"""Rule-by-rule agreement of our Gopher quality/repetition rules with datatrove 0.10.1's.

Texts: the extracted main text of every page in ../shared/data/html_extraction_eval (our
extract stage) plus the en_commoncrawl Dolma docs. Both implementations see the *same* texts
and apply the paper's English thresholds to every text (no language routing), each rule on its
own: datatrove's filters return only the first failing rule, so the child process builds one
filter per rule with every other rule switched off.

    .venv/bin/python tools/rules_agreement.py                      # prints the tables
    .venv/bin/python tools/rules_agreement.py --json /tmp/a.json   # also per-doc decisions
    .venv/bin/python tools/rules_agreement.py --no-datatrove --speed --bullets --language
    .venv/bin/python tools/rules_agreement.py --zh jieba           # zh statistic percentiles
    .venv/bin/python tools/rules_agreement.py --zh-config configs/zh_web.yaml [--set K=V]

The extra modes hold every other measurement quoted in docs/rules.md (speed in docs per
CPU-second, the bullet-line rule on the extracted pages, py3langid labels, the Chinese
distributions behind configs/zh_web.yaml and that config's rejections).

The datatrove side runs in a subprocess with the interpreter given by --dt-python (default
bench_runs/.venv-dt/bin/python), because datatrove pins spaCy and friends we do not ship.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import re
import time
from collections import Counter
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from stages import languages, quality, repetition  # noqa: E402
from stages import text as tx  # noqa: E402

SHARED = Path(os.environ.get("SHARED_DATA", PROJECT.parent / "shared" / "data"))
DT_PYTHON = PROJECT / "bench_runs" / ".venv-dt" / "bin" / "python"

QUALITY_RULES = {
    "gopher_word_count": {"min_doc_words": 50, "max_doc_words": 100000},
    "gopher_mean_word_length": {"min_avg_word_length": 3, "max_avg_word_length": 10},
    "gopher_symbol_ratio": {"max_symbol_word_ratio": 0.1},
    "gopher_bullet_lines": {"max_bullet_lines_ratio": 0.9},
    "gopher_ellipsis_lines": {"max_ellipsis_lines_ratio": 0.3},
    "gopher_alpha_words": {"max_non_alpha_words_ratio": 0.8},
    "gopher_stop_words": {"min_stop_words": 2},
}
QUALITY_OFF = {"min_doc_words": None, "max_doc_words": None, "min_avg_word_length": None,
               "max_avg_word_length": None, "max_symbol_word_ratio": None,
               "max_bullet_lines_ratio": None, "max_ellipsis_lines_ratio": None,
               "max_non_alpha_words_ratio": None, "min_stop_words": None}
REPETITION_RULES = {
    "gopher_dup_para_frac": {"dup_para_frac": 0.3},
    "gopher_dup_para_char_frac": {"dup_para_char_frac": 0.2},
    "gopher_dup_line_frac": {"dup_line_frac": 0.3},
    "gopher_dup_line_char_frac": {"dup_line_char_frac": 0.2},
    **{f"gopher_top_{n}gram_char_frac": {"top_n_grams": [[n, f]]}
       for n, f in ((2, 0.20), (3, 0.18), (4, 0.16))},
    **{f"gopher_dup_{n}gram_char_frac": {"dup_n_grams": [[n, f]]}
       for n, f in ((5, .15), (6, .14), (7, .13), (8, .12), (9, .11), (10, .10))},
}
REPETITION_OFF = {"dup_line_frac": None, "dup_para_frac": None, "dup_line_char_frac": None,
                  "dup_para_char_frac": None, "top_n_grams": [], "dup_n_grams": []}

# Runs inside datatrove's venv: reads JSONL texts on stdin, writes one JSON line of rejected
# rule names per text.
CHILD = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
from datatrove.data import Document
from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter
spec = json.loads(sys.argv[1])
filters = {}
for name, kw in spec["quality"].items():
    filters[name] = GopherQualityFilter(**{**spec["quality_off"], **kw})
for name, kw in spec["repetition"].items():
    kw = {k: tuple(tuple(x) for x in v) if isinstance(v, list) else v for k, v in kw.items()}
    off = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["repetition_off"].items()}
    filters[name] = GopherRepetitionFilter(**{**off, **kw})
for line in sys.stdin:
    rec = json.loads(line)
    doc = Document(text=rec["text"], id=rec["id"])
    out = {}
    for name, f in filters.items():
        try:
            res = f.filter(doc)
            out[name] = not (res is True)
        except Exception as e:  # e.g. ZeroDivisionError on a text without words
            out[name] = "error:" + type(e).__name__
    print(json.dumps({"id": rec["id"], "rejected": out}), flush=True)
"""


def load_texts(limit_cc: int | None = None) -> list[dict]:
    """Extracted eval pages, then en_commoncrawl docs: [{id, text, source}]."""
    from stages.extract import Config as ExtractConfig, extract_text

    texts = []
    config = ExtractConfig()  # extract_text runs in-process, without the stage's time limit
    eval_dir = SHARED / "html_extraction_eval"
    for line in (eval_dir / "manifest.jsonl").read_text().splitlines():
        entry = json.loads(line)
        html = gzip.decompress((eval_dir / entry["file"]).read_bytes())
        text = extract_text(html, None, config)
        if text:
            texts.append({"id": "eval:" + Path(entry["file"]).name, "text": text,
                          "source": "html_eval"})
    for path in sorted((SHARED / "corpora" / "en_commoncrawl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for i, line in enumerate(handle):
                if limit_cc is not None and i >= limit_cc:
                    break
                rec = json.loads(line)
                if rec.get("text"):
                    texts.append({"id": f"cc:{path.name}:{i}", "text": rec["text"],
                                  "source": "en_commoncrawl"})
    return texts


def ours(texts: list[dict]) -> dict[str, dict[str, bool]]:
    """Our per-rule decisions (paper thresholds, English words, every rule evaluated)."""
    qconf = quality.Config(other_languages="apply_default")
    rconf = repetition.Config(other_languages="apply_default")
    out = {}
    for rec in texts:
        _, qfail = quality.evaluate(rec["text"], "en", qconf)  # type: ignore[misc]
        _, rfail = repetition.evaluate(rec["text"], "en", rconf)  # type: ignore[misc]
        failed = {d.reason for d in qfail + rfail}
        out[rec["id"]] = {name: name in failed for name in (*QUALITY_RULES, *REPETITION_RULES)}
    return out


def theirs(texts: list[dict], python: Path) -> dict[str, dict[str, object]]:
    """datatrove's per-rule decisions, from a child process in its own venv."""
    spec = json.dumps({"quality": QUALITY_RULES, "quality_off": QUALITY_OFF,
                       "repetition": REPETITION_RULES, "repetition_off": REPETITION_OFF})
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "dt_child.py"
        script.write_text(CHILD)
        payload = "".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in texts)
        proc = subprocess.run([str(python), str(script), spec], input=payload, text=True,
                              capture_output=True, cwd=tmp, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"datatrove child failed:\n{proc.stderr[-3000:]}")
    result = {}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        result[rec["id"]] = rec["rejected"]
    return result


# ------------------------------------------------- datatrove semantics, simulated in our code ---
# To say *why* a disagreement happens, each rule is recomputed with datatrove's counting choices
# (blank lines counted, first occurrence excluded, len(text) denominators, punctuation marks as
# words, case-sensitive stop words, single-occurrence top n-grams) but a regex tokenizer in place
# of spaCy. A disagreement this simulation reproduces is explained by counting semantics; the
# rest comes from tokenization (spaCy splits contractions, hyphens, URLs and numbers otherwise).
_DT_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?|_+|[^\w\s]")
_DT_PUNCT = frozenset(tx.PUNCT)


def simulate_datatrove(text: str) -> dict[str, bool]:
    """Per-rule rejections under datatrove's semantics with a regex tokenizer."""
    words = _DT_TOKEN.findall(text)
    n = max(len(words), 1)
    non_symbol = [w for w in words if any(c not in _DT_PUNCT for c in w)]
    lines = text.splitlines() or [""]
    out: dict[str, bool] = {}
    out["gopher_word_count"] = not 50 <= len(non_symbol) <= 100000
    mean = sum(map(len, non_symbol)) / len(non_symbol) if non_symbol else 0.0
    out["gopher_mean_word_length"] = not 3 <= mean <= 10
    out["gopher_symbol_ratio"] = (text.count("#") / n > 0.1
                                  or (text.count("...") + text.count("…")) / n > 0.1)
    out["gopher_bullet_lines"] = sum(
        s.lstrip().startswith(("•", "-")) for s in lines) / len(lines) > 0.9
    out["gopher_ellipsis_lines"] = sum(
        s.rstrip().endswith(("...", "…")) for s in lines) / len(lines) > 0.3
    out["gopher_alpha_words"] = sum(any(c.isalpha() for c in w) for w in words) / n < 0.8
    out["gopher_stop_words"] = len(set(tx.STOP_WORDS["en"]) & set(words)) < 2
    length = max(len(text), 1)

    def dups(units: list[str]) -> tuple[float, float]:
        seen: set[str] = set()
        count = chars = 0
        for unit in units:
            if unit in seen:
                count += 1
                chars += len(unit)
            seen.add(unit)
        return count / max(len(units), 1), chars / length

    para, para_chars = dups(re.split(r"\n{2,}", text.strip()))
    line, line_chars = dups(re.split("\n+", text))
    out["gopher_dup_para_frac"] = para > 0.3
    out["gopher_dup_para_char_frac"] = para_chars > 0.2
    out["gopher_dup_line_frac"] = line > 0.3
    out["gopher_dup_line_char_frac"] = line_chars > 0.2
    for k, limit in ((2, 0.20), (3, 0.18), (4, 0.16)):
        grams = [" ".join(words[i:i + k]) for i in range(len(words) - k + 1)]
        top = Counter(grams).most_common(1)
        out[f"gopher_top_{k}gram_char_frac"] = bool(top) and len(top[0][0]) * top[0][1] / length > limit
    for k, limit in ((5, .15), (6, .14), (7, .13), (8, .12), (9, .11), (10, .10)):
        seen_grams: set[str] = set()
        repeated = idx = 0
        while idx < len(words) - k + 1:
            gram = "".join(words[idx:idx + k])
            if gram in seen_grams:
                repeated += len(gram)
                idx += k
            else:
                seen_grams.add(gram)
                idx += 1
        out[f"gopher_dup_{k}gram_char_frac"] = repeated / length > limit
    return out


def explain(texts: list[dict], our: dict, their: dict) -> list[dict]:
    """Per rule: how many only-ours / only-theirs docs the semantics simulation reproduces."""
    sim = {rec["id"]: simulate_datatrove(rec["text"]) for rec in texts}
    rows = []
    for rule in (*QUALITY_RULES, *REPETITION_RULES):
        only_ours = [d for d in our if our[d][rule] and not their[d][rule]]
        only_theirs = [d for d in our if their[d][rule] and not our[d][rule]]
        rows.append({"rule": rule,
                     "only_ours": len(only_ours),
                     "only_ours_by_semantics": sum(not sim[d][rule] for d in only_ours),
                     "only_theirs": len(only_theirs),
                     "only_theirs_by_semantics": sum(bool(sim[d][rule]) for d in only_theirs)})
    return rows


def disagreement_classes(texts: list[dict], our: dict, their: dict) -> list[str]:
    """One semantic switch at a time, on the documents where the two sides disagree."""
    text = {rec["id"]: rec["text"] for rec in texts}
    their = {k: {r: bool(v) for r, v in d.items()} for k, d in their.items()}

    def only(rule: str, side: str) -> list[str]:
        if side == "ours":
            return [k for k in our if our[k][rule] and not their[k][rule]]
        return [k for k in our if their[k][rule] and not our[k][rule]]

    out = []
    ids = only("gopher_alpha_words", "theirs")
    ratios = sorted(quality.quality_stats(text[k]).alpha_words for k in ids)
    punct_counted = sum(
        sum(any(c.isalpha() for c in w) for w in _DT_TOKEN.findall(text[k]))
        / max(len(_DT_TOKEN.findall(text[k])), 1) < 0.8 for k in ids)
    if ids:
        out.append(f"alpha_words only datatrove {len(ids)}: our ratio min {ratios[0]:.3f}, median "
                   f"{ratios[len(ratios) // 2]:.3f}; below 0.8 once punctuation tokens count as "
                   f"words: {punct_counted}")
    ids = only("gopher_ellipsis_lines", "ours")
    blanks = sum(sum(l.rstrip().endswith(("...", "…")) for l in text[k].splitlines())
                 / max(len(text[k].splitlines()), 1) <= 0.3 for k in ids)
    out.append(f"ellipsis_lines only ours {len(ids)}: pass with blank lines in the denominator: "
               f"{blanks}")
    ids = only("gopher_stop_words", "theirs")
    case = sum(len(set(tx.STOP_WORDS["en"]) & set(tx.words_of(text[k].split()))) < 2 for k in ids)
    out.append(f"stop_words only datatrove {len(ids)}: < 2 distinct case-sensitively: {case}")
    for rule in ("gopher_dup_line_frac", "gopher_dup_para_frac"):
        ids = only(rule, "theirs")
        blank = 0
        for k in ids:
            units = (re.split("\n+", text[k]) if "line" in rule
                     else re.split(r"\n{2,}", text[k].strip()))
            counts = Counter(units)
            dup_blank = sum(v - 1 for u, v in counts.items() if v > 1 and not u.strip())
            blank += dup_blank > 0
        out.append(f"{rule} only datatrove {len(ids)}: with whitespace-only duplicate units: "
                   f"{blank}")
    quality_rejects = {k for k in our if any(our[k][r] for r in QUALITY_RULES)}
    for n in (2, 3, 4):
        rule = f"gopher_top_{n}gram_char_frac"
        ids = only(rule, "theirs")
        short = sum(quality.quality_stats(text[k]).words < 50 for k in ids)
        out.append(f"{rule} only datatrove {len(ids)}: < 50 words {short}; rejected by our "
                   f"quality anyway {len(set(ids) & quality_rejects)}")
    rules = repetition.RepetitionRules()
    for n, limit in ((5, .15), (6, .14), (7, .13), (8, .12), (9, .11), (10, .10)):
        ids = only(f"gopher_dup_{n}gram_char_frac", "ours")
        flips = 0
        for k in ids:
            stats = repetition.repetition_stats(text[k], rules)
            chars = sum(map(len, tx.words_of(text[k].split())))
            flips += stats.dup_ngram_char_frac[n] * chars / len(text[k]) <= limit
        out.append(f"gopher_dup_{n}gram_char_frac only ours {len(ids)}: pass with len(text) as "
                   f"denominator: {flips}")
    q_only = [k for k in our if any(their[k][r] for r in QUALITY_RULES)
              and not any(our[k][r] for r in QUALITY_RULES)]
    by_rule = Counter(r for k in q_only for r in QUALITY_RULES if their[k][r])
    out.append(f"quality only datatrove {len(q_only)}, their failing rules: {dict(by_rule)}")
    r_only = [k for k in our if any(their[k][r] for r in REPETITION_RULES)
              and not any(our[k][r] for r in REPETITION_RULES)]
    out.append(f"repetition only datatrove {len(r_only)}, rejected by our quality anyway: "
               f"{len(set(r_only) & quality_rejects)}")
    return out


def table(our: dict, their: dict) -> list[dict]:
    rows = []
    for rule in (*QUALITY_RULES, *REPETITION_RULES):
        both = only_ours = only_theirs = neither = errors = 0
        for doc_id, decisions in our.items():
            a = decisions[rule]
            b = their[doc_id][rule]
            if isinstance(b, str):  # datatrove raised: it cannot keep the doc either
                errors += 1
                b = True
            if a and b:
                both += 1
            elif a:
                only_ours += 1
            elif b:
                only_theirs += 1
            else:
                neither += 1
        total = both + only_ours + only_theirs + neither
        rows.append({"rule": rule, "both": both, "only_ours": only_ours,
                     "only_theirs": only_theirs, "neither": neither, "their_errors": errors,
                     "agreement": (both + neither) / total if total else 1.0})
    return rows


def first_reason_agreement(our: dict, their: dict) -> tuple[int, int, int, int]:
    """Whole-filter decisions (any rule): both reject, only ours, only theirs, both keep."""
    counts = [0, 0, 0, 0]
    for doc_id, decisions in our.items():
        a = any(decisions.values())
        b = any(bool(v) for v in their[doc_id].values())
        counts[0 if a and b else 1 if a else 2 if b else 3] += 1
    return tuple(counts)  # type: ignore[return-value]


def speed(texts: list[dict], repeats: int = 5) -> dict[str, float]:
    """docs per CPU-second of the stage cores (best of `repeats`), on the loaded texts.

    CPU time of this process (time.process_time), not wall time: on a shared machine wall
    time also counts the time other processes hold the core.
    """
    from stages.language import Config as LanguageConfig, language_doc, load_identifier
    from stages.record import Doc

    qconf, rconf = quality.Config(), repetition.Config()
    lconf = LanguageConfig()
    classify = load_identifier(lconf.identifier)
    docs = [Doc(id=r["id"], text=r["text"], lang="en") for r in texts]
    jobs = {
        "language": lambda d: language_doc(d.replace(), lconf, classify),
        "quality": lambda d: quality.quality_doc(d, qconf),
        "repetition": lambda d: repetition.repetition_doc(d, rconf),
        "quality+repetition": lambda d: (quality.quality_doc(d, qconf),
                                         repetition.repetition_doc(d, rconf)),
    }
    out = {}
    for name, job in jobs.items():
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            for doc in docs:
                job(doc)
            best = min(best, time.process_time() - start)
        out[name] = len(docs) / best
    return out


def bullet_report(texts: list[dict]) -> dict[str, object]:
    """How the extracted eval pages fare under the 90 % bullet-line rule."""
    conf = quality.Config(other_languages="apply_default")
    pages = [r for r in texts if r["source"] == "html_eval"]
    fractions, over = [], []
    for rec in pages:
        stats = quality.quality_stats(rec["text"])
        fractions.append(stats.bullet_lines)
        if stats.bullet_lines > 0.9:
            over.append((rec["id"], round(stats.bullet_lines, 3),
                         [d.reason for d in quality.failures(stats, conf)]))
    return {"pages": len(pages), "with_bullets": sum(f > 0 for f in fractions),
            "at_least_half": sum(f >= 0.5 for f in fractions),
            "over_0.9": len(over), "rejected_pages": over}


def chinese_texts(reviews_sample: int = 3000) -> dict[str, list[str]]:
    """zh_thucnews articles and a seeded sample of zh_reviews (all three review files)."""
    import csv
    import io
    import random
    import zipfile

    corpora = SHARED / "corpora"
    news = [line.rstrip("\n").split("\t", 1)[1] for line in
            (corpora / "zh_thucnews" / "cnews.val.txt").read_text(encoding="utf-8").splitlines()
            if "\t" in line]
    reviews: list[str] = []
    for name in ("waimai_10k.csv", "ChnSentiCorp_htl_all.csv"):
        with open(corpora / "zh_reviews" / name, encoding="utf-8") as handle:
            reviews += [r["review"] for r in csv.DictReader(handle) if r.get("review")]
    with zipfile.ZipFile(corpora / "zh_reviews" / "online_shopping_10_cats.zip") as archive:
        member = next(n for n in archive.namelist() if n.endswith(".csv"))
        with archive.open(member) as raw:
            reviews += [r["review"] for r in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"))
                        if r.get("review")]
    random.Random(0).shuffle(reviews)
    return {"zh_thucnews": news, "zh_reviews": reviews[:reviews_sample]}


def chinese_distributions(mode: str) -> None:
    """Percentiles of every rule statistic on Chinese news and reviews (docs/rules.md table)."""
    import numpy as np

    rules = repetition.RepetitionRules()
    stop = tx.STOP_WORDS["zh"]
    corpora = chinese_texts()
    rows: dict[str, list[dict]] = {}
    for name, texts in corpora.items():
        rows[name] = []
        for text in texts:
            q = quality.quality_stats(text, mode, stop)
            row = quality.rule_statistics(q)
            row.update(repetition.rule_statistics(repetition.repetition_stats(text, rules, mode)))
            rows[name].append(row)
    pcts = (0.5, 1, 5, 50, 95, 99, 99.5)
    print(f"words = {mode}; docs: " + ", ".join(f"{k} {len(v)}" for k, v in corpora.items()))
    print("| statistic | corpus | " + " | ".join(f"p{p:g}" for p in pcts) + " | max |")
    print("|---|---|" + "---|" * (len(pcts) + 1))
    for key in rows["zh_thucnews"][0]:
        for name, data in rows.items():
            values = np.array([r[key] for r in data], dtype=float)
            cells = " | ".join(f"{np.percentile(values, p):.3g}" for p in pcts)
            print(f"| {key} | {name} | {cells} | {values.max():.3g} |")
    if mode == "jieba":
        docs: Counter = Counter()
        for text in corpora["zh_thucnews"]:
            docs.update(set(tx.words_of(tx.tokens_of(text, mode))))
        print("document frequency of jieba words in zh_thucnews (top 25): "
              + ", ".join(f"{w} {c}" for w, c in docs.most_common(25)))


def chinese_rejections(config_path: Path, overrides: list[str]) -> None:
    """Per-rule rejections of a config's zh rule sets on news and reviews (all rules evaluated)."""
    from pipeline.config import load_config

    config = load_config(config_path, overrides)
    qconf, rconf = config.quality, config.repetition  # type: ignore[attr-defined]
    languages.load_segmenter("jieba")
    for name, texts in chinese_texts().items():
        counts: Counter = Counter()
        rejected = 0
        start = time.process_time()
        for text in texts:
            fails = []
            for stage, conf in ((quality, qconf), (repetition, rconf)):
                result = stage.evaluate(text, "zh", conf)
                if result is not None:
                    fails += [d.reason for d in result[1]]
            counts.update(set(fails))
            rejected += bool(fails)
        rate = len(texts) / max(time.process_time() - start, 1e-9)
        print(f"{config_path} on {name}: {rejected} of {len(texts)} rejected; per rule "
              f"(a doc can fail several): {dict(sorted(counts.items()))}; "
              f"quality+repetition (all rules, jieba) {rate:.0f} docs/CPU-s")


def language_report(texts: list[dict]) -> None:
    """Labels, low scores and docs/s of each identifier (default windows, and the whole text)
    on the English texts and the Chinese corpora (tools/langid_eval.py: accuracy, 8 KB speed)."""
    from stages.language import Config as LanguageConfig, identify, load_identifier

    conf = LanguageConfig()
    zh = chinese_texts()
    sets = {"html_eval+en_commoncrawl": [r["text"] for r in texts],
            "zh_thucnews": zh["zh_thucnews"], "zh_reviews(sample)": zh["zh_reviews"]}
    for identifier in ("fasttext", "py3langid"):
        classify = load_identifier(identifier)
        for name, items in sets.items():
            labels = {}
            for shape, (windows, chars) in (("windows", (conf.windows, conf.window_chars)),
                                            ("whole", (1, 0))):
                start = time.process_time()
                result = [identify(t, classify, windows, chars) for t in items]
                rate = len(items) / max(time.process_time() - start, 1e-9)
                labels[shape] = [conf.aliases.get(lang, lang) for lang, _ in result]
                low = sum(score < conf.min_score for _, score in result)
                top = Counter(labels[shape]).most_common(6)
                print(f"{identifier} {name} {shape}: {len(items)} docs, {rate:.0f} docs/CPU-s, "
                      f"score < {conf.min_score}: {low}, labels {top}")
            differ = sum(a != b for a, b in zip(labels["windows"], labels["whole"]))
            print(f"{identifier} {name}: label differs between windows and whole text on {differ}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dt-python", type=Path, default=DT_PYTHON)
    parser.add_argument("--limit-cc", type=int, default=None,
                        help="at most this many docs per en_commoncrawl file")
    parser.add_argument("--json", type=Path, default=None, help="write per-doc decisions here")
    parser.add_argument("--speed", action="store_true", help="also time the stage cores")
    parser.add_argument("--bullets", action="store_true",
                        help="also report the bullet-line rule on the extracted eval pages")
    parser.add_argument("--zh", choices=("jieba", "chars"), default=None,
                        help="only print Chinese statistic distributions with these words")
    parser.add_argument("--zh-config", type=Path, default=None,
                        help="only print rejections of this config's zh rules on Chinese data")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="with --zh-config: override a config value (repeatable)")
    parser.add_argument("--language", action="store_true",
                        help="also report py3langid labels and speed")
    parser.add_argument("--no-datatrove", action="store_true",
                        help="skip the comparison (e.g. only --speed / --bullets)")
    args = parser.parse_args(argv)
    if args.zh:
        chinese_distributions(args.zh)
        return 0
    if args.zh_config:
        chinese_rejections(args.zh_config, args.set or [])
        return 0
    if not args.no_datatrove and not args.dt_python.exists():
        print(f"datatrove interpreter not found: {args.dt_python}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    texts = load_texts(args.limit_cc)
    chars = sorted(len(r["text"]) for r in texts)
    print(f"texts: {len(texts)}, median {chars[len(chars) // 2]} chars, "
          f"mean {sum(chars) / max(len(chars), 1):.0f} chars")
    if args.bullets:
        report = bullet_report(texts)
        print(f"bullet lines: {report['pages']} extracted eval pages, {report['with_bullets']} "
              f"with any bullet line, {report['at_least_half']} with >= 50 %, "
              f"{report['over_0.9']} with > 90 % (rejected by gopher_bullet_lines):")
        for row in report["rejected_pages"]:  # type: ignore[union-attr]
            print(f"  {row}")
    if args.language:
        language_report(texts)
    if args.speed:
        for source in ("html_eval", "en_commoncrawl", None):
            subset = [r for r in texts if source is None or r["source"] == source]
            label = source or "all"
            rates = speed(subset)
            print(f"speed (docs per CPU-second) on {label} ({len(subset)} docs): " + ", ".join(
                f"{name} {rate:.0f} docs/s" for name, rate in rates.items()))
    if args.no_datatrove:
        return 0
    our = ours(texts)
    their = theirs(texts, args.dt_python)
    rows = table(our, their)
    by_source: dict[str, int] = {}
    for rec in texts:
        by_source[rec["source"]] = by_source.get(rec["source"], 0) + 1
    print(f"texts: {len(texts)} {by_source}")
    print(f"| rule | both reject | only ours | only datatrove | both keep | agreement |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        err = f" ({row['their_errors']} dt errors)" if row["their_errors"] else ""
        print(f"| {row['rule']} | {row['both']} | {row['only_ours']} | {row['only_theirs']}{err} "
              f"| {row['neither']} | {row['agreement']:.3f} |")
    q = {k: {r: v[r] for r in QUALITY_RULES} for k, v in our.items()}
    qt = {k: {r: v[r] for r in QUALITY_RULES} for k, v in their.items()}
    r_ = {k: {r: v[r] for r in REPETITION_RULES} for k, v in our.items()}
    rt = {k: {r: v[r] for r in REPETITION_RULES} for k, v in their.items()}
    for label, a, b in (("quality (any rule)", q, qt), ("repetition (any rule)", r_, rt)):
        both, only_a, only_b, keep = first_reason_agreement(a, b)
        print(f"{label}: both reject {both}, only ours {only_a}, only datatrove {only_b}, "
              f"both keep {keep}")
    print("\nDisagreements reproduced by datatrove's counting semantics in our code "
          "(regex tokenizer instead of spaCy); the rest is tokenization:")
    print("| rule | only ours | of which semantics | only datatrove | of which semantics |")
    print("|---|---|---|---|---|")
    for row in explain(texts, our, their):
        if row["only_ours"] or row["only_theirs"]:
            print(f"| {row['rule']} | {row['only_ours']} | {row['only_ours_by_semantics']} "
                  f"| {row['only_theirs']} | {row['only_theirs_by_semantics']} |")
    print("\nDisagreement classes (one semantic switch at a time):")
    for line in disagreement_classes(texts, our, their):
        print("- " + line)
    print(f"elapsed {time.perf_counter() - start:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"texts": {r["id"]: r["text"] for r in texts},
                                         "ours": our, "theirs": their, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
