"""dedup stage: pure rules, the stage in Beam, and the whole pipeline on the demo shard."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.config import DEMO_INPUT
from stages import dedup
from stages.dedup import Cluster, Config, bucket_edges, decide_group, rank_of
from stages.record import Doc
from tests.helpers import assert_conserved, rows, run, run_docs

ONLY_DEDUP = ["extract.enabled=true"]  # text records skip extraction; other stages keep defaults
LOREM = ("Botchan grew up in Tokyo as a reckless boy and later took a post as a mathematics "
         "teacher at a middle school on the island of Shikoku where the pupils tease him and the "
         "staff quarrel endlessly about matters of honour and money and small local intrigues").split()


def _doc(doc_id: str, text: str, **fields: Any) -> Doc:
    return Doc(id=doc_id, url=fields.pop("url", f"https://x.example/{doc_id}"), source="t",
               text=text, **fields)


def _para(rng: random.Random, words: int = 120) -> str:
    return " ".join(rng.choice(LOREM) for _ in range(words))


def _edit(text: str, rate: float, rng: random.Random) -> str:
    return " ".join("zzz" if rng.random() < rate else w for w in text.split())


def _change_words(text: str, count: int, rng: random.Random) -> str:
    words = text.split()
    for index in rng.sample(range(len(words)), count):
        words[index] = "zzz"
    return " ".join(words)


# ------------------------------------------------------------------ pure rules ------------

def test_config_bounds() -> None:
    assert Config().banding() == (18, 7)
    assert Config(bands=20, rows=5).banding() == (20, 5)
    for bad in ({"bands": 10}, {"bands": 20, "rows": 7}, {"exact": False, "near": False},
                {"survivor": "random"}, {"threshold": 0}, {"verify": "maybe"}):
        with pytest.raises(ValidationError):
            Config(**bad)


def _decide(node: bytes, docs: list[Doc], cluster: Cluster | None, rule: str) -> list:
    """decide_group on documents: (doc, drop, meta) per document."""
    return list(decide_group(node, [(rank_of(doc, rule), doc) for doc in docs], cluster, rule, 0.8))


def test_survivor_rules_and_ties() -> None:
    node = b"n" * 16
    docs = [_doc("b", "same text here", date="2020-01-01"),
            _doc("a", "Same text, here!", date="2021-05-05"),
            _doc("c", "same  text here", date=None),
            _doc("a", "same text here.", date="2019-09-09", url="https://other/")]
    for rule, winner in (("longest", ("a", "https://x.example/a")),
                         ("earliest_date", ("a", "https://other/")),
                         ("smallest_id", ("a", "https://other/"))):
        decisions = _decide(node, docs, None, rule)
        kept = [(doc.id, doc.url) for doc, drop, _ in decisions if drop is None]
        assert kept == [winner], rule
        reasons = {drop.reason for _, drop, _ in decisions if drop}
        assert reasons == {dedup.EXACT}
        survivors = {meta["survivor"] for _, drop, meta in decisions if drop}
        assert survivors == {"a"}
        # the order documents arrive in never changes the decision
        again = _decide(node, list(reversed(docs)), None, rule)
        assert [(doc.id, doc.url) for doc, drop, _ in again if drop is None] == [winner]


def test_byte_identical_records_keep_exactly_one() -> None:
    docs = [_doc("same", "one text"), _doc("same", "one text")]
    decisions = _decide(b"k" * 16, docs, None, "longest")
    assert sorted(drop is None for _, drop, _ in decisions) == [False, True]


def test_near_removed_node_points_at_cluster_survivor() -> None:
    node, other = b"a" * 16, b"b" * 16
    survivor = dedup.node_ref((-500, "winner", "t", "u", "", 1), "longest", other)
    docs = [_doc("x", "text one"), _doc("y", "text one")]
    decisions = _decide(node, docs, Cluster(survivor, 3), "longest")
    by_reason = {drop.reason: (doc, meta) for doc, drop, meta in decisions}
    (near_doc, near), (_, exact) = by_reason[dedup.NEAR], by_reason[dedup.EXACT]
    assert near["survivor"] == "winner" and near["kept"] == "winner"
    assert near["cluster"] == "near:" + other.hex()
    assert exact["survivor"] == near_doc.id  # exact copy of the near copy
    assert exact["kept"] == "winner"


def test_bucket_edges_clique_then_star() -> None:
    small = [(5,), (1,), (3,)]
    assert list(bucket_edges(small, 8)) == [((1,), (3,)), ((1,), (5,)), ((3,), (5,))]
    big = [(k,) for k in range(1000, 0, -1)]
    edges = list(bucket_edges(big, 8))
    assert len(edges) == 999 and {lo for lo, _ in edges} == {(1,)}
    assert list(bucket_edges([(1,)], 8)) == []


# ------------------------------------------------------------------ the stage in Beam -----

def _run_stage(docs: list[Doc], tmp: Path, beam_args: list[str] = (), **config: Any) -> dict:
    """kept [id, url, dedup meta], rejected [id, url, reason, dedup meta], the report; the
    stage runs alone through the real shell."""
    out = run_docs(docs, [(dedup.SPEC, Config(**config))], tmp, beam_args=list(beam_args))
    by_id_url = lambda row: (row[0], row[1])  # noqa: E731
    kept = [[r["id"], r["url"], json.loads(r["meta"]).get("dedup")] for r in out["kept"]]
    rejected = [[r["id"], r["url"], r["reason"], json.loads(r["meta"])["dedup"]]
                for r in out["rejected"]]
    return {"kept": sorted(kept, key=by_id_url), "rejected": sorted(rejected, key=by_id_url),
            "report": out["summary"]["reports"]["dedup"]["minhash"],
            "dead_letter": out["dead_letter"]}


def _corpus(seed: int = 4) -> list[Doc]:
    """Exact groups (same and different ids), near copies at 1% and 30%, distinct texts."""
    rng = random.Random(seed)
    docs = []
    for number in range(20):
        docs.append(_doc(f"base-{number:02d}", "\n".join(_para(rng) for _ in range(3))))
    for number in range(6):  # exact copies with case/punctuation/whitespace changes
        text = docs[number].text
        docs.append(_doc(f"copy-{number:02d}", text.upper() if number % 2 else text + " !!"))
    docs.append(_doc("base-00", docs[0].text, url="https://mirror/base-00"))  # same id, same text
    docs.append(_doc("base-01", _para(rng, 300), url="https://x.example/base-01-b"))  # same id
    for number in range(6, 12):  # two changed words in 360: true Jaccard about 0.95
        docs.append(_doc(f"near-{number:02d}", _change_words(docs[number].text, 2, rng)))
    for number in range(12, 15):
        docs.append(_doc(f"far-{number:02d}", _edit(docs[number].text, 0.3, rng)))
    return docs


def test_stage_removes_exact_and_near_copies(tmp_path: Path) -> None:
    docs = _corpus()
    out = _run_stage(docs, tmp_path, survivor="smallest_id")
    rejected = {(r[0], r[1]): r for r in out["rejected"]}
    kept = {(k[0], k[1]) for k in out["kept"]}
    assert len(kept) + len(rejected) == len(docs)
    for number in range(6):  # "base-.." < "copy-..": the bases survive
        reason, meta = rejected[(f"copy-{number:02d}", f"https://x.example/copy-{number:02d}")][2:]
        assert reason == dedup.EXACT and meta["survivor"] == f"base-{number:02d}"
    assert rejected[("base-00", "https://x.example/base-00")][2] == dedup.EXACT  # mirror URL wins
    assert ("base-00", "https://mirror/base-00") in kept  # ... on the url tie-break
    assert {("base-01", "https://x.example/base-01"), ("base-01", "https://x.example/base-01-b")} <= kept
    for number in range(6, 12):
        reason, meta = rejected[(f"near-{number:02d}", f"https://x.example/near-{number:02d}")][2:]
        assert reason == dedup.NEAR and meta["survivor"] == f"base-{number:02d}"
        assert meta["cluster"].startswith("near:")
    assert not any(r[0].startswith("far-") for r in out["rejected"])
    report = out["report"]
    assert report["exact"]["docs_removed"] == 7 and report["near"]["docs_removed"] == 6
    assert report["docs_in"] == len(docs)
    assert sum(int(size) * n for size, n in report["cluster_sizes"].items()) == len(docs)
    assert sum(report["cluster_sizes"].values()) == len(kept)
    assert report["components"]["converged"]
    assert report["candidate_edges"]["after_verification"] >= 6
    assert len(report["s_curve"]) == 21 and report["bands"] * report["rows"] <= report["num_perm"]


def test_verification_modes_agree_on_clear_cases(tmp_path: Path) -> None:
    docs = _corpus()
    decided = {}
    for mode in ("signature", "shingles", "none"):
        out = _run_stage(docs, tmp_path / mode, verify=mode, survivor="smallest_id")
        decided[mode] = {(r[0], r[1]): r[2] for r in out["rejected"]}
        edges = out["report"]["candidate_edges"]
        assert edges["after_verification"] <= edges["before_verification"]
    assert decided["signature"] == decided["shingles"]
    assert set(decided["signature"]) <= set(decided["none"])


def test_cjk_texts_use_character_shingles(tmp_path: Path) -> None:
    base = ("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所で"
            "ニャーニャー泣いていた事だけは記憶している。吾輩はここで始めて人間というものを見た。") * 3
    near = base.replace("名前", "名称", 1)
    docs = [_doc("ja-a", base, lang="ja"), _doc("ja-b", near, lang="ja-JP")]
    out = _run_stage(docs, tmp_path / "char", survivor="smallest_id")
    assert [r[0] for r in out["rejected"]] == ["ja-b"] and out["rejected"][0][2] == dedup.NEAR
    words = [_doc("ja-a", base), _doc("ja-b", near)]  # no lang: word shingles see two texts
    out = _run_stage(words, tmp_path / "word", survivor="smallest_id")
    assert out["rejected"] == []


def test_exact_include_url_and_stage_switches(tmp_path: Path) -> None:
    text = " ".join(LOREM * 3)
    docs = [_doc("a", text, url="https://a.example/p"), _doc("b", text, url="https://b.example/p"),
            _doc("c", text, url="https://a.example/p?utm_source=feed")]
    out = _run_stage(docs, tmp_path / "url", exact_include_url=True, survivor="smallest_id")
    assert {r[0]: r[2] for r in out["rejected"]} == {"c": dedup.EXACT, "b": dedup.NEAR}
    out = _run_stage(docs, tmp_path / "exact-only", exact_include_url=True, near=False)
    assert [r[0] for r in out["rejected"]] == ["c"]
    out = _run_stage(docs, tmp_path / "near-only", exact=False, survivor="smallest_id")
    assert {r[0]: r[2] for r in out["rejected"]} == {"b": dedup.NEAR, "c": dedup.NEAR}


def test_a_huge_bucket_becomes_one_cluster(tmp_path: Path) -> None:
    rng = random.Random(6)
    template = _para(rng, 400)
    docs = [_doc(f"t{number:03d}", _change_words(template, 1, rng)) for number in range(150)]
    out = _run_stage(docs, tmp_path, survivor="smallest_id")
    assert [k[0] for k in out["kept"]] == ["t000"]
    assert {r[3]["kept"] for r in out["rejected"]} == {"t000"}
    report = out["report"]
    assert report["cluster_sizes"] == {"150": 1} and report["components"]["converged"]
    # star edges, not all 150 * 149 / 2 pairs
    assert report["candidate_edges"]["before_verification"] < 150 * 20


def test_one_round_still_conserves_and_reports(tmp_path: Path) -> None:
    docs = _corpus()
    out = _run_stage(docs, tmp_path, max_rounds=1)
    assert len(out["kept"]) + len(out["rejected"]) == len(docs)
    components = out["report"]["components"]
    assert components["rounds_run"] == 1 and isinstance(components["converged"], bool)


def test_docs_without_text_pass_through(tmp_path: Path) -> None:
    docs = [Doc(id="h", html=b"<p>x</p>"), _doc("t", "some text"), _doc("u", "Some text!")]
    out = _run_stage(docs, tmp_path)
    assert [k[0] for k in out["kept"]] in (["h", "t"], ["h", "u"])
    assert out["report"]["docs_without_text"] == 1 and out["report"]["docs_in"] == 3


def test_a_failing_document_is_dead_lettered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = dedup.minhash.normalized_units

    def fragile(text: str, char_mode: bool, map_digits: bool = True) -> Any:
        if "BOOM" in text:
            raise ValueError("boom")
        return real(text, char_mode, map_digits)

    monkeypatch.setattr(dedup.minhash, "normalized_units", fragile)
    docs = [_doc("ok", "fine text"), _doc("bad", "BOOM text")]
    out = _run_stage(docs, tmp_path)
    assert [[d["id"], d["stage"], d["error"]] for d in out["dead_letter"]] == [
        ["bad", "dedup", "ValueError: boom"]]
    assert [k[0] for k in out["kept"]] == ["ok"]


# ------------------------------------------------------------------ whole pipeline --------

def test_demo_copies_are_exact_and_low_edit_copies_near(tmp_path: Path) -> None:
    out = tmp_path / "out"
    data = assert_conserved(run([DEMO_INPUT], out, ["dedup.survivor=smallest_id"]))
    rejected = {r["id"]: r for r in rows(out, "rejected") if r["stage"] == "dedup"}
    for number in range(8):
        row = rejected[f"demo-copy-{number:02d}"]
        meta = json.loads(row["meta"])["dedup"]
        assert row["reason"] == "exact_duplicate"
        assert meta["survivor"] == f"demo-{number * 7:04d}" and meta["cluster"].startswith("exact:")
    for number, original in ((0, "demo-0003"), (1, "demo-0008")):  # 1% and 2% word edits
        row = rejected[f"demo-near-{number:02d}"]
        meta = json.loads(row["meta"])["dedup"]
        assert row["reason"] == "near_duplicate" and meta["survivor"] == original
    assert "demo-near-07" not in rejected  # 30% edits is another text
    report = data["reports"]["dedup"]["minhash"]
    for key in ("num_perm", "bands", "rows", "threshold", "shingles", "s_curve", "cluster_sizes",
                "exact", "near", "candidate_edges", "components"):
        assert key in report
    stage = next(s for s in data["stages"] if s["stage"] == "dedup")
    assert stage["reasons"]["exact_duplicate"]["docs"] == report["exact"]["docs_removed"]
    assert stage["reasons"]["near_duplicate"]["docs"] == report["near"]["docs_removed"]


def test_duplicate_ids_across_files_are_not_merged(tmp_path: Path) -> None:
    rng = random.Random(8)
    one, two = _para(rng, 200), _para(rng, 200)
    lines_a = [{"id": "dup", "url": "https://a/1", "text": one},
               {"id": "dup", "url": "https://a/1", "text": one}]  # the same record twice
    lines_b = [{"id": "dup", "url": "https://a/1", "text": two}]  # same id, other text
    for name, lines in (("a.jsonl", lines_a), ("b.jsonl", lines_b)):
        (tmp_path / name).write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "out"
    assert_conserved(run([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")], out))
    kept = rows(out, "kept")
    assert sorted(r["text"] for r in kept) == sorted([one, two])
    assert [r["reason"] for r in rows(out, "rejected")] == ["exact_duplicate"]


@pytest.mark.slow
def test_survivors_identical_across_runners_and_reruns(tmp_path: Path) -> None:
    records = []
    rng = random.Random(5)
    bases = [_para(rng, 150) for _ in range(30)]
    for number in range(120):  # many ties: same text under many ids, files and orders
        text = bases[number % 30] if number % 4 else _change_words(bases[number % 30], 1, rng)
        records.append({"id": f"r{rng.randrange(60):03d}", "url": f"https://s/{number}", "text": text})
    for part in range(3):
        (tmp_path / f"p{part}.jsonl").write_text(
            "\n".join(json.dumps(r) for r in records[part::3]) + "\n")
    inputs = [str(tmp_path / f"p{part}.jsonl") for part in range(3)]
    results = []
    for name, args in (("a", []), ("b", []), ("mp", ["--direct_num_workers", "2",
                                                     "--direct_running_mode", "multi_processing"])):
        out = tmp_path / name
        data = assert_conserved(run(inputs, out, beam_args=args))
        decided = sorted((r["id"], r["url"], r["reason"], r["meta"]) for r in rows(out, "rejected"))
        kept = sorted((r["id"], r["url"], r["meta"]) for r in rows(out, "kept"))
        results.append((kept, decided, data["reports"]["dedup"]["minhash"]))
    assert results[0] == results[1] == results[2]
    assert results[0][1]  # something was removed
