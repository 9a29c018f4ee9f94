"""decontaminate: normalisation, offsets, cutting, field specs, Beam max_matches / join, demo."""
from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from pipeline.config import DEMO_INPUT, ConfigError
from pipeline.registry import available_stages
from stages import ngrams
from stages.benchmarks import BenchmarkSource, detect_format, iter_items, load_items, values_at
from stages.decontaminate import (REASON, Config, build_index, cut_regions,
                                  decontaminate_text, find, hash_seed, pieces_between)
from stages.record import Doc
from tests.helpers import run_one_stage
from tests.conftest import PROJECT, SHARED_DATA, shared_path
from tests.helpers import assert_conserved, rows, run

GSM = ("Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and "
       "bakes muffins for her friends every day with four.")
FILLER = ("The river ran slowly past the old mill where the miller kept his accounts in a green "
          "ledger and nobody ever asked him why the wheel had stopped turning that winter. ")


def _bench_file(tmp_path: Path, items: list[str], name: str = "b.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps({"q": item}) + "\n" for item in items))
    return path


def _config(tmp_path: Path, items: list[str], **changes) -> Config:
    path = _bench_file(tmp_path, items)
    return Config(benchmarks=[{"name": "bench", "path": str(path), "fields": "q"}], **changes)


# ------------------------------------------------------------------ normalisation ---------

def test_normalize_gpt3_words_and_offsets() -> None:
    text = "Janet\u2019s DUCKS, lay 16 eggs!  Guest-starring @-@ has_close_elements"
    words = ngrams.normalize(text)
    assert words.words == ["janet", "s", "ducks", "lay", "16", "eggs", "guest", "starring",
                           "has", "close", "elements"]
    for word, start, end in zip(*words):
        assert text[start:end].lower() == word
    # tokenised benchmark form and running text agree
    assert ngrams.normalized_words("don 't , guest @-@ starring") == \
        ngrams.normalized_words("Don't guest-starring")


def test_window_hashes_equal_hash_of_joined_words() -> None:
    words = ngrams.normalized_words(FILLER)
    grams = ngrams.window_hashes(words, 5, seed=3)
    assert len(grams) == len(words) - 4
    assert int(grams[7]) == ngrams.hash_gram(words[7:12], seed=3)
    assert int(grams[7]) != ngrams.hash_gram(words[7:12], seed=4)  # seeded
    assert len(ngrams.window_hashes(words[:3], 5, seed=3)) == 0


def test_match_maps_back_to_original_characters(tmp_path: Path) -> None:
    config = _config(tmp_path, [GSM])
    index = build_index(config, seed=1)
    text = FILLER + GSM.upper() + " " + FILLER
    matches = find(text, index)
    assert matches, "planted item not found"
    start = min(m.start for m in matches)
    end = max(m.end for m in matches)
    assert start == len(FILLER)
    assert text[start:end] == GSM.upper()[:-1]  # up to the last word, without the final '.'


def test_short_items_match_whole_and_too_short_are_skipped(tmp_path: Path) -> None:
    nine = "when was the last time anyone was on the moon"  # 10 words
    seven = "who wrote the song about the moon"  # 7 words
    config = _config(tmp_path, [nine, seven])
    index = build_index(config, seed=1)
    stats = index.stats["bench"]
    assert (stats["short_items"], stats["too_short"], stats["ngrams"]) == (1, 1, 1)
    assert find(FILLER + nine.title() + "? " + FILLER, index)
    assert not find(FILLER + "when was the last time anyone was on the " + FILLER, index)
    assert not find(FILLER + seven + " " + FILLER, index)


def test_index_find_equals_brute_force_over_every_window(tmp_path: Path) -> None:
    """The short-item prefix filter must not lose any window a full scan would find."""
    import random

    rng = random.Random(3)
    vocab = "a b c d e f the moon who was".split()
    items = [" ".join(rng.choice(vocab) for _ in range(rng.randint(8, 15))) for _ in range(60)]
    config = _config(tmp_path, items)
    index = build_index(config, seed=2)
    assert len(index.lengths) > 3  # several short lengths
    for trial in range(20):
        parts = [" ".join(rng.choice(vocab) for _ in range(30))] + rng.sample(items, 3)
        rng.shuffle(parts)
        words = ngrams.normalized_words(" ".join(parts))
        brute = set()
        table = set(index.hashes.tolist())
        for length in index.lengths:
            for pos, value in enumerate(ngrams.window_hashes(words, length, index.seed).tolist()):
                if value in table:
                    brute.add((pos, length, value))
        assert {(h.start, h.length, h.hash) for h in index.find(words)} == brute


# ------------------------------------------------------------------ cutting ---------------

def test_cut_regions_widen_merge_and_clip() -> None:
    assert cut_regions([(500, 560)], 1000, 200) == [(300, 760)]
    assert cut_regions([(100, 150), (500, 560)], 1000, 200) == [(0, 760)]  # merged, clipped
    assert cut_regions([(900, 990)], 1000, 200) == [(700, 1000)]
    assert cut_regions([(100, 150), (900, 950)], 1200, 200) == [(0, 350), (700, 1150)]
    assert pieces_between(1200, [(0, 350), (700, 1150)]) == [(350, 700), (1150, 1200)]


def test_span_mode_cuts_200_chars_each_side_and_drops_short_pieces(tmp_path: Path) -> None:
    config = _config(tmp_path, [GSM])
    index = build_index(config, seed=1)
    before, after = FILLER * 5, FILLER * 1  # after: 178 chars (< 200) -> dropped piece
    text = before + GSM + " " + after
    out = decontaminate_text(text, index, config)
    assert out.drop is None
    start = len(before)
    assert out.text == text[:start - 200].strip()
    assert "ducks" not in out.text.lower()
    assert out.chars_removed == len(text) - len(out.text)
    assert out.per_bench == {0: len(find(text, index))}


def test_span_mode_drops_when_split_into_too_many_pieces(tmp_path: Path) -> None:
    config = _config(tmp_path, [GSM], max_splits=3, min_piece_chars=10)
    index = build_index(config, seed=1)
    block = FILLER * 3  # 534 chars > 2 * 200: every cut leaves a piece between
    three = block + GSM + block + GSM + block  # 3 pieces: kept
    out = decontaminate_text(three, index, config)
    assert out.drop is None and len(out.text.split("\n\n")) == 3
    four = three + GSM + block  # 4 pieces > 3: dropped
    out = decontaminate_text(four, index, config)
    assert out.drop is not None and out.drop.reason == REASON and "4 pieces" in out.drop.detail


def test_span_mode_drops_when_nothing_is_left(tmp_path: Path) -> None:
    config = _config(tmp_path, [GSM])
    out = decontaminate_text("Puzzle: " + GSM, build_index(config, seed=1), config)
    assert out.drop is not None and out.text is None


def test_document_mode_drops_on_any_hit_and_keeps_clean(tmp_path: Path) -> None:
    config = _config(tmp_path, [GSM], mode="document")
    index = build_index(config, seed=1)
    assert decontaminate_text(FILLER * 3 + GSM, index, config).drop.reason == REASON
    clean = decontaminate_text(FILLER * 3, index, config)
    assert clean.drop is None and clean.text == FILLER * 3 and clean.chars_removed == 0


def test_ignored_hashes_are_not_cut(tmp_path: Path) -> None:
    config = _config(tmp_path, [GSM])
    index = build_index(config, seed=1)
    text = FILLER * 3 + GSM + FILLER * 3
    ignored = frozenset(m.hash for m in find(text, index))
    assert decontaminate_text(text, index, config, ignored).text == text


def test_config_bounds() -> None:
    for bad in ({"ngram": 1}, {"mode": "paragraph"}, {"max_matches": 0},
                {"min_item_words": 20}, {"index_max_bytes": 0}, {"unknown": 1},
                {"benchmarks": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]}):
        with pytest.raises(ValidationError):
            Config(**bad)


