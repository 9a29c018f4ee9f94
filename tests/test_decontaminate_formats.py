"""Decontamination on benchmark files as they are published (issue 16) and the spellings and
run boundaries that walked around it (issue 14). Small synthetic files reproduce each pattern;
every test here goes only through the config and the stage's public functions."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.cli import main as cli_main
from stages import ngrams
from stages.decontaminate import Config, build_index, decontaminate_text, find
from stages.record import Doc
from tests.helpers import run_one_stage
from stages.textnorm import normalize_for_matching

FILLER = ("The river ran slowly past the old mill where the miller kept his accounts in a green "
          "ledger and nobody ever asked him why the wheel had stopped turning that winter. ")
BODY = FILLER * 4  # 712 characters of clean text


def _jsonl(tmp_path: Path, records: list[dict], name: str = "bench.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def _source(path: Path, **spec) -> dict:
    return {"name": "bench", "path": str(path), **spec}


def _found(config: Config, text: str) -> bool:
    return bool(find(text, build_index(config, seed=1)))


# ------------------------------------------------------------------ loading -----------------

def test_jsonl_splits_at_newlines_only_not_inside_json_strings(tmp_path: Path) -> None:
    """U+0085 / U+2028 / U+2029 are legal raw inside a JSON string; str.splitlines() split the
    record there and the benchmark failed to load."""
    question = ("A farmer plants seven rows of corn\u2028and each row holds twelve plants; "
                "how many\u0085plants are there in all\u2029the rows together?")
    path = _jsonl(tmp_path, [{"q": "one two three four five six seven eight nine ten"},
                             {"q": question}])
    config = Config(benchmarks=[_source(path, fields="q")])
    page = BODY + question.replace("\u2028", " ").replace("\u0085", " ").replace(
        "\u2029", " ") + " " + BODY
    out = decontaminate_text(page, build_index(config, seed=1), config)
    assert out.drop is None and "corn" not in out.text and "twelve" not in out.text


def test_bad_benchmark_line_fails_config_validation_naming_benchmark_file_and_line(
        tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"q": "fine"}\n{"q": "also fine"}\n{"q": "unterminated\n', encoding="utf-8")
    with pytest.raises(ValidationError) as error:
        Config(benchmarks=[{"name": "my_bench", "path": str(path), "fields": "q"}])
    message = str(error.value)
    assert "my_bench" in message and str(path) in message and "line 3" in message


def test_validate_verb_reads_every_benchmark_file(tmp_path: Path, capsys) -> None:
    """`validate` must fail where `run` would: it loads every benchmark file."""
    path = tmp_path / "broken.jsonl"
    path.write_text('{"q": "a b c d e f g h i"}\nnot json at all\n', encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text("decontaminate:\n  benchmarks:\n"
                      f"    - {{name: broken_bench, path: {json.dumps(str(path))}, fields: q}}\n")
    assert cli_main(["validate", "--config", str(config)]) != 0
    err = capsys.readouterr().err
    assert "broken_bench" in err and str(path) in err and "line 2" in err


def test_field_spec_that_matches_nothing_fails_validation(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, [{"question": "x y z"}])
    with pytest.raises(ValidationError, match="no items"):
        Config(benchmarks=[_source(path, fields="questoin")])


# ------------------------------------------------------------------ items over several fields

CONTEXT = "A man kneels on the frozen lake. He"  # 8 words; the page quotes context + ending
ENDINGS = ["drills a small hole and drops in a line.", "eats a sandwich in the car.",
           "sings loudly to the crowd of people.", "paints the barn a bright red."]


def test_context_with_one_of_several_endings(tmp_path: Path) -> None:
    """A context whose answer is one of several endings: one item text per ending."""
    path = _jsonl(tmp_path, [{"ctx": CONTEXT, "endings": ENDINGS, "label": 0}])
    config = Config(benchmarks=[_source(path, fields=["ctx", "endings[*]"])],
                    min_item_words=10)  # the context alone is too short to match
    assert _found(config, BODY + CONTEXT + " " + ENDINGS[0] + " " + BODY)
    assert _found(config, BODY + CONTEXT + " " + ENDINGS[2] + " " + BODY)
    assert not _found(config, BODY + "He drills a small hole and drops in a line. " + BODY)


LABELLED = """Activity label: Ice fishing
Context: A man kneels on the frozen lake and clears the snow. He
Ending: drills a small hole and lowers a baited line.

