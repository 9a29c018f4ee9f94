"""Backbone: conservation on every kind of input, runner equivalence, outputs and config errors."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import apache_beam as beam
import pytest

from pipeline.config import DEMO_INPUT, ConfigError, load_config
from pipeline.graph import build_graph, plan_passes
from pipeline.passes import Layout
from stages.base import RunContext
from pipeline.options import beam_options
from pipeline.summary import without_timing
from tests.conftest import shared_path
from tests.helpers import assert_conserved, rows, run, summary

SMALL = ["extract.enabled=true"]
# Reader tests feed tiny records; the content rules would (rightly) reject them, which is not
# what these tests look at.
READER_ONLY = [f"{stage}.enabled=false" for stage in ("language", "quality", "repetition")]


def _digest(output: Path) -> dict[str, str]:
    files = sorted(p for p in output.rglob("*.parquet"))
    digests = {str(p.relative_to(output)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    data = without_timing(summary(output))
    for key in ("path", "overwrite"):  # where and how the compared runs write, not what
        data["config"]["output"].pop(key, None)
    digests["summary"] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return digests


def test_demo_shard_is_conserved(tmp_path: Path) -> None:
    data = assert_conserved(run([DEMO_INPUT], tmp_path / "out"))
    assert data["conservation"]["dead_letter"] >= 4  # the shard plants broken lines
    kept_ids = {r["id"] for r in rows(tmp_path / "out", "kept")}
    assert "demo-0000" in kept_ids  # the input id is the document id
    # the report names the committed output, not the private folder the run wrote it in
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["output"] == str(tmp_path / "out")
    assert "_pipeline" not in (tmp_path / "out" / "report.md").read_text().split("\n", 3)[2]


def test_every_shared_warc_is_conserved(tmp_path: Path) -> None:
    warcs = sorted(str(p) for p in shared_path("warc").glob("*.warc*"))
    data = assert_conserved(run(warcs, tmp_path / "out"))
    assert data["input"]["files"] == len(warcs)
    read = data["stages"][0]
    assert read["reasons"]["warc_request"]["docs"] > 0 and read["reasons"]["warc_revisit"]["docs"] == 1
    kept = rows(tmp_path / "out", "kept")
    assert not any(r["url"].startswith("<") for r in kept)  # wget's <uri> quirk stripped


@pytest.mark.parametrize("name", ["warcio_example-trunc.warc", "warcio_example-iana.org-chunked.warc",
                                  "warcio_example.warc.gz", "resiliparse_clueweb-quirk.warc.gz"])
def test_edge_case_warcs_each_conserved(tmp_path: Path, name: str) -> None:
    assert_conserved(run([str(shared_path("warc", name))], tmp_path / "out"))


def test_hostile_jsonl_is_conserved(tmp_path: Path) -> None:
    lines = [
        b'{"id": "ok-1", "url": "http://a/1", "text": "fine text record"}',
        b'{"id": "bad-json", "text": ',
        b'{"id": 7, "url": "http://a/2", "text": "integer id is kept as a string"}',
        b'{"id": "wrong-type", "text": ["a", "list"]}',
        b'{"id": "nulls", "url": null, "text": null, "html": null}',
        b'{}',
        b'"a bare string"',
        b'{"id": "bad-utf8", "text": "\xff\xfe\xfd"}',
        b'{"id": "nul", "text": "nul \\u0000 byte and control \\u0007 chars"}',
        b'',
        b'{"id": "html-1", "html": "<html><body><p>' + b"Some words in a paragraph. " * 30 + b'</p></body></html>"}',
    ]
    path = tmp_path / "hostile.jsonl.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"\n".join(lines) + b"\n")
    data = assert_conserved(run([str(path)], tmp_path / "out", READER_ONLY))
    assert data["conservation"]["input"] == 10  # the blank line is not a record
    assert {r["id"] for r in rows(tmp_path / "out", "kept")} >= {"ok-1", "7", "nul", "html-1"}
    dead = rows(tmp_path / "out", "dead_letter")
    assert any("invalid JSON" in d["error"] for d in dead)
    assert any(d["raw"] for d in dead)


def test_truncated_gzip_and_oversize_line(tmp_path: Path) -> None:
    body = b"\n".join(json.dumps({"id": f"r{i}", "text": "x" * 50}).encode() for i in range(200))
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(gzip.compress(body)[:-40])
    big = tmp_path / "big.jsonl"
    big.write_bytes(b'{"id": "huge", "text": "' + b"y" * 5000 + b'"}\n{"id": "after", "text": "z"}\n')
    out = tmp_path / "out"
    data = assert_conserved(run([str(truncated), str(big)], out,
                                ["input.max_record_bytes=1000", *READER_ONLY]))
    errors = [d["error"] for d in rows(out, "dead_letter")]
    assert any("input stream failed" in e for e in errors)
    assert any("max_record_bytes" in e for e in errors)
    assert "after" in {r["id"] for r in rows(out, "kept")}
    assert data["conservation"]["dead_letter"] == 2


def test_parquet_and_zstd_inputs(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    pq.write_table(pa.table({"doc_id": ["p1", "p2"], "body": ["parquet text one", None]}),
                   tmp_path / "in.parquet")
    (tmp_path / "in.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(
        b'{"doc_id": "z1", "body": "zstd text"}\n'))
    out = tmp_path / "out"
    assert_conserved(run([str(tmp_path / "in.*")], out,
                         ["input.fields.id=doc_id", "input.fields.text=body", *READER_ONLY]))
    assert {r["id"] for r in rows(out, "kept")} == {"p1", "z1"}


def test_rerun_is_byte_identical_and_refuses_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run([DEMO_INPUT], out)
    first = _digest(out)
    with pytest.raises(ConfigError, match="--overwrite"):
        run([DEMO_INPUT], out)
    run([DEMO_INPUT], out, ["output.overwrite=true"])
    assert _digest(out) == first
    assert not (tmp_path / ".out.pipeline").exists()  # the private work directory is gone


def test_graph_survives_runner_api_round_trip(tmp_path: Path) -> None:
    config = load_config(None, [], **{"output.path": str(tmp_path)})
    pipeline = beam.Pipeline(options=beam_options([]))
    layout = Layout(work=str(tmp_path / "work"), out=str(tmp_path / "out"), files=(DEMO_INPUT,))
    plan = plan_passes(config, 10**6, RunContext(str(tmp_path / "artefacts"), 1))
    build_graph(pipeline, plan, layout, stats_path=str(tmp_path / "stats.pkl"))
    proto = pipeline.to_runner_api()
    restored = beam.Pipeline.from_runner_api(proto, pipeline.runner, pipeline._options)
    names = {t.unique_name for t in proto.components.transforms.values()}
    assert "pass 0/run" in names and any(name.startswith("dedup/decide") for name in names)
    assert len(restored.to_runner_api().components.transforms) == len(proto.components.transforms)


@pytest.mark.parametrize("overrides, message", [
    (["nosuchsection.x=1"], "unknown key; allowed keys here"),
    (["extract.max_html_bytes=-5"], "extract.max_html_bytes"),
    (["input.format=csv"], "'auto', 'warc', 'jsonl', 'parquet' or 'docs'"),
    (["extract.enabled=maybe"], "extract.enabled"),
    (["output.compression"], "expected KEY.PATH=VALUE"),
])
def test_bad_config_names_key_and_allowed_values(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(None, overrides)


def test_bad_yaml_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("extract:\n  enabled: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(bad)
    evil = tmp_path / "evil.yaml"
    evil.write_text("extract: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(evil)


@pytest.mark.parametrize("args, message", [
    (["--runnerr", "FnApiRunner"], "unknown option"),
    (["--direct_running_mode", "multi_threading"], "multi_threading loses elements"),
])
def test_bad_beam_flags_fail_before_work(args: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        beam_options(args)


def test_default_runner_downloads_nothing() -> None:
    from apache_beam.options.pipeline_options import StandardOptions

    assert beam_options([]).view_as(StandardOptions).runner == "FnApiRunner"
    assert beam_options(["--runner", "DirectRunner"]).view_as(StandardOptions).runner == "FnApiRunner"
    dataflow = beam_options(["--runner", "DataflowRunner", "--project", "p", "--region", "r",
                             "--temp_location", "gs://b/t"])
    assert dataflow.view_as(StandardOptions).runner == "DataflowRunner"


def test_unmatched_input_glob_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="matches no file"):
        run([str(tmp_path / "nothing-*.jsonl")], tmp_path / "out")
