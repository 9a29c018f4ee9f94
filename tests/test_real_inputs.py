"""A user's own data in (issue 15, "Getting data in"), on real files from ../shared/data: a Common
Crawl WARC folder, Dolma-style JSONL with metadata, and a Hugging Face-style Parquet dataset
folder built here from that JSONL. Skips cleanly when the shared data is absent."""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import ConfigError, InputConfig, InputFields
from pipeline.inputs import check_input_fields, common_root, read_path, resolve_inputs, source_name
from pipeline.readers import stable_id
from stages.record import DeadLetter, Doc, Rejected
from tests.conftest import shared_path
from tests.helpers import assert_conserved, rows, run

DOLMA = "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"
DOLMA_FIELDS = InputFields(url="metadata.url")


def test_common_crawl_warc_folder_every_record_once_and_findable() -> None:
    from warcio.archiveiterator import ArchiveIterator

    folder = shared_path("warc")
    files = resolve_inputs([str(folder)])
    assert len(files) == len(list(folder.glob("*.warc*")))  # PROVENANCE.md is not an input
    for path in files:
        results = list(read_path(path, InputConfig()))
        with open(path, "rb") as handle:
            expected = sum(1 for _ in ArchiveIterator(handle, arc2warc=True))
        assert len(results) == expected, path  # one result per record, as warcio counts them
        assert not any(isinstance(r, DeadLetter) for r in results), path
        data = Path(path).read_bytes()
        for doc in (r for r in results if isinstance(r, Doc) and r.id.startswith("urn:")):
            stream = io.BytesIO(data)
            stream.seek(doc.position)
            record = next(iter(ArchiveIterator(stream)))
            assert record.rec_headers.get_header("WARC-Record-ID").strip("<>") == doc.id


def test_dolma_jsonl_keeps_metadata_and_reads_nested_url() -> None:
    path = shared_path("corpora", "en_commoncrawl", DOLMA)
    raw = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    config = InputConfig(fields=DOLMA_FIELDS)
    assert check_input_fields(config, [str(path)]) == []
    results = list(read_path(str(path), config))
    assert len(results) == len(raw) == 697
    for result in results:
        doc = result.doc if isinstance(result, Rejected) else result
        record = raw[doc.position - 1]  # position: the record's line
        assert doc.id == record["id"] and doc.url == record["metadata"]["url"]
        if isinstance(result, Doc):
            kept = json.loads(doc.metadata)
            assert {k: kept[k] for k in ("source", "created", "added", "version", "attributes", "metadata")} \
                == {k: record[k] for k in ("source", "created", "added", "version", "attributes", "metadata")}
    (warning,) = check_input_fields(InputConfig(), [str(path)])  # the default url field is absent
    assert "--set input.fields.url=metadata.url" in warning


@pytest.fixture(scope="module")
def hf_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An HF-style dataset folder (README.md + data/train-*.parquet) from the first 150 Dolma
    records, with `metadata` and `attributes` as Parquet structs."""
    path = shared_path("corpora", "en_commoncrawl", DOLMA)
    records = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()[:150]]
    for record in records:
        record["attributes"] = json.dumps(record["attributes"])  # ragged: a JSON string column
    root = tmp_path_factory.mktemp("hf") / "my_dataset"
    (root / "data").mkdir(parents=True)
    (root / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files: data/*.parquet\n---\n")
    (root / ".gitattributes").write_text("*.parquet filter=lfs\n")
    for shard, part in enumerate((records[:75], records[75:])):
        pq.write_table(pa.Table.from_pylist(part), root / "data" / f"train-0000{shard}-of-00002.parquet",
                       row_group_size=40)
    return root


def test_hf_parquet_dataset_folder_runs_as_it_is(hf_dataset: Path, tmp_path: Path) -> None:
    out = run([str(hf_dataset)], tmp_path / "out", ["input.fields.url=metadata.url"])
    data = assert_conserved(out)
    assert data["input"]["files"] == 2 and data["conservation"]["input"] == 150
    kept, rejected = rows(out, "kept"), rows(out, "rejected")
    assert kept and rejected
    tables = {p.name: pq.read_table(p) for p in (hf_dataset / "data").glob("*.parquet")}
    for row in kept + rejected:  # the way back to the original record: source + position (row)
        original = tables[row["source"]].slice(row["position"], 1).to_pylist()[0]
        assert original["id"] == row["id"] and original["metadata"]["url"] == row["url"]
    for row in kept:  # every other column survives, as JSON, next to the pipeline's own `meta`
        original = tables[row["source"]].slice(row["position"], 1).to_pylist()[0]
        metadata = json.loads(row["metadata"])
        assert set(metadata) == {"source", "created", "added", "version", "metadata", "attributes"}
        assert metadata == {k: original[k] for k in metadata}
        assert isinstance(json.loads(row["meta"]), dict)


def test_hf_parquet_dataset_with_a_wrong_text_column_fails_before_work(hf_dataset: Path) -> None:
    files = resolve_inputs([str(hf_dataset)])
    assert [source_name(f, common_root(files)) for f in files] == [  # below the folder they share
        "train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    with pytest.raises(ConfigError, match="--set input.fields.text=text"):
        check_input_fields(InputConfig(fields=InputFields(text="body")), files)


def test_real_warc_without_record_ids_gets_content_ids(tmp_path: Path) -> None:
    """Real pages with WARC-Record-ID removed: ids are hashes of URL + payload, so two different
    pages never share one and a rerun (or a file of the same name elsewhere) gives the same."""
    import re

    path = shared_path("warc", "dolma_sample-0001.warc.gz")
    stripped = re.sub(rb"WARC-Record-ID: [^\r\n]*\r\n", b"", gzip.decompress(path.read_bytes()))
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.warc").write_bytes(stripped)
    first, second = (list(read_path(str(tmp_path / f / "x.warc"), InputConfig())) for f in ("a", "b"))
    docs = [r for r in first if isinstance(r, Doc)]
    assert len(docs) == 15 and len(first) == 34
    assert [d.id for d in docs] == [stable_id(d.url, d.html) for d in docs]
    assert len({d.id for d in docs}) == len({(d.url, d.html) for d in docs})
    assert [getattr(r, "id", None) or r.doc.id for r in first] == [getattr(r, "id", None) or r.doc.id for r in second]
