"""Input paths and the pre-run field check (pipeline/inputs.py), without Beam jobs: folders,
globs, literal names, each real file once, FIFOs and vanished files as dead letters, `source`
unique per file, and a wrong field mapping failing before any work (exit 2)."""
from __future__ import annotations

import gzip
import json
import logging
import os
import signal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import cli
from pipeline.config import DEMO_INPUT, ConfigError, InputConfig, InputFields, load_config
from pipeline.inputs import check_input_fields, common_root, read_path, resolve_inputs, source_name
from stages.record import DeadLetter, Doc


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    return path


def test_folder_is_read_recursively_with_supported_extensions_only(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d" / "a.jsonl", [{"text": "a"}])
    write_jsonl(tmp_path / "d" / "sub" / "deeper" / "b.jsonl.gz", [])
    (tmp_path / "d" / "sub" / "c.warc.gz").write_bytes(b"")
    (tmp_path / "d" / "sub" / "p.parquet").write_bytes(b"")
    for ignored in ("README.md", "notes.txt", ".hidden.jsonl", "_SUCCESS", "dataset_info.json"):
        (tmp_path / "d" / ignored).write_text("{}")
    write_jsonl(tmp_path / "d" / ".git" / "x.jsonl", [])
    write_jsonl(tmp_path / "d" / "_staging" / "x.jsonl", [])
    found = resolve_inputs([str(tmp_path / "d")])
    assert [Path(p).relative_to(tmp_path / "d").as_posix() for p in found] == [
        "a.jsonl", "sub/c.warc.gz", "sub/deeper/b.jsonl.gz", "sub/p.parquet"]
    assert resolve_inputs([str(tmp_path / "d") + "/"]) == found
    with pytest.raises(ConfigError, match="no supported file"):
        (tmp_path / "empty").mkdir()
        resolve_inputs([str(tmp_path / "empty")])


def test_each_real_file_is_read_once_whatever_the_spelling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write_jsonl(tmp_path / "x.jsonl", [{"text": "t"}])
    (tmp_path / "link.jsonl").symlink_to(target)
    os.link(target, tmp_path / "hard.jsonl")
    monkeypatch.chdir(tmp_path)
    found = resolve_inputs(["x.jsonl", "./x.jsonl", f"/{tmp_path}/x.jsonl", "*.jsonl", str(tmp_path),
                            f"{tmp_path}//x.jsonl", "link.jsonl"])
    assert found == [str(target.resolve())] or found == [str((tmp_path / "hard.jsonl").resolve())]


def test_a_literal_name_with_glob_characters_can_be_named(tmp_path: Path) -> None:
    literal = write_jsonl(tmp_path / "x[1].jsonl", [{"text": "t"}])
    write_jsonl(tmp_path / "x1.jsonl", [{"text": "other"}])
    assert resolve_inputs([str(literal)]) == [str(literal)]
    assert resolve_inputs([str(tmp_path / "x[1].jsonl").replace("[1]", "[[]1]")]) == [str(literal)]
    with pytest.raises(ConfigError, match="matches no file"):
        resolve_inputs([str(tmp_path / "nothing*.jsonl")])


def test_source_is_unique_per_file(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a" / "x.jsonl", [{"text": "a"}])
    b = write_jsonl(tmp_path / "b" / "x.jsonl", [{"text": "b"}])
    files = resolve_inputs([str(tmp_path / "*" / "x.jsonl")])
    root = common_root(files)
    assert [source_name(f, root) for f in files] == ["a/x.jsonl", "b/x.jsonl"]
    assert source_name(str(a), common_root([str(a)])) == "x.jsonl"  # one file: its name
    assert common_root(["gs://bk/a/x.jsonl", "gs://bk/ab/y.jsonl"]) == "gs://bk"
    assert common_root(["gs://a/x.jsonl", "gs://b/x.jsonl"]) == ""
    assert source_name("gs://a/x.jsonl", "") == "gs://a/x.jsonl"
    assert {d.source for path in files for d in read_path(path, InputConfig(), source_name(path, root))} \
        == {"a/x.jsonl", "b/x.jsonl"}
    assert b.exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_and_devices_are_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    write_jsonl(tmp_path / "ok.jsonl", [{"text": "fine"}])
    assert str(fifo) in resolve_inputs([str(tmp_path / "*")])
    signal.alarm(20)  # opening a FIFO with no writer blocks forever: fail instead of hanging
    try:
        (letter,) = list(read_path(str(fifo), InputConfig()))
        (device,) = list(read_path("/dev/zero", InputConfig()))
        config = InputConfig(fields=InputFields(text="missing"))
        with pytest.raises(ConfigError):
            check_input_fields(config, [str(fifo), str(tmp_path / "ok.jsonl")])
    finally:
        signal.alarm(0)
    assert isinstance(letter, DeadLetter) and letter.error.startswith("not a regular file")
    assert "FIFO" in letter.error and "device" in device.error


def test_a_file_deleted_after_listing_is_a_dead_letter_naming_the_cause(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "gone.jsonl", [{"text": "t"}])
    files = resolve_inputs([str(path)])
    path.unlink()
    (letter,) = list(read_path(files[0], InputConfig()))
    assert letter.error.startswith("cannot read: file no longer exists") and "gone.jsonl" in letter.error


def test_position_points_back_at_the_record(tmp_path: Path) -> None:
    records = [{"id": f"r{i}", "text": f"record {i}"} for i in range(5)]
    data = b"\n".join(json.dumps(r).encode() for r in records).replace(b"\n", b"\n\n")
    (tmp_path / "x.jsonl.gz").write_bytes(gzip.compress(data))
    for doc in read_path(str(tmp_path / "x.jsonl.gz"), InputConfig()):
        line = gzip.decompress((tmp_path / "x.jsonl.gz").read_bytes()).split(b"\n")[doc.position - 1]
        assert json.loads(line)["id"] == doc.id
    pq.write_table(pa.table({"id": ["p0", "p1", "p2"], "text": ["a", "b", "c"]}), tmp_path / "x.parquet")
    table = pq.read_table(tmp_path / "x.parquet")
    for doc in read_path(str(tmp_path / "x.parquet"), InputConfig()):
        assert table.slice(doc.position, 1).column("id")[0].as_py() == doc.id


def test_all_empty_file_gets_a_warning_naming_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_jsonl(tmp_path / "empty_text.jsonl", [{"content": "t"}, {"content": "u"}])
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        results = list(read_path(str(path), InputConfig()))
    assert [r.reason for r in results] == ["empty_record", "empty_record"]
    assert any("empty_text.jsonl" in m and "all 2 records are empty" in m for m in caplog.messages)


# --------------------------------------------------------------------------- field check
def test_wrong_text_field_fails_before_the_job_naming_fields_and_fix(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"id": f"{i}", "content": "long text " * 20, "lang": "en"}
                                               for i in range(3)])
    with pytest.raises(ConfigError) as raised:
        check_input_fields(InputConfig(), [str(path)])
    message = str(raised.value)
    assert "text field 'text'" in message and "Fields present: content, id, lang;" in message
    assert "--set input.fields.text=content" in message
    pq.write_table(pa.table({"doc": ["a"], "body": ["<html><p>page</p></html>"]}), tmp_path / "b.parquet")
    with pytest.raises(ConfigError, match="--set input.fields.html=body"):
        check_input_fields(InputConfig(), [str(tmp_path / "b.parquet")])
    nested = write_jsonl(tmp_path / "n.jsonl", [{"doc": {"body": "some text " * 10}}])
    with pytest.raises(ConfigError, match=r"--set input.fields.text=doc\.body"):
        check_input_fields(InputConfig(), [str(nested)])
    assert check_input_fields(InputConfig(fields=InputFields(text="doc.body")), [str(nested)]) == []


