"""repetition: every Gopher repetition rule pinned at its threshold from both sides."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from stages import repetition as rp
from stages.record import Doc, Drop

FILL = [a + b for a in "abcdefghijklmnop" for b in "abcdefghijklmnopqrstuvwxyz"]  # 2-char words
GRAM = [f"q{i}" for i in range(10)]  # 2-char words not in FILL

OFF = dict(max_dup_para_frac=None, max_dup_para_char_frac=None, max_dup_line_frac=None,
           max_dup_line_char_frac=None, max_top_ngram_char_frac={}, max_dup_ngram_char_frac={})


def only(**rule: object) -> rp.RepetitionRules:
    return rp.RepetitionRules(**{**OFF, **rule})


def failed(text: str, rules: rp.RepetitionRules) -> list[str]:
    return [d.reason for d in rp.failures(rp.repetition_stats(text, rules), rules)]


def test_clean_text_passes_all_rules() -> None:
    text = "\n\n".join(" ".join(FILL[i * 20:(i + 1) * 20]) for i in range(10))
    assert failed(text, rp.RepetitionRules()) == []


def lines_text(distinct: int, repeats: int) -> str:
    lines = [f"line{i:02d} body" for i in range(distinct)] + ["line00 body"] * repeats
    return "\n".join(lines)


def test_dup_line_frac_both_sides() -> None:
    rules = only(max_dup_line_frac=0.3)
    assert failed(lines_text(7, 3), rules) == []  # 3 / 10
    assert failed(lines_text(7, 4), rules) == ["gopher_dup_line_frac"]  # 4 / 11


def test_first_occurrence_setting() -> None:
    stats = rp.repetition_stats(lines_text(7, 3), only(max_dup_line_frac=0.3))
    assert stats.dup_line_frac == 0.3
    strict = only(max_dup_line_frac=0.3, count_first_occurrence=True)
    assert rp.repetition_stats(lines_text(7, 3), strict).dup_line_frac == 0.4
    assert failed(lines_text(7, 3), strict) == ["gopher_dup_line_frac"]


def test_dup_line_char_frac_both_sides() -> None:
    rules = only(max_dup_line_char_frac=0.2)
    # 8 distinct 11-char lines + 2 copies: 22 / 110 = 0.2
    assert rp.repetition_stats(lines_text(8, 2), rules).dup_line_char_frac == 0.2
    assert failed(lines_text(8, 2), rules) == []
    assert failed(lines_text(8, 3), rules) == ["gopher_dup_line_char_frac"]


def paras_text(distinct: int, repeats: int) -> str:
    paras = [f"para{i:02d} one\npara{i:02d} two" for i in range(distinct)]
    return "\n\n".join(paras + [paras[0]] * repeats)


def test_dup_para_frac_both_sides() -> None:
    rules = only(max_dup_para_frac=0.3)
    assert failed(paras_text(7, 3), rules) == []
    assert failed(paras_text(7, 4), rules) == ["gopher_dup_para_frac"]


def test_dup_para_char_frac_both_sides() -> None:
    rules = only(max_dup_para_char_frac=0.2)
    assert rp.repetition_stats(paras_text(8, 2), rules).dup_para_char_frac == 0.2
    assert failed(paras_text(8, 2), rules) == []
    assert failed(paras_text(8, 3), rules) == ["gopher_dup_para_char_frac"]


def gram_text(n: int, copies: int, fillers: int) -> str:
    """`copies` separated occurrences of one n-gram of 2-char words among distinct fillers."""
    words: list[str] = []
    filler = iter(FILL)
    per_gap = fillers // copies
    extra = fillers - per_gap * copies
    for c in range(copies):
        words += GRAM[:n]
        words += [next(filler) for _ in range(per_gap + (extra if c == 0 else 0))]
    return " ".join(words)


def boundary_fillers(value_of, threshold: float) -> int:
    """Smallest filler count whose statistic is <= threshold."""
    f = 1
    while value_of(f) > threshold:
        f += 1
    return f


@pytest.mark.parametrize("n,threshold", [(2, 0.20), (3, 0.18), (4, 0.16)])
def test_top_ngram_both_sides(n: int, threshold: float) -> None:
    rules = only(max_top_ngram_char_frac={n: threshold})
    copies = 8

    def value(f: int) -> float:
        return rp.repetition_stats(gram_text(n, copies, f), rules).top_ngram_char_frac[n]

    f = boundary_fillers(value, threshold)
    assert value(f) == pytest.approx(n * copies / (f + n * copies))
    assert failed(gram_text(n, copies, f), rules) == []
    assert failed(gram_text(n, copies, f - 1), rules) == [f"gopher_top_{n}gram_char_frac"]


def test_top_ngram_single_occurrence_is_not_repetition() -> None:
    rules = only(max_top_ngram_char_frac={2: 0.2})
    assert rp.repetition_stats("aa bb", rules).top_ngram_char_frac[2] == 0.0


def test_top_ngram_overlaps_count_once() -> None:
    rules = only(max_top_ngram_char_frac={2: 0.2})
    # "aa aa aa aa": the 2-gram (aa, aa) occurs 3 times, overlapping; 4 words covered once
    assert rp.repetition_stats("aa aa aa aa", rules).top_ngram_char_frac[2] == 1.0


@pytest.mark.parametrize("n,threshold", [(5, .15), (6, .14), (7, .13), (8, .12), (9, .11),
                                         (10, .10)])
def test_dup_ngram_both_sides(n: int, threshold: float) -> None:
    rules = only(max_dup_ngram_char_frac={n: threshold})
    copies = 3

    def value(f: int) -> float:
        return rp.repetition_stats(gram_text(n, copies, f), rules).dup_ngram_char_frac[n]

    f = boundary_fillers(value, threshold)
    assert value(f) == pytest.approx(n * (copies - 1) / (f + n * copies))  # first copy free
    assert failed(gram_text(n, copies, f), rules) == []
    assert failed(gram_text(n, copies, f - 1), rules) == [f"gopher_dup_{n}gram_char_frac"]


def test_dup_ngram_count_first_occurrence() -> None:
    text = gram_text(5, 2, 10)
    lenient = rp.repetition_stats(text, only(max_dup_ngram_char_frac={5: 0.15}))
    strict = rp.repetition_stats(text, only(max_dup_ngram_char_frac={5: 0.15},
                                            count_first_occurrence=True))
    assert lenient.dup_ngram_char_frac[5] == pytest.approx(5 / 20)
    assert strict.dup_ngram_char_frac[5] == pytest.approx(10 / 20)


def test_dup_ngram_overlapping_repeats_count_each_word_once() -> None:
    text = " ".join(["aa"] * 20)  # every 5-gram equal; words 1..19 are in repeats
    stats = rp.repetition_stats(text, only(max_dup_ngram_char_frac={5: 0.15}))
    assert stats.dup_ngram_char_frac[5] == pytest.approx(19 / 20)


def test_chinese_routing_and_chars() -> None:
    text = "今天天气很好。" * 20
    assert rp.evaluate(text, "zh", rp.Config(other_languages="pass",
                                             rule_files=[], default_languages=["en"])) is not None
    assert rp.Config().rule_set("zh")[0] == "zh_thucnews"  # built in, jieba words
    stats, drops = rp.evaluate(text, "zh", rp.Config())  # type: ignore[misc]
    assert drops and stats.top_ngram_char_frac[2] > 0.2
    chars = rp.Config(segmentation={"segmenters": {"zh": "chars"}})
    assert rp.evaluate(text, "zh", chars)[1]  # type: ignore[index]


def test_rule_set_recorded_and_policy() -> None:
    text = "ein Satz hier und dort\n" * 10
    doc = Doc(id="g", text=text, lang="de")
    result = rp.repetition_doc(doc, rp.Config())
    assert isinstance(result, Drop) and doc.meta["rule_sets"] == {"repetition": "fineweb2/deu_Latn"}
    eo = Doc(id="e", text="unu linio\nalia linio", lang="eo")
    assert rp.repetition_doc(eo, rp.Config(other_languages="pass")) is eo
    assert eo.meta["rule_sets"] == {"repetition": None}
    dropped = rp.repetition_doc(Doc(id="d", text="x", lang="eo"), rp.Config(other_languages="drop"))
    assert isinstance(dropped, Drop) and dropped.reason == "no_rule_set"


def test_stage_core() -> None:
    bad = Doc(id="a", text="same line here\n" * 10, lang="en")
    result = rp.repetition_doc(bad, rp.Config())
    assert isinstance(result, Drop) and result.reason == "gopher_dup_line_frac"
    good = Doc(id="b", text=" ".join(FILL[:200]), lang="en")
    assert rp.repetition_doc(good, rp.Config()) is good


@pytest.mark.parametrize("text", ["", "one", "- a\n- b\n- c", "... \n…\n...", "x" * 3000,
                                  "مرحبا بالعالم " * 30, "שלום עולם\n" * 10, "\x00\x01\x02 \x00",
                                  "中文文本没有空格" * 10])
def test_edge_cases_no_exceptions(text: str) -> None:
    stats = rp.repetition_stats(text, rp.RepetitionRules())
    for value in rp.rule_statistics(stats).values():
        assert 0.0 <= value <= 1.0


def test_rtl_repetition_detected() -> None:
    result = rp.repetition_doc(Doc(id="r", text="שלום עולם\n" * 10), rp.Config())
    assert isinstance(result, Drop)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.sampled_from(["space", "chars"]), st.booleans())
def test_fractions_in_unit_interval(text: str, mode: str, first: bool) -> None:
    rules = rp.RepetitionRules(count_first_occurrence=first)
    stats = rp.repetition_stats(text, rules, mode)
    for value in rp.rule_statistics(stats).values():
        assert 0.0 <= value <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["aa", "bb", "cc", "ddd"]), max_size=60))
def test_ngram_fractions_match_reference(words: list[str]) -> None:
    """The vectorised statistics equal a plain-Python reference on small vocabularies."""
    text = " ".join(words)
    stats = rp.repetition_stats(text, rp.RepetitionRules())
    total = sum(map(len, words))
    for n in (5, 7):
        seen: set = set()
        covered = [False] * len(words)
        for i in range(len(words) - n + 1):
            gram = tuple(words[i:i + n])
            if gram in seen:
                for j in range(i, i + n):
                    covered[j] = True
            seen.add(gram)
        expected = sum(len(w) for w, c in zip(words, covered) if c) / total if total else 0.0
        assert stats.dup_ngram_char_frac[n] == pytest.approx(expected)


def test_bilingual_pipeline_run_counts_per_rule(tmp_path) -> None:
    """zh_web.yaml end to end: zh news kept by zh rules, English rejects counted per rule."""
    import json

    from tests.conftest import PROJECT
    from tests.helpers import assert_conserved, rows, run

    zh_news = ("国家统计局今天发布数据显示，今年前三季度国内生产总值同比增长百分之五，经济运行总体平稳。"
               "专家表示，消费和投资都在稳步恢复，就业形势也保持稳定，为全年目标的实现打下了基础。"
               "与此同时，出口增速有所放缓，部分行业仍然面临较大压力，需要进一步加大政策支持力度。"
               "业内人士认为，随着一系列稳增长措施落地见效，第四季度经济有望继续回升向好。")
    english = ("The committee met on Tuesday to discuss the budget for the coming year. Most members "
               "agreed that the new plan was better than the old one, although several of them had "
               "doubts about the cost of the proposed bridge. After a long debate, they decided to "
               "ask the city engineers for a second estimate and to vote again next month, when the "
               "figures will be available to everyone with an interest in the project.")
    records = [
        {"id": "zh-news", "text": zh_news},
        {"id": "en-good", "text": english},
        {"id": "en-short", "text": "The cat sat on the mat with the dog."},
        {"id": "en-repeat", "text": "\n".join([english] + ["Buy the best shoes with the lowest "
                                                          "price and free shipping today."] * 12)},
    ]
    shard = tmp_path / "shard.jsonl"
    shard.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                     encoding="utf-8")
    out = run([str(shard)], tmp_path / "out", config=str(PROJECT / "configs" / "zh_web.yaml"),
              overrides=["safety.enabled=false", "dedup.enabled=false",
                         "decontaminate.enabled=false", "tokenize.enabled=false"])
    data = assert_conserved(out)
    kept = {r["id"]: r for r in rows(out, "kept")}
    assert set(kept) == {"zh-news", "en-good"} and kept["zh-news"]["lang"] == "zh"
    stages = {s["stage"]: s for s in data["stages"]}
    assert set(stages["quality"]["reasons"]) == {"gopher_word_count"}
    assert list(stages["repetition"]["reasons"])[0].startswith("gopher_dup_line")
