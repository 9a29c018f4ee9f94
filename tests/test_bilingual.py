"""Issue 9: a bilingual run (Chinese news + reviews, English web pages) with configs/zh_web.yaml.

Hand-checkable claims: Chinese news is judged by the Chinese rule set (not the English one),
duplicated reviews leave one survivor, the tokenizer trained in the run beats Llama 2 on
held-back Chinese news, and the report's per-language figures equal sums over the kept files.
"""
from __future__ import annotations

import json

import pytest

from tests.conftest import PROJECT, shared_path
from tests.helpers import assert_conserved, rows, run

ZH_CONFIG = str(PROJECT / "configs" / "zh_web.yaml")


@pytest.fixture(scope="module")
def bilingual(tmp_path_factory: pytest.TempPathFactory) -> dict:
    shared_path("corpora", "zh_thucnews", "cnews.val.txt")
    from tools.make_bilingual_shard import build

    data = tmp_path_factory.mktemp("bilingual")
    counts = build(data / "in", n_news=300, n_reviews=900, n_english=150,
                   corpora=shared_path("corpora"))
    out = run([str(data / "in" / "shard.jsonl.gz")], data / "out", config=ZH_CONFIG)
    return {"out": out, "in": data / "in", "counts": counts, "summary": assert_conserved(out)}


def test_chinese_news_is_not_judged_by_english_rules(bilingual: dict) -> None:
    out = bilingual["out"]
    kept = {r["id"]: r for r in rows(out, "kept")}
    news = [i for i in kept if i.startswith("zh-news-")]
    # measured: 283 of 284 kept articles are labelled zh (one is mostly English text)
    assert sum(kept[i]["lang"] == "zh" for i in news) >= 0.98 * len(news)
    rejected_news = [r for r in rows(out, "rejected") if r["id"].startswith("zh-news-")]
    # The English thresholds would reject nearly every article (no "the"/"and"; a jieba "word"
    # averages ~1.7 characters < 3): measured 72/1,000 rejected by the Chinese rules instead.
    assert len(news) >= 0.85 * bilingual["counts"]["news"]
    assert not [r for r in rejected_news if r["reason"] in ("gopher_stop_words", "gopher_mean_word_length")
                and "the" in (r["detail"] or "")]
    from stages import quality
    from stages.record import Doc

    english_rules = quality.Config(default_languages=["en", "zh"])
    sample = [Doc(id=i, text=kept[i]["text"], lang="zh") for i in news[:50] if kept[i]["lang"] == "zh"]
    assert sum(isinstance(quality.quality_doc(d, english_rules), quality.Drop)
               for d in sample) >= 0.9 * len(sample)


def test_duplicated_reviews_leave_one_survivor(bilingual: dict) -> None:
    out = bilingual["out"]
    truth = json.loads((bilingual["in"] / "truth.json").read_text())
    kept = {r["id"] for r in rows(out, "kept")}
    dedup = {r["id"]: r["reason"] for r in rows(out, "rejected") if r["stage"] == "dedup"}
    removed_by_dedup = 0
    for group in truth["duplicate_groups"]:
        assert len(kept & set(group)) <= 1, group
        removed_by_dedup += sum(1 for i in group if i in dedup)
        if kept & set(group):
            assert all(i in kept or i in dedup or i in {r["id"] for r in rows(out, "rejected")}
                       for i in group)
    assert removed_by_dedup >= 20  # hotel reviews repeated across two review collections


def test_trained_tokenizer_beats_llama2_on_heldback_chinese(bilingual: dict) -> None:
    import sentencepiece as spm

    heldback = [line for line in (bilingual["in"] / "heldback_zh.txt").read_text("utf-8").splitlines() if line]
    ours = spm.SentencePieceProcessor(model_file=str(bilingual["out"] / "artefacts" / "tokenizer.model"))
    llama = spm.SentencePieceProcessor(model_file=str(shared_path("tokenizers", "llama2_tokenizer.model")))
    chars = sum(len(t) for t in heldback)
    ours_cpt = chars / sum(len(ids) for ids in ours.encode(heldback))
    llama_cpt = chars / sum(len(ids) for ids in llama.encode(heldback))
    assert llama_cpt < 0.8 < 1.2 < ours_cpt  # measured: Llama 2 ~0.69, ours ~1.5


def test_report_per_language_figures_match_the_kept_files(bilingual: dict) -> None:
    import sentencepiece as spm

    out = bilingual["out"]
    report = json.loads((out / "report.json").read_text())
    by_lang = {row["lang"]: row for row in report["languages"]["languages"]}
    kept = rows(out, "kept")
    sp = spm.SentencePieceProcessor(model_file=str(out / "artefacts" / "tokenizer.model"))
    for lang in ("zh", "en"):
        texts = [r["text"] for r in kept if r["lang"] == lang]
        tokens = sum(len(ids) for ids in sp.encode(texts))
        assert by_lang[lang]["kept"] == len(texts)
        assert by_lang[lang]["tokens"] == tokens
        assert by_lang[lang]["chars_per_token"] == pytest.approx(sum(map(len, texts)) / tokens, rel=1e-5)
        seen = by_lang[lang]["docs_seen"]
        assert seen == by_lang[lang]["kept"] + by_lang[lang]["rejected"]
    thumb = by_lang["zh"]["rule_of_thumb"]
    assert thumb["chars_per_token"]["expected"] == [1.4, 1.7]
    assert 2.5 < thumb["bytes_per_char"]["measured"] <= 3.0
    assert "## 9. Per language" in (out / "report.md").read_text()
