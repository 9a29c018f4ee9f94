"""The README's three real-data recipes, run through the CLI on files from ../shared/data: a
Common Crawl WARC folder, Dolma-style JSONL with nested metadata, and a Hugging Face Parquet
dataset folder whose text column is `content`; the outputs load with Hugging Face `datasets`."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from tests.conftest import shared_path
from tests.helpers import assert_conserved, rows

DOLMA = ("corpora", "en_commoncrawl", "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")


def _dolma_lines(count: int) -> list[dict]:
    with gzip.open(shared_path(*DOLMA), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(count), handle)]


def _run(*args: str) -> None:
    assert main(["run", "--progress", "0", *args]) == 0


def test_warc_folder(tmp_path: Path) -> None:
    folder = shared_path("warc")
    _run("--input", str(folder), "--output", str(tmp_path / "cc"))
    data = assert_conserved(tmp_path / "cc")
    assert data["input"]["files"] == len(list(folder.glob("*.warc*")))
    kept = rows(tmp_path / "cc", "kept")
    assert kept  # the WARC headers the mapping did not take ride along, e.g. the payload digest
    assert all(json.loads(row["metadata"]).get("WARC-Payload-Digest") for row in kept
               if json.loads(row["metadata"]).get("http_status"))


def test_dolma_jsonl_keeps_its_metadata(tmp_path: Path) -> None:
    records = _dolma_lines(120)
    source = tmp_path / "dolma" / "part-0.jsonl.gz"
    source.parent.mkdir()
    with gzip.open(source, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)
    _run("--input", str(tmp_path / "dolma" / "*.jsonl.gz"), "--set", "input.fields.url=metadata.url",
         "--output", str(tmp_path / "out"))
    assert_conserved(tmp_path / "out")
    originals = {record["id"]: record for record in records}
    kept = rows(tmp_path / "out", "kept")
    assert kept
    for row in kept:
        original = originals[row["id"]]
        assert row["url"] == original["metadata"]["url"]
        carried = json.loads(row["metadata"])
        assert carried["source"] == original["source"] and carried["created"] == original["created"]


def test_hf_parquet_folder_with_a_content_column_loads_back_with_datasets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")  # local folders only: never ask the Hub
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    datasets = pytest.importorskip("datasets")
    records = _dolma_lines(80)
    folder = tmp_path / "my_dataset"
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text("---\nlicense: odc-by\n---\n# a dataset\n")
    table = pa.table({"id": [r["id"] for r in records], "content": [r["text"] for r in records],
                      "url": [r["metadata"]["url"] for r in records]})
    pq.write_table(table, folder / "data" / "train-00000-of-00001.parquet")
    out = tmp_path / "out"
    _run("--input", str(folder), "--set", "input.fields.text=content", "--output", str(out))
    data = assert_conserved(out)
    kept = rows(out, "kept")
    by_files = datasets.load_dataset("parquet", data_files=f"{out}/kept/*.parquet", split="train")
    as_folder = datasets.load_dataset(str(out), split="train")
    rejected = datasets.load_dataset(str(out), "rejected", split="train")
    assert len(by_files) == len(as_folder) == len(kept) == data["conservation"]["kept"]
    assert sorted(as_folder["id"]) == sorted(row["id"] for row in kept)
    assert "text" in as_folder.column_names and "reason" not in as_folder.column_names
    assert len(rejected) == data["conservation"]["rejected"]