Activity label: Baking cookies
Context: A woman measures flour into a large glass bowl on the counter. She
Ending: cracks two eggs into the flour and stirs it slowly.
Activity label: Washing the car
Context: A boy sprays the muddy car with a long green garden hose. He
Ending: scrubs the wheels with a stiff brush until they shine.
"""


def test_text_groups_of_labelled_lines_with_the_labels_stripped(tmp_path: Path) -> None:
    path = tmp_path / "hellaswag.txt"
    path.write_text(LABELLED, encoding="utf-8")
    config = Config(benchmarks=[_source(
        path, format="text", fields="paragraphs", item_start="Activity label:",
        strip_prefix="(Activity label|Context|Ending): *")])
    index = build_index(config, seed=1)
    assert index.stats["bench"]["items"] == 3
    for context, ending in (("A man kneels on the frozen lake and clears the snow. He",
                             "drills a small hole and lowers a baited line."),
                            ("A boy sprays the muddy car with a long green garden hose. He",
                             "scrubs the wheels with a stiff brush until they shine.")):
        page = BODY + context + " " + ending + " " + BODY
        assert find(page, index), context
        cut = decontaminate_text(page, index, config)
        assert cut.text is None or "drills" not in cut.text and "scrubs" not in cut.text


# ------------------------------------------------------------------ short items and parts ---

def test_short_question_found_when_the_page_quotes_only_the_question(tmp_path: Path) -> None:
    """An NQ-like [question, answer[]] item: the joined string's 13-grams cross into the
    answers, which a page quoting the question does not contain."""
    question = "who played the lead role in the first silent film version"  # 11 words
    path = _jsonl(tmp_path, [{"question": question,
                              "answer": ["Mary Pickford", "Gladys Louise Smith"]}])
    config = Config(benchmarks=[_source(path, fields=["question", "answer[]"])])
    assert _found(config, BODY + "Quiz: " + question.capitalize() + "? " + BODY)


def test_short_question_stem_found_without_its_choices(tmp_path: Path) -> None:
    """An OpenBookQA-like stem joined with its choices."""
    stem = "Which of these objects would let the most heat travel through"  # 11 words
    path = _jsonl(tmp_path, [{"question_stem": stem,
                              "choices": {"text": ["a new pair of jeans", "a steel spoon",
                                                   "a cotton candy", "a calvin klein shirt"],
                                          "label": ["A", "B", "C", "D"]}}])
    config = Config(benchmarks=[_source(path, fields=["question_stem", "choices.text[]"])])
    assert _found(config, BODY + stem + "? " + BODY)
    assert not _found(config, BODY + "Which of these objects would let the most light in. "
                      + BODY)


def test_item_length_is_counted_after_the_matchers_normalisation(tmp_path: Path) -> None:
    """How an item is matched (n-grams, whole, too short) depends on the words the matcher
    compares: "½" becomes "1⁄2" (two words), a soft-hyphenated word is one word, "&" and "£"
    are no words at all."""
    fractions = "Add ½ cup & ¼ tsp salt"  # 6 raw words, 8 after NFKC
    hyphens = "Re\u00adcy\u00adcling old news\u00adpa\u00adpers is easy"  # 9 raw, 5 normal
    symbols = "Tom & Jerry ' s £ 5 deal"  # 8 by whitespace, 5 words
    path = _jsonl(tmp_path, [{"q": t} for t in (fractions, hyphens, symbols)])
    config = Config(benchmarks=[_source(path, fields="q")])
    index = build_index(config, seed=1)
    stats = index.stats["bench"]
    assert (stats["items"], stats["too_short"], stats["short_items"]) == (3, 2, 1)
    assert find(BODY + "Add 1/2 cup & 1/4 tsp salt. " + BODY, index)


# ------------------------------------------------------------------ same normal form -------

PASSAGE = ("The committee approved the new budget after a long debate about the costs of "
           "repairing the old bridge over the river")


def test_soft_hyphens_and_fullwidth_in_the_page_do_not_hide_the_passage(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, [{"q": PASSAGE}])
    config = Config(benchmarks=[_source(path, fields="q")])
    index = build_index(config, seed=1)
    disguised = (PASSAGE.replace("committee", "com\u00admit\u00adtee")
                 .replace("budget", "ｂｕｄｇｅｔ").replace("debate", "de\u200bbate")
                 .replace("bridge", "bri\u00addge"))
    page = BODY + disguised + ". " + BODY
    matches = find(page, index)
    assert matches
    start = page.index(disguised)
    assert min(m.start for m in matches) == start  # spans are offsets of the original text
    assert max(m.end for m in matches) == start + len(disguised)
    out = decontaminate_text(page, index, config)
    assert out.drop is None and "ｂｕｄｇｅｔ" not in out.text and "mit\u00adtee" not in out.text


def test_soft_hyphens_and_fullwidth_in_the_benchmark_do_not_hide_it(tmp_path: Path) -> None:
    disguised = (PASSAGE.replace("approved", "ap\u00adproved").replace("debate", "ｄｅｂａｔｅ")
                 .replace("bridge", "bri\u200bdge").replace("river", "ｒｉｖｅｒ"))
    path = _jsonl(tmp_path, [{"q": disguised}])
    config = Config(benchmarks=[_source(path, fields="q")])
    assert _found(config, BODY + PASSAGE + ". " + BODY)


# ------------------------------------------------------------------ Beam: counts, run split -

def _run_stage(config: Config, docs: list[Doc], tmp: Path) -> tuple[list, list, dict]:
    from stages.decontaminate import SPEC

    return run_one_stage(SPEC, config, docs, tmp, "contamination", ["run.seed=5"])


def test_chars_removed_counts_the_short_leftover_pieces_dropped_with_the_cut(
        tmp_path: Path) -> None:
    path = _jsonl(tmp_path, [{"q": PASSAGE}])
    config = Config(benchmarks=[_source(path, fields="q")])
    tail = "A short tail of about eighty characters that is dropped with the cut region."
    text = BODY + PASSAGE + ". " + " " * 150 + tail  # the leftover after the cut is < 200
    kept, _, report = _run_stage(config, [Doc(id="d", source="t", text=text)], tmp_path / "run")
    (doc,) = kept
    assert tail not in doc.text
    row = report["benchmarks"]["bench"]
    assert row["chars_removed"] == len(text) - len(doc.text)
    assert row["words_removed"] == len(text.split()) - len(doc.text.split())


def test_a_question_quoted_on_many_pages_of_one_run_is_cut_from_every_page(
        tmp_path: Path) -> None:
    """By default nothing depends on how many pages of this run quote the item."""
    path = _jsonl(tmp_path, [{"q": PASSAGE}])
    config = Config(benchmarks=[_source(path, fields="q")])
    docs = [Doc(id=f"p{i}", source="t", text=BODY + PASSAGE + ". " + BODY) for i in range(12)]
    kept, rejected, report = _run_stage(config, docs, tmp_path / 'run')
    assert not rejected and len(kept) == 12
    assert all("committee" not in d.text for d in kept)
    assert report["ignored_common_ngrams"] == 0


def test_template_text_shared_by_many_items_is_not_indexed(tmp_path: Path) -> None:
    """An instruction repeated in every item is no item's content (and is common on the web)."""
    instruction = "Read the passage below very carefully and then answer the question that follows"
    records = [{"q": f"{instruction}. Question {i}: what colour was the {animal} in the story?"}
               for i, animal in enumerate(["cat", "dog", "horse", "goat", "cow", "sheep", "duck",
                                           "hen", "pig", "fox", "owl", "bee"])]
    path = _jsonl(tmp_path, records)
    config = Config(benchmarks=[_source(path, fields="q")])
    index = build_index(config, seed=1)
    assert index.stats["bench"]["template_ngrams"] > 0
    assert not find(BODY + instruction + ". " + BODY, index)
    assert find(BODY + records[3]["q"] + " " + BODY, index)
    loose = Config(benchmarks=[_source(path, fields="q")], max_items_per_ngram=None)
    assert _found(loose, BODY + instruction + ". " + BODY)


