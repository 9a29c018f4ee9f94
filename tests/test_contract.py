"""The stage contract, exercised by toy stages written with nothing but ``stages.base``:
a per-document stage, a two-pass stage deciding per document over key groups, and a two-pass
stage whose decision is one broadcast value. The real shell runs them (``run_docs``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
import xxhash

from stages.base import Channel, Decisions, Stage, TwoPass
from stages.record import Doc, Drop
from tests.helpers import run_docs

# ------------------------------------------------------------------ toy stages -------------


def shout_core(config: Any, context: Any) -> Any:
    """Per document: uppercase; reject texts containing "spam"; crash on "boom"."""
    def core(doc: Doc) -> Doc | Drop:
        if "boom" in doc.text:
            raise RuntimeError("boom")
        if "spam" in doc.text:
            return Drop("spam", "contains spam")
        doc.text = doc.text.upper()
        return doc
    return core


SHOUT = Stage(name="shout", reasons=("spam",), reads=frozenset({"text"}),
              writes=frozenset({"text"}), make_core=shout_core)


def first_word_prepare(config: Any, context: Any) -> Any:
    def prepare(doc: Doc, ref: Any) -> list:
        word = doc.text.split()[0].lower()
        return [("first", xxhash.xxh64_digest(word.encode()), (len(doc.text), doc.id, tuple(ref)))]
    return prepare


def first_word_decide(config: Any, context: Any, inputs: Any) -> Decisions:
    """In every group of texts sharing a first word, all but the longest are dropped."""
    def losers(item: tuple) -> list:
        _, members, _ = item
        best = max(members)
        return [(ref, f"shorter than {best[1]}") for length, doc_id, ref in members
                if (length, doc_id, ref) != best]
    groups = inputs.groups["first"](min_size=2, label="groups")
    return Decisions(per_doc=groups | "losers" >> beam.FlatMap(losers))


def first_word_apply(config: Any, context: Any, broadcast: Any = None) -> Any:
    def apply(doc: Doc, decision: str | None) -> Doc | Drop:
        return Drop("not_longest", decision) if decision else doc
    return apply


LONGEST = Stage(name="longest", reasons=("not_longest",), reads=frozenset({"text", "id"}),
                writes=frozenset(), make_core=first_word_apply,
                two_pass=TwoPass(channels=(Channel("first", key_bytes=8),),
                                 make_prepare=first_word_prepare, decide=first_word_decide))


def length_prepare(config: Any, context: Any) -> Any:
    return lambda doc, ref: [("length", b"\0" * 4, len(doc.text))]


def length_decide(config: Any, context: Any, inputs: Any) -> Decisions:
    longest = (inputs.stream["length"] | "values" >> beam.Values()
               | "max" >> beam.CombineGlobally(lambda values: max(values, default=0)))
    return Decisions(broadcast=longest, reports={"longest": longest | beam.Map(
        lambda n: {"longest_text": n})})


def length_apply(config: Any, context: Any, broadcast: int | None = None) -> Any:
    def apply(doc: Doc, decision: Any) -> Doc | Drop:
        return Drop("short", f"< half of {broadcast}") if len(doc.text) * 2 < broadcast else doc
    return apply


HALF = Stage(name="half", reasons=("short",), reads=frozenset({"text"}), writes=frozenset(),
             make_core=length_apply,
             two_pass=TwoPass(channels=(Channel("length", "stream", key_bytes=4),),
                              make_prepare=length_prepare, decide=length_decide))

def pairs_decide(config: Any, context: Any, inputs: Any) -> Decisions:
    """Texts sharing a first word are paired; each pair's word sets (computed where the
    documents lie, gathered through key files) decide: Jaccard >= 0.5 drops the later one."""
    def requests(item: tuple) -> list:
        _, members, _ = item
        refs = sorted(ref for _, _, ref in members)
        out = []
        for i, a in enumerate(refs):
            for b in refs[i + 1:]:
                key = xxhash.xxh3_128_digest(repr((a, b)).encode())
                out += [(a, (key, ("a", b))), (b, (key, ("b", b)))]
        return out

    def similar(item: tuple) -> list:
        _, halves, _ = item
        words = {side: payload for (side, _), payload in halves}
        later = halves[0][0][1]
        jaccard = len(words["a"] & words["b"]) / len(words["a"] | words["b"])
        return [(later, "near copy")] if jaccard >= 0.5 else []

    groups = inputs.groups["first"](min_size=2, label="groups")
    halves = inputs.gather(groups | "requests" >> beam.FlatMap(requests), "pairs", word_sets)
    return Decisions(per_doc=halves | "similar" >> beam.FlatMap(similar))


def word_sets() -> Any:
    """The gather compute (built once per worker): a document's set of lowercase words."""
    return lambda doc: frozenset(doc.text.lower().split())


