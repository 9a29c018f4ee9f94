"""Readers without Beam: every class of damaged or odd input from issue 14 ("Readers: salvage what
is readable, name what is not"), one test per class, on small synthetic files. Each asserts the
readable records are read and every unreadable span is exactly one dead letter naming its cause."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import InputConfig, InputFields
from pipeline.readers import DecodedStream, content_type, read_file, sniff_codec, stable_id
from stages.record import DeadLetter, Doc, Rejected

CONFIG = InputConfig()


def read(data: bytes, name: str, config: InputConfig = CONFIG) -> list:
    return list(read_file(io.BytesIO(data), name, "auto", config, size=len(data)))


def docs(results: list) -> list[Doc]:
    return [r for r in results if isinstance(r, Doc)]


def dead(results: list) -> list[DeadLetter]:
    return [r for r in results if isinstance(r, DeadLetter)]


def rejected(results: list) -> list[Rejected]:
    return [r for r in results if isinstance(r, Rejected)]


def lines(prefix: str, n: int, words: int = 30, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    vocab = "river school teacher walked along bank summer days friends books rain".split()
    return b"".join(json.dumps({"id": f"{prefix}-{i}", "text": " ".join(rng.choice(vocab) for _ in range(words))})
                    .encode() + b"\n" for i in range(n))


def warc_record(url: str, body: bytes, record_id: str | None = "x", http_head: bytes | None = None) -> bytes:
    http_head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html" if http_head is None else http_head
    http = http_head + b"\r\n\r\n" + body
    rid = f"WARC-Record-ID: <urn:uuid:{record_id}>\r\n".encode() if record_id else b""
    head = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: " + url.encode() + b"\r\n" + rid +
            b"Content-Type: application/http; msgtype=response\r\nContent-Length: " +
            str(len(http)).encode() + b"\r\n\r\n")
    return head + http + b"\r\n\r\n"


def html(n: int) -> bytes:
    return f"<html><body><p>page number {n} with some words</p></body></html>".encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


# --------------------------------------------------------------------------- compression
def test_zstd_cut_in_half_is_a_truncated_dead_letter_after_the_readable_records() -> None:
    data = zstandard.ZstdCompressor(level=3).compress(lines("z", 3000, seed=1))
    results = read(data[: len(data) // 2], "cut.jsonl.zst")
    assert len(dead(results)) == 1 and dead(results)[0].error.startswith("truncated")
    assert 500 < len(docs(results)) < 3000  # the whole blocks before the cut are read
    assert [d.id for d in docs(results)] == [f"z-{i}" for i in range(len(docs(results)))]


def test_gzip_member_corrupt_in_the_middle_resynchronises_at_the_next_member() -> None:
    rng = random.Random(2)
    middle = gz(lines("b", 10))
    middle = middle[:10] + bytes(rng.getrandbits(8) for _ in range(len(middle) - 10))
    results = read(gz(lines("a", 10)) + middle + gz(lines("c", 10)), "x.jsonl.gz")
    assert [d.id for d in docs(results)] == [f"a-{i}" for i in range(10)] + [f"c-{i}" for i in range(10)]
    (letter,) = dead(results)
    assert letter.error.startswith("corrupt gzip data") and "next gzip member" in letter.error


def test_garbage_after_the_last_member_is_counted() -> None:
    results = read(gz(lines("a", 4)) + b"not gzip at all" * 3, "x.jsonl.gz")
    assert len(docs(results)) == 4
    (letter,) = dead(results)
    assert letter.error.startswith("not gzip data") and "45 bytes" in letter.error


@pytest.mark.parametrize("codec", ["gzip", "zstd", "bz2", "xz"])
def test_compression_is_sniffed_from_magic_bytes_not_the_name(codec: str) -> None:
    body = lines("s", 3)
    data = {"gzip": gz, "zstd": zstandard.ZstdCompressor().compress, "bz2": bz2.compress,
            "xz": lzma.compress}[codec](body)
    assert sniff_codec(data) == codec
    for name in ("x.jsonl", "x.jsonl.gz", "x.jsonl.zst", "x.bin"):  # any name, right or wrong
        assert [d.id for d in docs(read(data, name))] == ["s-0", "s-1", "s-2"], name
    assert [d.id for d in docs(read(body, "plain.jsonl.gz"))] == ["s-0", "s-1", "s-2"]


def test_truncated_bz2_keeps_the_blocks_before_the_cut_and_multistream_is_read_whole() -> None:
    data = bz2.compress(lines("b", 4000, seed=3), 1)
    results = read(data[: len(data) * 2 // 3], "x.jsonl.bz2")
    assert len(docs(results)) > 1000
    (letter,) = dead(results)
    assert letter.error.startswith("truncated")
    streams = bz2.compress(lines("s", 5)) + bz2.compress(lines("t", 5))
    assert len(docs(read(streams, "x.jsonl.bz2"))) == 10


def test_gzip_bomb_stops_at_the_decompressed_limit_with_a_dead_letter() -> None:
    config = InputConfig(max_decompressed_bytes=1 << 20, max_record_bytes=1 << 16)
    results = read(gz(lines("a", 5) + b"A" * (8 << 20)), "bomb.jsonl.gz", config)
    assert len(docs(results)) == 5
    assert any("max_decompressed_bytes" in d.error for d in dead(results))


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000), junk=st.binary(min_size=0, max_size=64),
       where=st.integers(min_value=0, max_value=2))
def test_damaged_multi_member_gzip_never_raises_and_keeps_intact_members(cut: int, junk: bytes,
                                                                         where: int) -> None:
    """Any garbage between members, any cut: no exception, every member before the damage and
    (for garbage) after it is read in full."""
    members = [gz(lines(f"m{m}", 5, seed=m)) for m in range(3)]
    damaged = b"".join(members[: where + 1]) + junk + b"".join(members[where + 1:])
    ids = {d.id for d in docs(read(damaged, "x.jsonl.gz"))}
    assert {f"m{m}-{i}" for m in range(3) for i in range(5)} <= ids
    prefix = b"".join(members)[: cut % (len(b"".join(members)) + 1)]
    results = read(prefix, "x.jsonl.gz")
    whole = 0
    while whole < 3 and len(b"".join(members[: whole + 1])) <= len(prefix):
        whole += 1
    assert {f"m{m}-{i}" for m in range(whole) for i in range(5)} <= {d.id for d in docs(results)}
    assert len(dead(results)) <= 1


def test_decoded_stream_maps_member_starts_to_file_offsets() -> None:
    first, second = gz(b"one\n"), gz(b"two\n")
    stream = DecodedStream(io.BytesIO(first + second), "gzip")
    assert stream.readline() == b"one\n" and stream.file_offset(0) == 0
    assert stream.tell() == 4 and stream.readline() == b"two\n" and stream.file_offset(4) == len(first)


# --------------------------------------------------------------------------- JSON shapes
def test_bom_crlf_and_cr_only_line_endings() -> None:
    body = lines("r", 3)
    for variant in (b"\xef\xbb\xbf" + body, body.replace(b"\n", b"\r\n"), body.replace(b"\n", b"\r"),
                    b"\xef\xbb\xbf" + body.replace(b"\n", b"\r")):
        results = read(variant, "x.jsonl")
        assert [(d.id, d.position) for d in docs(results)] == [("r-0", 1), ("r-1", 2), ("r-2", 3)]


def test_a_stray_cr_in_a_binary_line_does_not_split_it() -> None:
    results = read(b"\x00\x01\r\x02\x03\r\xff\n", "binary.jsonl")
    assert len(results) == 1 and "invalid JSON" in results[0].error


def test_pretty_printed_json_array_and_object() -> None:
    records = [{"id": f"a{i}", "text": f"text {i}"} for i in range(3)]
    results = read(json.dumps(records, indent=2).encode(), "x.json")
    assert [(d.id, d.position) for d in docs(results)] == [("a0", 2), ("a1", 6), ("a2", 10)]
    (one,) = read(json.dumps({"id": "o", "text": "object", "meta": {"k": 1}}, indent=4).encode(), "x.json")
    assert one.id == "o" and one.text == "object" and json.loads(one.metadata) == {"meta": {"k": 1}}


def test_truncated_json_array_reads_whole_elements_and_counts_the_rest() -> None:
    data = json.dumps([{"id": f"a{i}", "text": "t" * 50} for i in range(4)], indent=2).encode()
    results = read(data[: len(data) * 5 // 8], "x.json")
    assert [d.id for d in docs(results)] == ["a0", "a1"]
    (letter,) = dead(results)
    assert "invalid JSON" in letter.error and "bytes of the document were not read" in letter.error


def test_jsonl_whose_first_lines_are_broken_is_still_read_line_by_line() -> None:
    results = read(b'{"id": "x", "text": \n{"id": broken\n{"id": "ok", "text": "fine"}\n', "x.jsonl")
    assert [d.id for d in docs(results)] == ["ok"] and len(dead(results)) == 2


def test_numeric_ids_are_kept_as_written() -> None:
    data = (b'{"id": 1e30, "text": "a"}\n{"id": 12345678901234567890123, "text": "b"}\n'
            b'{"id": 1.50, "text": "c"}\n{"id": 7, "text": "d"}\n')
    assert [d.id for d in docs(read(data, "x.jsonl"))] == ["1e30", "12345678901234567890123", "1.50", "7"]
    assert [d.id for d in docs(read(b'[{"id": 1e30, "text": "a"}]', "x.json"))] == ["1e30"]


def test_dotted_field_paths_for_every_field() -> None:
    fields = InputFields(id="meta.doc.id", url="meta.url", text="body.text", html="body.html",
                         date="meta.date")
    config = InputConfig(fields=fields)
    record = {"meta": {"doc": {"id": "n1"}, "url": "http://u/", "date": "2024-01-02"},
              "body": {"text": "nested text"}, "licence": "cc-by"}
    (doc,) = read(json.dumps(record).encode() + b"\n", "x.jsonl", config)
    assert (doc.id, doc.url, doc.text, doc.date) == ("n1", "http://u/", "nested text", "2024-01-02")
    (doc,) = read(json.dumps({"body": {"html": "<p>x</p>"}}).encode(), "x.jsonl", config)
    assert doc.html == b"<p>x</p>"
    flat = InputConfig(fields=InputFields(url="a.b"))  # a key that contains a dot wins
    (doc,) = read(b'{"a.b": "http://dotted/", "text": "t"}\n', "x.jsonl", flat)
    assert doc.url == "http://dotted/"


def test_metadata_all_list_and_none() -> None:
    record = {"id": "d", "text": "t", "source": "cc", "created": "2019", "metadata": {"url": "http://u"}}
    data = json.dumps(record).encode() + b"\n"
    (doc,) = read(data, "x.jsonl")
    assert json.loads(doc.metadata) == {"source": "cc", "created": "2019", "metadata": {"url": "http://u"}}
    (doc,) = read(data, "x.jsonl", InputConfig(metadata=["source", "metadata.url", "absent"]))
    assert json.loads(doc.metadata) == {"source": "cc", "metadata.url": "http://u"}
    (doc,) = read(data, "x.jsonl", InputConfig(metadata="none"))
    assert doc.metadata is None


def test_metadata_too_deep_for_json_output_does_not_lose_the_record() -> None:
    deep: dict = {}
    node = deep
    for _ in range(400):
        node["k"] = {}
        node = node["k"]
    (doc,) = read(json.dumps({"id": "deep", "text": "t", "extra": deep}).encode(), "x.jsonl")
    assert doc.id == "deep" and "_unreadable_metadata" in doc.metadata


# --------------------------------------------------------------------------- Parquet
def parquet(table: pa.Table, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **kwargs)
    return buffer.getvalue()


def test_parquet_binary_text_column_and_struct_paths() -> None:
    table = pa.table({"text": pa.array([b"binary text \xc3\xa9", b"more"], pa.binary()),
                      "meta": [{"url": "http://a/", "lang": "en"}, {"url": "http://b/", "lang": "fr"}],
                      "licence": ["cc-by", "cc0"]})
    results = read(parquet(table), "x.parquet", InputConfig(fields=InputFields(url="meta.url")))
    assert [(d.text, d.url, d.position) for d in results] == [("binary text é", "http://a/", 0),
                                                              ("more", "http://b/", 1)]
    assert json.loads(results[0].metadata) == {"meta": {"url": "http://a/", "lang": "en"}, "licence": "cc-by"}


def test_parquet_truncated_footer_and_corrupt_row_group() -> None:
    data = parquet(pa.table({"id": ["a", "b"], "text": ["x", "y"]}))
    (letter,) = read(data[:-20], "x.parquet")
    assert isinstance(letter, DeadLetter) and letter.error.startswith("unreadable Parquet")
    rows = pa.table({"id": [f"r{i}" for i in range(30)], "text": [f"row {i} " * 40 for i in range(30)]})
    data = bytearray(parquet(rows, row_group_size=10))
    column = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(1).column(1)
    start = column.dictionary_page_offset or column.data_page_offset
    data[start: start + 64] = b"\xff" * 64
    results = read(bytes(data), "x.parquet")
    assert [d.id for d in docs(results)] == [f"r{i}" for i in range(10)] + [f"r{i}" for i in range(20, 30)]
    (letter,) = dead(results)
    assert "rows 10 to 19 (10 rows) not read" in letter.error


# --------------------------------------------------------------------------- WARC / ARC
def test_warc_garbage_between_members_and_single_member_gzip() -> None:
    records = [warc_record(f"http://w/{i}", html(i), f"id-{i}") for i in range(5)]
    members = [gz(r) for r in records]
    results = read(b"".join(members[:2]) + b"\x00junk\xff" * 9 + b"".join(members[2:]), "x.warc.gz")
    assert [d.id for d in docs(results)] == [f"urn:uuid:id-{i}" for i in range(5)]
    assert len(dead(results)) == 1 and dead(results)[0].error.startswith("not gzip data")
    single = read(gz(b"".join(records)), "x.warc.gz")
    assert [d.id for d in docs(single)] == [f"urn:uuid:id-{i}" for i in range(5)]
    plain = read(records[0] + b"stray line\r\n" * 3 + records[1], "x.warc")
    assert len(docs(plain)) == 2 and dead(plain)[0].error.startswith("not a WARC record")


def test_warc_positions_are_the_offsets_warcio_reads_records_from() -> None:
    from warcio.archiveiterator import ArchiveIterator

    records = [warc_record(f"http://w/{i}", html(i), f"id-{i}") for i in range(3)]
    for data in (b"".join(gz(r) for r in records), b"".join(records)):
        for doc in docs(read(data, "x.warc.gz")):
            stream = io.BytesIO(data)
            stream.seek(doc.position)
            record = next(iter(ArchiveIterator(stream)))
            assert record.rec_headers.get_header("WARC-Record-ID") == f"<{doc.id}>"


def test_warc_truncated_record_is_one_dead_letter_with_the_missing_bytes() -> None:
    members = [gz(warc_record(f"http://w/{i}", html(i) + lines("p", 40, seed=i), f"id-{i}"))
               for i in range(3)]
    data = b"".join(members)
    for cut, says in ((100, "bytes missing"), (len(members[2]) - 20, f"starts at byte {len(data) - len(members[2])}")):
        results = read(data[:-cut], "x.warc.gz")  # in the last body; in the last header
        assert len(docs(results)) == 2
        (letter,) = dead(results)
        assert letter.error.startswith("truncated") and says in letter.error
    plain = b"".join(warc_record(f"http://w/{i}", html(i), f"id-{i}") for i in range(2))
    (letter,) = dead(read(plain[:-30], "x.warc"))
    assert letter.error.startswith("truncated: the file ends")


def test_warc_bad_content_length_is_one_dead_letter_and_the_next_record_is_read() -> None:
    bad = b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: lots\r\n\r\n" + b"garbage\r\n" * 20
    results = read(bad + warc_record("http://w/ok", html(1)), "x.warc")
    assert [d.url for d in docs(results)] == ["http://w/ok"]
    (letter,) = dead(results)
    assert "Content-Length 'lots'" in letter.error and "180 bytes after it skipped" in letter.error


@pytest.mark.parametrize("head, kept", [
    (b"HTTP/1.1 200 OK", True),
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/html, text/html", True),
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Type: text/html; charset=utf-8", True),
    (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream", True),
    (b"HTTP/1.1 200 OK\r\nContent-Type: image/png", False),
])
def test_warc_content_type_missing_or_odd_sniffs_the_body(head: bytes, kept: bool) -> None:
    (result,) = read(warc_record("http://w/", html(1), http_head=head), "x.warc")
    assert isinstance(result, Doc) == kept
    (png,) = read(warc_record("http://w/", b"\x89PNG\r\n\x1a\n" + bytes(100),
                              http_head=b"HTTP/1.1 200 OK"), "x.warc")
    assert isinstance(png, Rejected) and png.reason == "not_html"


def test_content_type_follows_fetch_extraction() -> None:
    assert content_type(["text/html, text/html"]) == ("text/html", None)
    assert content_type(["text/html; charset=EUC-JP"]) == ("text/html", "euc-jp")
    assert content_type(["text/plain", "text/html;charset=utf-8"]) == ("text/html", "utf-8")
    assert content_type(["", "garbage", "*/*"]) == ("", None)


@pytest.mark.parametrize("status", ["404 Not Found", "500 Internal Server Error", "301 Moved Permanently",
                                    "HTTP-ish nonsense"])
def test_http_error_statuses_are_rejected_with_the_status(status: str) -> None:
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/html".encode()
    (result,) = read(warc_record("http://w/", html(1), http_head=head), "x.warc")
    assert isinstance(result, Rejected) and result.reason == "http_status"
    assert status.split()[0] in result.detail


def test_warc_records_without_ids_get_content_ids() -> None:
    data = warc_record("http://same/", html(1), None) + warc_record("http://same/", html(2), None)
    first = [d.id for d in docs(read(data, "a/x.warc"))]
    other = [d.id for d in docs(read(warc_record("http://same/", html(3), None), "b/x.warc"))]
    assert len(set(first + other)) == 3
    assert first[0] == stable_id("http://same/", html(1))


def test_arc_records_get_the_same_ids_on_every_read() -> None:
    spec = b"1 0 InternetArchive\nURL IP-address Archive-date Content-type Archive-length\n"
    data = b"filedesc://x.arc 0.0.0.0 20000101000000 text/plain " + str(len(spec)).encode() + b"\n" + spec + b"\n"
    for n in range(2):
        http = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + html(n)
        data += f"http://arc/{n} 192.0.2.1 20000101000000 text/html {len(http)}\n".encode() + http + b"\n"
    first, second = read(data, "x.arc"), read(data, "x.arc")
    assert [r.reason for r in rejected(first)] == ["warc_warcinfo"]
    assert [d.id for d in docs(first)] == [d.id for d in docs(second)]
    assert [d.id for d in docs(first)] == [stable_id(f"http://arc/{n}", html(n)) for n in range(2)]
    assert [d.date for d in docs(first)] == ["2000-01-01T00:00:00Z"] * 2


def test_unknown_warc_types_do_not_become_reason_names() -> None:
    record = warc_record("http://w/", html(1)).replace(b"WARC-Type: response", b"WARC-Type: <script>x")
    (result,) = read(record, "x.warc")
    assert result.reason == "warc_unknown_type"


def test_unknown_format_is_one_dead_letter_and_an_empty_file_nothing() -> None:
    (letter,) = read(b"just some text\n", "notes.txt")
    assert letter.error.startswith("unknown input format")
    assert read(b"", "empty.txt") == [] and read(b"", "empty.jsonl.gz") == []


@settings(max_examples=30, deadline=None)
@given(junk=st.binary(min_size=1, max_size=80), where=st.integers(min_value=0, max_value=3),
       cut=st.integers(min_value=0, max_value=4000), per_record=st.booleans())
def test_damaged_warc_never_raises_and_resynchronises(junk: bytes, where: int, cut: int,
                                                      per_record: bool) -> None:
    """Garbage at any record boundary of a (per-record or single-stream) gzipped or plain WARC
    costs no record; a cut anywhere keeps every record before it; never an exception."""
    records = [warc_record(f"http://w/{i}", html(i), f"id-{i}") for i in range(5)]
    pieces = [gz(r) for r in records] if per_record else records
    damaged = b"".join(pieces[: where + 1]) + b"\n" + junk + b"".join(pieces[where + 1:])
    name = "x.warc.gz" if per_record else "x.warc"
    assert len(docs(read(damaged, name))) == 5
    whole = b"".join(pieces)
    prefix = whole[: cut % (len(whole) + 1)]
    complete = sum(1 for i in range(5) if len(b"".join(pieces[: i + 1])) <= len(prefix))
    results = read(prefix, name)
    assert [d.id for d in docs(results)][:complete] == [f"urn:uuid:id-{i}" for i in range(complete)]
    assert len(dead(results)) <= 2