def test_listed_common_phrases_are_ignored_whatever_the_run(tmp_path: Path) -> None:
    common = "to be or not to be that is the question whether tis nobler in the mind"
    path = _jsonl(tmp_path, [{"q": common + " to suffer the slings and arrows"}])
    listing = tmp_path / "common.txt"
    listing.write_text("# made by tools/common_ngrams.py\n" + common.upper() + "\n")
    config = Config(benchmarks=[_source(path, fields="q")], ignore_ngrams=str(listing))
    index = build_index(config, seed=1)
    assert index.stats["bench"]["ignored_ngrams"] > 0
    assert not find(BODY + common + ". " + BODY, index)
    assert find(BODY + "the question whether tis nobler in the mind to suffer the slings and "
                "arrows of outrageous fortune " + BODY, index)
    with pytest.raises(ValidationError, match="ignore_ngrams"):
        Config(ignore_ngrams=str(tmp_path / "missing.txt"))


def test_words_of_items_and_documents_come_from_one_function() -> None:
    text = "ﬁne Ｃａｆé\u00ad au lait, don't ½"
    assert ngrams.normalized_words(text) == ngrams.normalize(text).words


TRICKY = ("a", "b", "Z", "1", " ", "\n", "\u00a0", "\u3000", "\u2028", "-", "'", "&", "£",
          "\u00ad", "\u200b", "\u200e", "\ufeff", "ｆ", "Ａ", "１", "，", "…", "½", "²", "™", "ﬁ",
          "e", "\u0301", "é", "ｶ", "ﾞ", "ガ", "日", "\u1100", "\u1161", "\u11a8", "İ", "ß", "¨")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TRICKY), max_size=40).map("".join))