def pairs_apply(config: Any, context: Any, broadcast: Any = None) -> Any:
    return lambda doc, decision: Drop("near_copy", decision) if decision else doc


PAIRS = Stage(name="pairs", reasons=("near_copy",), reads=frozenset({"text"}),
              writes=frozenset(), make_core=pairs_apply,
              two_pass=TwoPass(channels=(Channel("first", key_bytes=8),),
                               make_prepare=first_word_prepare, decide=pairs_decide))

DOCS = [Doc(id=f"d{i}", source="toy", text=text) for i, text in enumerate([
    "apple pie is sweet and long enough",      # group apple: longest
    "apple tart",                              # group apple: dropped by `longest`
    "banana bread with walnuts and honey!",    # alone
    "cherry spam",                             # rejected by `shout`
    "cherry boom",                             # dead letter from `shout`
    "date",                                    # shorter than half the longest: `half`
])]


# ------------------------------------------------------------------ tests ------------------

def test_stage_declares_known_fields_only() -> None:
    with pytest.raises(ValueError, match="unknown Doc fields"):
        Stage(name="bad", reasons=(), reads=frozenset({"no_such_field"}), writes=frozenset(),
              make_core=shout_core)


@pytest.mark.parametrize("files", [1, 3])
def test_toy_stages_run_through_the_shell(tmp_path: Path, files: int) -> None:
    out = run_docs(DOCS, [(SHOUT, None), (LONGEST, None), (HALF, None)], tmp_path, files=files)
    kept = {row["id"]: row["text"] for row in out["kept"]}
    assert kept == {"d0": "APPLE PIE IS SWEET AND LONG ENOUGH",
                    "d2": "BANANA BREAD WITH WALNUTS AND HONEY!"}
    fates = {row["id"]: (row["stage"], row["reason"]) for row in out["rejected"]}
    assert fates == {"d1": ("longest", "not_longest"), "d3": ("shout", "spam"),
                     "d5": ("half", "short")}
    assert [(row["id"], row["stage"]) for row in out["dead_letter"]] == [("d4", "shout")]
    assert "RuntimeError: boom" in out["dead_letter"][0]["error"]
    summary = out["summary"]
    assert summary["conservation"] == {"input": 6, "kept": 2, "rejected": 3, "dead_letter": 1,
                                       "holds": True}
    funnel = {s["stage"]: (s["docs_in"], s["docs_out"]) for s in summary["stages"]}
    assert funnel == {"read": (6, 6), "shout": (6, 4), "longest": (4, 3), "half": (3, 2)}
    assert summary["reports"]["half"]["longest"] == {"longest_text": 36}


def test_toy_stages_identical_on_two_workers(tmp_path: Path) -> None:
    stages = [(SHOUT, None), (LONGEST, None), (HALF, None)]
    one = run_docs(DOCS, stages, tmp_path / "one", files=3)
    two = run_docs(DOCS, stages, tmp_path / "two", files=3,
                   beam_args=["--direct_num_workers", "2", "--direct_running_mode",
                              "multi_processing"])
    for kind in ("kept", "rejected", "dead_letter"):
        assert one[kind] == two[kind]


@pytest.mark.parametrize("files", [1, 3])
def test_gather_joins_payloads_through_key_files(tmp_path: Path, files: int) -> None:
    docs = [Doc(id=f"p{i}", source="toy", text=text) for i, text in enumerate([
        "red fox jumps high", "blue moon", "red sky at night", "red fox jumps high again",
        "blue whale"])]
    out = run_docs(docs, [(PAIRS, None)], tmp_path, files=files)
    assert sorted(row["id"] for row in out["kept"]) == ["p0", "p1", "p2", "p4"]
    assert [(row["id"], row["reason"]) for row in out["rejected"]] == [("p3", "near_copy")]