def test_hash_seed_depends_on_run_seed() -> None:
    assert hash_seed(1) != hash_seed(2) and hash_seed(1) == hash_seed(1)


# ------------------------------------------------------------------ field specs ------------

def test_nested_path_list_of_fields_and_line() -> None:
    squad = json.dumps({"data": [{"paragraphs": [{"context": "c1", "qas": [{"question": "q1"},
                                                                        {"question": "q2"}]},
                                                 {"context": "c2", "qas": []}]},
                                 {"paragraphs": [{"context": "c3"}]}]})
    def texts(*args, **kwargs) -> list[str]:
        return [item.text for item in iter_items(*args, **kwargs)]

    assert texts(squad, "json", "data[].paragraphs[].context") == ["c1", "c2", "c3"]
    assert texts(squad, "json", "data[].paragraphs[].qas[].question") == ["q1", "q2"]
    assert texts(squad, "json", ("context", "qas[].question"),
                 records="data[].paragraphs[]") == ["c1 q1 q2", "c2", "c3"]
    arc = '{"query": "Q: why?", "choices": ["a b", "c"], "gold": 1}\n\n{"query": "x"}\n'
    assert texts(arc, "jsonl", ("query", "choices[]")) == ["Q: why? a b c", "x"]
    # each value is one part; [*] makes one variant per value
    assert [i.variants for i in iter_items(arc, "jsonl", ("query", "choices[]"))] == \
        [(("Q: why?", "a b", "c"),), (("x",),)]
    assert [i.variants for i in iter_items(arc, "jsonl", ("query", "choices[*]"))] == \
        [(("Q: why?", "a b"), ("Q: why?", "c")), (("x",),)]
    assert texts(arc, "jsonl", ("query", "choices[*]"), strip_prefix="Q: ") == ["why? a b", "x"]
    assert texts(arc, "jsonl", "choices[1]") == ["c"]
    assert texts(arc, "jsonl", "line") == [arc.splitlines()[0], '{"query": "x"}']
    text = " = Title = \n \n Para one .\n Para two .\n\n\nAfter gap\n"
    assert texts(text, "text", "line") == [" = Title = ", " Para one .", " Para two .",
                                           "After gap"]
    paragraphs = list(iter_items(text, "text", "paragraphs"))
    assert [i.variants for i in paragraphs] == [((" = Title = ",),),
                                                ((" Para one .", " Para two ."),),
                                                (("After gap",),)]
    assert texts(text, "text", "document") == [" = Title =   Para one .  Para two . After gap"]
    crlf = "Label: one\r\nmore\r\rLabel: two\rLabel: three\r\n"
    assert [i.variants for i in iter_items(crlf, "text", "paragraphs", item_start="Label:",
                                           strip_prefix="Label: ")] == \
        [(("one", "more"),), (("two",),), (("three",),)]
    assert list(values_at({"a": [{"b": 1}, {"c": 2}]}, "a[].b")) == [1]
    with pytest.raises(ValueError):
        list(iter_items(text, "text", "question"))
    with pytest.raises(ValidationError):
        BenchmarkSource(name="x", path="y", fields="a..b")


