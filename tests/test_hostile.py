"""Hostile input through the whole pipeline: no crash, every record accounted for, a readable
reason per failure kind, and no network access attempted (entities are never resolved)."""
from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.helpers import assert_conserved, rows, run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from make_hostile_corpus import build  # noqa: E402

LIMITS = ["input.max_record_bytes=4000000", "extract.max_html_bytes=1000000"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile")
    build(out, small=True)
    return out / "input"


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


@pytest.mark.parametrize("beam_args", [[], ["--direct_num_workers", "2", "--direct_running_mode",
                                             "multi_processing"]], ids=["in_memory", "2_workers"])
def test_hostile_corpus_runs_and_is_conserved(hostile: Path, tmp_path: Path, beam_args: list[str]) -> None:
    out = run([str(hostile / "*")], tmp_path / "out", LIMITS, beam_args)
    data = assert_conserved(out)
    fates = _fates(out)
    errors = _dead_errors(out)
    assert ("read", "empty_record") in fates["h-empty"]
    assert fates["h-big"] == [("extract", "html_too_large")]
    assert fates["h-script-only"][0][0] == "extract"
    assert fates["h-deep"][0][0] == "extract"  # libxml2 caps nesting depth; nothing to extract
    assert any("truncated gzip" in e for e in errors["truncated.jsonl.gz"])
    assert any("truncated" in e for e in errors["truncated.warc.gz"])
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