def test_normalize_equals_the_whole_text_normal_form_and_spans_hold_their_words(
        text: str) -> None:
    """Segment-wise normalisation with offsets gives exactly the words of the whole text's
    normal form, and every word's span of the original text normalises to a text holding it."""
    words = ngrams.normalize(text)
    reference = [w.lower() for w in ngrams.WORD_RE.findall(normalize_for_matching(text))]
    assert words.words == reference == ngrams.normalized_words(text)
    for word, start, end in zip(*words):
        assert 0 <= start < end <= len(text)
        assert word in "".join(ngrams.normalized_words(text[start:end]))


def test_a_label_starting_most_items_is_reported(tmp_path: Path) -> None:
    """'Question: ' joined into every short question hides it from pages; the index stats name
    the label so the config can strip it."""
    records = [{"query": f"Question: which planet in the night sky is the {c} one tonight?"}
               for c in ("red", "blue", "brightest")]
    path = _jsonl(tmp_path, records)
    index = build_index(Config(benchmarks=[_source(path, fields="query")]), seed=1)
    assert index.stats["bench"]["leading_label"] == {"label": "Question:", "items": 3}
    page = BODY + "Which planet in the night sky is the red one tonight? " + BODY
    assert not find(page, index)
    stripped = Config(benchmarks=[_source(path, fields="query", strip_prefix="Question: *")])
    assert _found(stripped, page)
    assert build_index(stripped, seed=1).stats["bench"]["leading_label"] is None