def test_compressed_files_and_format_detection(tmp_path: Path) -> None:
    lines = "".join(json.dumps({"q": f"item {i}"}) + "\n" for i in range(3)).encode()
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(lines))
    (tmp_path / "b.jsonl.bz2").write_bytes(bz2.compress(lines))
    for name in ("b.jsonl.gz", "b.jsonl.bz2"):
        source = BenchmarkSource(name="b", path=str(tmp_path / name), fields="q")
        assert [item.text for item in load_items(source)] == ["item 0", "item 1", "item 2"]
    assert [detect_format(p) for p in ("a.json", "a.JSONL.gz", "a.txt.bz2", "x")] == \
        ["json", "jsonl", "text", "text"]
    relative = BenchmarkSource(name="b", path="configs/benchmarks/gsm8k_test_sample.jsonl")
    # a relative path outside a config file is a bundled name (shipped in the package)
    assert relative.resolved_path().samefile(PROJECT / "configs/benchmarks/gsm8k_test_sample.jsonl")


def test_bundled_sample_holds_the_demo_item() -> None:
    items = load_items(Config().benchmarks[0])
    assert len(items) == 20 and items[0].text.startswith("Janet\u2019s ducks lay 16 eggs per day")


EXPECTED_ITEMS = {"gsm8k": 1319, "humaneval": 164, "nq_open": 3610, "squad_v2_contexts": 646,
                  "squad_v2_questions": 6078, "arc_challenge": 1172, "piqa": 1838,
                  "winogrande": 1267, "lambada": 5153}


def shared_benchmarks() -> Config:
    """configs/benchmarks_all.yaml with its ../shared/data paths taken from SHARED_DATA (a
    worktree's ../shared may not exist); skips when the shared benchmarks are absent."""
    shared_path("benchmarks")
    section = yaml.safe_load((PROJECT / "configs" / "benchmarks_all.yaml").read_text())
    sources = section["decontaminate"]["benchmarks"]
    for source in sources:
        source["path"] = str(SHARED_DATA / source["path"].split("shared/data/", 1)[1])
    return Config(benchmarks=sources)


