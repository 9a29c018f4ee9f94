"""Hostile input through the whole pipeline: no crash, every record accounted for, a readable
reason per failure kind, and no network access attempted (entities are never resolved)."""
from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.helpers import assert_conserved, rows, run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from hostile_report import fates  # noqa: E402
from make_hostile_corpus import build  # noqa: E402

LIMITS = ["input.max_record_bytes=4000000", "extract.max_html_bytes=1000000"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile")
    build(out, small=True)
    return out / "input"


TWO_WORKERS = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


@pytest.fixture(scope="module")
def runs(hostile: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The corpus through the whole pipeline on 1 worker and on 2 worker processes."""
    out = tmp_path_factory.mktemp("hostile_runs")
    return {name: run([str(hostile / "*")], out / name, LIMITS, args)
            for name, args in (("in_memory", []), ("2_workers", TWO_WORKERS))}


def _fates(output: Path) -> dict[str, list[tuple[str, str]]]:
    """id -> [(where, why)] for every record written."""
    fates: dict[str, list[tuple[str, str]]] = {}
    for row in rows(output, "kept"):
        fates.setdefault(row["id"], []).append(("kept", ""))
    for row in rows(output, "rejected"):
        fates.setdefault(row["id"], []).append((row["stage"], row["reason"]))
    for row in rows(output, "dead_letter"):
        fates.setdefault(row["id"] or f"{row['source']}:{row['error'][:40]}", []).append(
            ("dead_letter", row["error"]))
    return fates


def _dead_errors(output: Path) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for row in rows(output, "dead_letter"):
        errors.setdefault(row["source"], []).append(row["error"])
    return errors


def _records(output: Path) -> dict[str, list[dict]]:
    """source -> kept and rejected rows (the records that were read)."""
    found: dict[str, list[dict]] = {}
    for kind in ("kept", "rejected"):
        for row in rows(output, kind):
            found.setdefault(row["source"], []).append(row)
    return found


def test_hostile_outcomes_are_identical_on_1_and_2_workers(runs: dict[str, Path]) -> None:
    tables = {name: fates(out) for name, out in runs.items()}
    assert tables["in_memory"] == tables["2_workers"]
    for out in runs.values():
        assert_conserved(out)


@pytest.mark.parametrize("name", ["in_memory", "2_workers"])
def test_hostile_corpus_runs_and_is_conserved(runs: dict[str, Path], name: str) -> None:
    out = runs[name]
    data = assert_conserved(out)
    fates = _fates(out)
    errors = _dead_errors(out)
    assert ("read", "empty_record") in fates["h-empty"]
    assert fates["h-big"] == [("extract", "html_too_large")]
    assert fates["h-script-only"][0][0] == "extract"
    assert fates["h-deep"][0][0] == "extract"  # libxml2 caps nesting depth; nothing to extract
    assert any(e.startswith("truncated: the gzip data ends") for e in errors["truncated.jsonl.gz"])
    assert any(e.startswith("truncated") for e in errors["truncated.warc.gz"])
    assert any("max_record_bytes" in e for e in errors["bomb.jsonl.gz"])
    assert any("max_record_bytes" in e for e in errors["long_line.jsonl"])
    assert any("invalid JSON" in e for e in errors["hostile.jsonl"])
    assert any("must be a string" in e for e in errors["hostile.jsonl"])
    assert "j-after" in fates  # the line after a 8 MB line is still read
    assert len(fates["j-dup"]) == 2  # duplicated ids: both records accounted for
    # salvage: lines before each cut are processed, not lost with the cut
    sources = [r["source"] for r in rows(out, "kept")] + [r["source"] for r in rows(out, "rejected")]
    assert sources.count("truncated.jsonl.gz") >= 10
    assert sources.count("truncated.warc.gz") >= 3
    # every dead-letter kind carries a readable message and the raw bytes where there were any
    kinds = {kind for stage in data["dead_letter"].values() for kind in stage}
    assert len(kinds) >= 5
    # no stage after read crashed on odd-but-valid text (NUL, control chars, RTL, CJK, emoji)
    for doc_id in ("j-nul", "j-control", "j-rtl", "j-cjk", "j-emoji"):
        assert fates[doc_id][0][0] != "dead_letter", (doc_id, fates[doc_id])


@pytest.mark.parametrize("name", ["in_memory", "2_workers"])
def test_every_reader_class_salvages_and_names_the_damage(runs: dict[str, Path], name: str) -> None:
    """Issue 14, "Readers: salvage what is readable, name what is not": one check per class."""
    out = runs[name]
    read = _records(out)
    errors = _dead_errors(out)
    count = {source: len(found) for source, found in read.items()}

    def one_dead(source: str, start: str) -> None:
        assert len(errors.get(source, [])) == 1 and errors[source][0].startswith(start), errors.get(source)

    assert count["cut_half.jsonl.zst"] > 500
    one_dead("cut_half.jsonl.zst", "truncated")
    assert count["corrupt_member.jsonl.gz"] == 20
    one_dead("corrupt_member.jsonl.gz", "corrupt gzip data")
    assert count["garbage_between.warc.gz"] == 5
    one_dead("garbage_between.warc.gz", "not gzip data")
    assert count["single_member.warc.gz"] == 5 and "single_member.warc.gz" not in errors
    assert count["cut_header.warc.gz"] == 4
    one_dead("cut_header.warc.gz", "truncated")
    one_dead("fifo.jsonl", "not a regular file")
    assert count["nested/deeper/inside.jsonl"] == 2 and "nested/README.md" not in read
    assert "link_to_hostile.jsonl" not in read and "link_to_hostile.jsonl" not in errors
    assert count["hostile.jsonl"] + len(errors["hostile.jsonl"]) == 15  # read once, not twice
    assert count["same_name_a/x.jsonl"] == count["same_name_b/x.jsonl"] == 1
    for source, n in (("bracket[1].jsonl", 1), ("bom_cr.jsonl", 3), ("pretty_array.json", 3),
                      ("pretty_object.json", 1), ("binary_text.parquet", 3), ("gzip_bytes.jsonl", 3),
                      ("zstd_bytes.jsonl.gz", 3), ("xz.jsonl.xz", 3), ("multistream.jsonl.bz2", 10)):
        assert count[source] == n and source not in errors, source
    assert count["truncated.jsonl.bz2"] > 300
    one_dead("truncated.jsonl.bz2", "truncated")
    one_dead("truncated_footer.parquet", "unreadable Parquet")
    assert count["corrupt_rowgroup.parquet"] == 20
    one_dead("corrupt_rowgroup.parquet", "corrupt Parquet")
    assert count["truncated_array.json"] == 2
    one_dead("truncated_array.json", "invalid JSON")
    assert count["trailing_garbage.jsonl.gz"] == 4
    one_dead("trailing_garbage.jsonl.gz", "not gzip data")
    content_types = {r["url"]: (r.get("stage"), r.get("reason")) for r in read["content_types.warc"]}
    assert content_types["http://ct.example/png"] == ("read", "not_html")
    assert all(v[0] != "read" for k, v in content_types.items() if not k.endswith("/png"))
    status = [r for r in read["http_status.warc"] if r.get("stage") == "read"]
    assert sorted(r["detail"].split()[1] for r in status) == ["301", "404", "500"]
    no_id = [r["id"] for r in read["no_record_id.warc"] + read["other/no_record_id.warc"]]
    assert len(set(no_id)) == 4
    assert {r["id"] for r in read["numeric_ids.jsonl"]} == {"1e30", "12345678901234567890123", "1.50"}
    arc = [r for r in read["legacy.arc"] if r["url"].startswith("http")]
    assert len(arc) == 2 and not any(r["id"].startswith("urn:uuid") for r in arc)
    # every record read can be found again: its position in its source file
    assert all(r["position"] is not None for found in read.values() for r in found)


@pytest.mark.parametrize("name", ["in_memory", "2_workers"])
def test_no_filter_can_be_walked_around(runs: dict[str, Path], name: str) -> None:
    """Issue 14, "Filters that can be walked around": each spelling class is caught."""
    read = _records(runs[name])
    expected = {"filter_words.jsonl": ("content_safety", "unsafe_words", 10),
                "filter_charsets.warc": ("content_safety", "unsafe_words", 3),
                "filter_hosts.jsonl": ("safety", "blocked_domain", 6),
                "long_url.jsonl": ("safety", "url_too_long", 1)}
    for source, (stage, reason, count) in expected.items():
        fates = [(r.get("stage"), r.get("reason")) for r in read[source]]
        assert fates == [(stage, reason)] * count, (source, fates)


def test_arc_ids_are_the_same_on_every_run(runs: dict[str, Path]) -> None:
    ids = [sorted(r["id"] for r in _records(out)["legacy.arc"]) for out in runs.values()]
    assert ids[0] == ids[1]


def test_no_network_access_during_a_run(hostile: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The XXE page names http://xxe.invalid/; neither DNS nor a connect may be attempted."""
    attempts: list[object] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def guarded_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host not in ("localhost", "127.0.0.1", "::1", None, ""):
            attempts.append(("dns", host))
            raise OSError("network disabled in this test")
        return real_getaddrinfo(host, *args, **kwargs)

    def guarded_connect(self, address):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("::1", "localhost")) \
                and self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(("connect", address))
            raise OSError("network disabled in this test")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    out = run([str(hostile / "html_shapes.jsonl")], tmp_path / "out", LIMITS)
    assert_conserved(out)
    assert attempts == []
    kept = {r["id"]: r["text"] for r in rows(out, "kept")}
    for doc_id in ("h-entity-bomb", "h-external-entity"):
        text = kept.get(doc_id) or ""
        assert "lollollol" not in text  # the entity bomb was not expanded