def test_a_field_set_by_the_user_must_exist_and_a_near_miss_is_a_warning(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "dolma.jsonl", [{"id": "1", "text": "t", "metadata": {"url": "http://u"}}])
    with pytest.raises(ConfigError, match="input.fields.url: 'metadata.link'"):
        check_input_fields(InputConfig(fields=InputFields(url="metadata.link")), [str(path)])
    (warning,) = check_input_fields(InputConfig(), [str(path)])
    assert "--set input.fields.url=metadata.url" in warning
    assert check_input_fields(InputConfig(fields=InputFields(url="metadata.url")), [str(path)]) == []
    assert check_input_fields(InputConfig(check_records=0, fields=InputFields(text="x")), [str(path)]) == []


def test_cli_exits_2_on_a_wrong_field_and_says_when_it_runs_the_demo(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"content": "text " * 30}])
    code = cli.main(["run", "--input", str(path), "--output", str(tmp_path / "out"), "--progress", "0"])
    assert code == 2
    assert "--set input.fields.text=content" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

    import pipeline.run

    seen: list = []
    monkeypatch.setattr(pipeline.run, "run_pipeline", lambda config, args, **_: seen.append(config) or
                        {"dry_run": True, "files": 1, "stages": []})
    assert cli.main(["run", "--output", str(tmp_path / "demo"), "--progress", "0"]) == 0
    assert f"running the bundled demo shard ({DEMO_INPUT})" in capsys.readouterr().out
    assert list(seen[0].input.paths) == [DEMO_INPUT]
    assert cli.main(["run", "--input", str(path), "--set", "input.fields.text=content",
                     "--output", str(tmp_path / "o2"), "--progress", "0"]) == 0
    assert "demo" not in capsys.readouterr().out


def test_config_keys_validate() -> None:
    config = load_config(None, ["input.metadata=[source, metadata.url]", "input.fields.url=metadata.url"])
    assert config.input.metadata == ["source", "metadata.url"] and config.input.fields.url == "metadata.url"
    with pytest.raises(ConfigError, match="input.metadata"):
        load_config(None, ["input.metadata=some"])
    with pytest.raises(ConfigError, match="input.fields.text"):
        load_config(None, ["input.fields.text="])


def test_read_path_reads_any_beam_filesystem_path(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"id": "a", "text": "t"}])
    (doc,) = read_path(f"file://{path}", InputConfig())
    assert isinstance(doc, Doc) and doc.id == "a"