@pytest.mark.parametrize("name", sorted(EXPECTED_ITEMS) + ["wikitext2"])
def test_every_shared_benchmark_loads_with_its_spec(name: str) -> None:
    config = shared_benchmarks()
    source = next(s for s in config.benchmarks if s.name == name)
    items = load_items(source)
    texts = [item.text for item in items]
    if name in EXPECTED_ITEMS:  # item counts from ../shared/data/benchmarks/PROVENANCE.md
        assert len(items) == EXPECTED_ITEMS[name]
    else:
        assert len(items) > 2000 and any("Robert <unk> is an English film" in t for t in texts)
    assert all(part.strip() for item in items for variant in item.variants for part in variant)
    assert sum(len(ngrams.normalized_words(t)) >= 8 for t in texts) > len(items) / 2


# ------------------------------------------------------------------ Beam ------------------

def _run_stage(config: Config, docs: list[Doc], tmp: Path) -> tuple[list, list, dict]:
    from stages.decontaminate import SPEC

    return run_one_stage(SPEC, config, docs, tmp, "contamination", ["run.seed=5"])


def test_beam_max_matches_ignores_common_ngrams(tmp_path: Path) -> None:
    common = "the quick brown fox jumps over the lazy dog while the cat sleeps soundly today"
    config = _config(tmp_path, [GSM + " " + GSM.replace("Janet", "Mary"), common],
                     max_matches=3)
    body = FILLER * 4
    docs = [Doc(id=f"common-{i}", source="t", text=body + common + ". " + body) for i in range(4)]
    docs += [Doc(id="dirty", source="t", text=body + GSM + " " + body),
             Doc(id="dropped", source="t", text="Puzzle. " + GSM),
             Doc(id="clean", source="t", text=body)]
    kept, rejected, report = _run_stage(config, docs, tmp_path / 'run')
    by_id = {d.id: d for d in kept}
    for i in range(4):  # 4 documents > max_matches=3: common phrase, left alone
        assert by_id[f"common-{i}"].text == docs[i].text
    assert "ducks" not in by_id["dirty"].text and by_id["dirty"].meta["decontam"]["bench"] > 0
    assert by_id["clean"].text == body
    assert [(r.doc.id, r.reason) for r in rejected] == [("dropped", REASON)]
    row = report["benchmarks"]["bench"]
    assert report["ignored_common_ngrams"] > 0
    assert (row["items"], row["dirty_items"], row["docs_touched"], row["docs_dropped"]) == \
        (2, 1, 2, 1)
    assert row["chars_removed"] > len(GSM) and row["examples"]


def test_beam_same_ngrams_under_the_limit_are_cut(tmp_path: Path) -> None:
    common = "the quick brown fox jumps over the lazy dog while the cat sleeps soundly today"
    config = _config(tmp_path, [common], max_matches=10)
    body = FILLER * 4
    docs = [Doc(id=f"c{i}", source="t", text=body + common + ". " + body) for i in range(4)]
    kept, rejected, report = _run_stage(config, docs, tmp_path / 'run')
    assert not rejected and all("quick brown" not in d.text for d in kept)
    assert report["ignored_common_ngrams"] == 0
    assert report["benchmarks"]["bench"]["docs_touched"] == 4


def test_an_index_over_the_worker_budget_fails_before_work(tmp_path: Path) -> None:
    config = _config(tmp_path, [GSM], index_max_bytes=1)
    docs = [Doc(id="clean", source="t", text=FILLER)]
    with pytest.raises(ConfigError, match="index_max_bytes"):
        _run_stage(config, docs, tmp_path / "run")


def test_demo_run_cuts_the_contaminated_document(tmp_path: Path) -> None:
    others = [f"{name}.enabled=false" for name, _ in available_stages()
              if name not in ("extract", "decontaminate")]
    out = run([DEMO_INPUT], tmp_path / "demo", others)
    summary = assert_conserved(out)
    report = summary["reports"]["decontaminate"]["contamination"]
    assert report["benchmarks"]["gsm8k_sample"]["docs_touched"] >= 1
    kept = {r["id"]: r for r in rows(out, "kept")}
    rejected = {r["id"]: r for r in rows(out, "rejected")}
    if "demo-contaminated" in kept:
        text = kept["demo-contaminated"]["text"].lower()
        assert "ducks lay 16 eggs" not in text and "porcupine" in text
    else:
        assert rejected["demo-contaminated"]["reason"] == REASON
