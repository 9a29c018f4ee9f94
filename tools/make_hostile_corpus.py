"""Generate a deterministic hostile-input corpus: every kind of broken input a crawl throws at a
pipeline, one file (or record) per case, plus `cases.json` saying what each case is and what
the pipeline must do with it. Nothing large is committed: the corpus is generated on demand.
Besides broken bytes it holds hostile *paths*: a FIFO, a symlink to another input, a folder
(read recursively), two files with the same name in different folders, a name with glob
characters.

    python tools/make_hostile_corpus.py --out bench_runs/hostile [--small]
    python -m pipeline run --input 'bench_runs/hostile/input/*' --output bench_runs/hostile_out

`--small` shrinks the three big cases (50 MB HTML, 100 MB line, 1 GiB gzip bomb) for fast tests;
the README's hostile-input table comes from the full-size run.
"""
from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import lzma
import os
import random
from pathlib import Path

WORDS = ("the river school teacher quietly walked along the bank and thought about the long "
         "summer days that had passed with friends and books and rain").split()


def prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


def article(rng: random.Random, paragraphs: int = 4) -> str:
    return "".join(f"<p>{prose(rng, 60)}</p>" for _ in range(paragraphs))


def warc_record(url: str, html: bytes, record_id: str | None, content_type: str | None = "text/html",
                status: str = "200 OK", extra_headers: str = "") -> bytes:
    """One WARC response record; ``record_id`` None leaves WARC-Record-ID out, ``content_type``
    None leaves the HTTP Content-Type out."""
    http = (f"HTTP/1.1 {status}\r\n".encode() +
            (b"Content-Type: " + content_type.encode() + b"\r\n" if content_type is not None else b"") +
            extra_headers.encode() + b"Content-Length: " + str(len(html)).encode() + b"\r\n\r\n" + html)
    record_line = f"WARC-Record-ID: <urn:uuid:{record_id}>\r\n" if record_id else ""
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {url}\r\n"
            f"WARC-Date: 2024-01-01T00:00:00Z\r\n{record_line}"
            f"Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(http)}\r\n\r\n").encode()
    return head + http + b"\r\n\r\n"


def arc_file(pages: list[tuple[str, bytes]]) -> bytes:
    """An ARC v1 file: the filedesc header record, then one record per (url, HTTP response)."""
    spec = b"1 0 InternetArchive\nURL IP-address Archive-date Content-type Archive-length\n"
    out = b"filedesc://legacy.arc 0.0.0.0 20000101000000 text/plain " + str(len(spec)).encode() + b"\n" + spec + b"\n"
    for url, body in pages:
        http = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
        out += f"{url} 192.0.2.1 20000101000000 text/html {len(http)}\n".encode() + http + b"\n"
    return out


def gz(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()


def jsonl(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in records)


def build(out: Path, small: bool) -> list[dict]:
    rng = random.Random(20261123)
    inputs = out / "input"
    inputs.mkdir(parents=True, exist_ok=True)
    cases: list[dict] = []

    def place(filename: str) -> Path:
        path = inputs / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists() and not path.is_file():
            path.unlink()  # a FIFO or link from an earlier build: never write through it
        return path

    def case(name: str, filename: str, data: bytes, expect: str, records: int) -> None:
        """``records``: records the file was built with (a truncated file holds fewer)."""
        place(filename).write_bytes(data)
        cases.append({"case": name, "file": filename, "records_written": records, "expect": expect})

    def special(name: str, filename: str, kind: str, expect: str, target: str = "") -> None:
        """A path that is not a plain file: a FIFO, or a symlink to another input."""
        path = place(filename)
        if kind == "fifo":
            if not hasattr(os, "mkfifo"):
                return
            os.mkfifo(path)
        else:
            path.symlink_to(target)
        cases.append({"case": name, "file": filename, "records_written": 0, "expect": expect})

    good = article(rng)
    # --- encodings and bytes ---------------------------------------------------------------
    latin1 = page("<p>" + "Café crème à la façon de Noël, déjà vu. " * 20 + "</p>").encode("latin-1")
    case("latin-1 page declared as UTF-8 (wrong charset)", "wrong_charset.warc",
         warc_record("http://h.example/latin1", latin1, "00000000-0000-0000-0000-000000000001",
                     "text/html; charset=utf-8"), "kept (decoded with replacement chars) or rejected by a rule", 1)
    mixed = (page("<p>" + "Plain English words here. " * 20 + "</p>").encode() +
             "<p>Ünïcödé and ".encode("utf-8") + "Latin-1 café".encode("latin-1") + b"</p>")
    case("mixed UTF-8 and Latin-1 bytes in one page", "mixed_encoding.warc",
         warc_record("http://h.example/mixed", mixed, "00000000-0000-0000-0000-000000000002"), "kept", 1)
    binary = bytes(rng.getrandbits(8) for _ in range(20000))
    case("bytes that are not text, served as text/html", "binary.warc",
         warc_record("http://h.example/bin", binary, "00000000-0000-0000-0000-000000000003"),
         "rejected (extract: empty_extraction)", 1)
    case("binary file named .jsonl", "binary.jsonl", binary[:5000].replace(b"\n", b" ") + b"\n",
         "dead letter (invalid JSON)", 1)
    case("0-byte file", "empty.jsonl", b"", "nothing to account for (0 records)", 0)
    # --- HTML shapes ------------------------------------------------------------------------
    html_records = [
        {"id": "h-empty", "url": "http://h.example/e", "html": ""},
        {"id": "h-deep", "url": "http://h.example/deep",
         "html": page("<div>" * 100_000 + prose(rng, 80) + "</div>" * 100_000)},
        {"id": "h-unclosed", "url": "http://h.example/unclosed",
         "html": "<html><body><p>" + "<b><i><span>" + prose(rng, 120) + "<p>" + prose(rng, 120)},
        {"id": "h-entity-bomb", "url": "http://h.example/bomb",
         "html": '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' +
                 "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                         for i in range(1, 10)) + "]>" + page("<p>&lol9;</p>" + good)},
        {"id": "h-external-entity", "url": "http://h.example/xxe",
         "html": '<!DOCTYPE html [<!ENTITY xxe SYSTEM "http://xxe.invalid/never.dtd">]>' +
                 page("<p>&xxe;</p>" + good)},
        {"id": "h-script-only", "url": "http://h.example/script",
         "html": page("<script>" + "var x = 1;" * 2000 + "</script><style>p{}</style>")},
        {"id": "h-ok", "url": "http://h.example/ok", "html": page(good)},
    ]
    case("HTML shapes: empty, 100k-deep nesting, unclosed tags, entity bomb, external entity, "
         "script-only, a normal page", "html_shapes.jsonl", jsonl(html_records),
         "empty: read reject; deep/script-only: extract reject; bomb/xxe: entities not expanded, "
         "nothing fetched", len(html_records))
    big_html_mb = 2 if small else 50
    big = page("<p>" + ("All work and no play makes a dull page. " * 25 + "</p><p>") *
               (big_html_mb * 1024 * 1024 // 1000) + "</p>")
    case(f"{big_html_mb} MB HTML page", "big_html.jsonl", jsonl([{"id": "h-big", "html": big}]),
         "rejected (extract: html_too_large)", 1)
    # --- WARC damage --------------------------------------------------------------------------
    records = b"".join(gz(warc_record(f"http://w.example/{i}", page(article(rng)).encode(),
                                      f"00000000-0000-0000-0001-{i:012d}")) for i in range(5))
    case("WARC.gz truncated mid-record", "truncated.warc.gz", records[: len(records) - 700],
         "records before the cut kept; one dead letter for the cut", 5)
    bad_header = (warc_record("http://w.example/good", page(good).encode(), "00000000-0000-0000-0002-000000000001")
                  + b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: not-a-number\r\n\r\n"
                  + b"garbage" * 50)
    case("WARC with a bad header", "bad_header.warc", bad_header,
         "first record kept; one dead letter for the bad one", 2)
    # --- compression damage -------------------------------------------------------------------
    lines = jsonl([{"id": f"g-{i}", "url": f"http://g.example/{i}", "html": page(article(rng, 2))}
                   for i in range(20)])
    case("gzip truncated mid-stream", "truncated.jsonl.gz", gz(lines)[:-300],
         "lines before the cut kept; one dead letter for the cut", 20)
    bomb_mb = 64 if small else 1024
    bomb = io.BytesIO()
    with gzip.GzipFile(fileobj=bomb, mode="wb", mtime=0, compresslevel=9) as handle:
        handle.write(b'{"id": "bomb", "text": "')
        chunk = b"A" * (1 << 20)
        for _ in range(bomb_mb):
            handle.write(chunk)
        handle.write(b'"}\n')
    case(f"gzip bomb ({len(bomb.getvalue()) // 1024} KiB expanding to {bomb_mb} MiB in one line)",
         "bomb.jsonl.gz", bomb.getvalue(), "dead letter (line longer than input.max_record_bytes)", 1)
    # --- JSONL damage -------------------------------------------------------------------------
    hostile = [
        b'{"id": "j-ok", "url": "http://j.example/ok", "text": "' + prose(rng, 80).encode() + b'"}',
        b'{"id": "j-broken", "text": "unterminated',
        b'{"id": {"nested": "object"}, "text": "wrong id type"}',
        b'{"id": "j-number-text", "text": 12345}',
        b'{"id": "j-nulls", "url": null, "text": null, "html": null}',
        b"null",
        b'{"id": "j-nul", "text": "' + prose(rng, 60).encode() + b' \\u0000 NUL \\u0000"}',
        b'{"id": "j-control", "text": "' + prose(rng, 60).encode() + b' \\u0007\\u001b[31m \\u0085"}',
        b'{"id": "j-rtl", "text": "' + ("هذا نص عربي طويل يكفي لاختبار الاتجاه من اليمين إلى اليسار. " * 10).encode() + b'"}',
        b'{"id": "j-cjk", "text": "' + ("这是一段用于测试的中文文本，没有空格分隔词语。" * 20).encode() + b'"}',
        b'{"id": "j-emoji", "text": "' + ("Emoji 😀🎉👍🏽 mixed with words and flags 🇯🇵. " * 20).encode() + b'"}',
        b'{"id": "j-dup", "text": "first record with a duplicated id, ' + prose(rng, 60).encode() + b'"}',
        b'{"id": "j-dup", "text": "second record with a duplicated id, ' + prose(rng, 60).encode() + b'"}',
        b'{"id": "j-surrogate", "text": "lone surrogate \\ud800 here ' + prose(rng, 60).encode() + b'"}',
        b'{"id": "j-bad-utf8", "text": "\xc3\x28 invalid UTF-8"}',
    ]
    case("JSONL: malformed line, wrong types, null fields, NUL bytes, control characters, RTL, "
         "CJK, emoji, duplicated ids, lone surrogate, invalid UTF-8", "hostile.jsonl",
         b"\n".join(hostile) + b"\n",
         "bad lines dead-lettered with their error; odd-but-valid text processed by the rules",
         len(hostile))
    line_mb = 8 if small else 100
    case(f"{line_mb} MB single JSONL line", "long_line.jsonl",
         b'{"id": "j-huge", "text": "' + b"x" * (line_mb * 1024 * 1024) + b'"}\n{"id": "j-after", "text": "'
         + prose(rng, 80).encode() + b'"}\n',
         "dead letter (longer than input.max_record_bytes); the next line is read", 2)
    build_reader_cases(rng, case, special)
    build_filter_cases(rng, case)
    (out / "cases.json").write_text(json.dumps(cases, indent=2, ensure_ascii=False) + "\n")
    return cases


def build_reader_cases(rng: random.Random, case, special) -> None:  # type: ignore[no-untyped-def]
    """Damaged compression, odd framing and hostile paths: every readable record must be read,
    every unreadable span must be one dead letter naming the cause."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    def records(prefix: str, n: int, words: int = 60) -> list[dict]:
        return [{"id": f"{prefix}-{i}", "url": f"http://r.example/{prefix}/{i}",
                 "text": prose(rng, words)} for i in range(n)]

    # --- compression ----------------------------------------------------------------------
    many = jsonl(records("zst", 2000))
    frame = zstandard.ZstdCompressor(level=3).compress(many)
    case(".zst cut in half (one frame, 2,000 records)", "cut_half.jsonl.zst", frame[: len(frame) // 2],
         "records of the whole blocks before the cut read; one dead letter: truncated", 2000)
    members = [gz(jsonl(records(f"gzm{m}", 10))) for m in range(3)]
    broken = members[1][:10] + bytes(rng.getrandbits(8) for _ in range(len(members[1]) - 10))
    case(".jsonl.gz with a corrupt member in the middle (3 members x 10 records)",
         "corrupt_member.jsonl.gz", members[0] + broken + members[2],
         "members 1 and 3 read (20 records); one dead letter for the corrupt member", 30)
    case("gzip bytes in a file named .jsonl", "gzip_bytes.jsonl", gz(jsonl(records("gzname", 3))),
         "3 records read (compression sniffed from the magic bytes)", 3)
    case("zstd bytes in a file named .jsonl.gz", "zstd_bytes.jsonl.gz",
         zstandard.ZstdCompressor().compress(jsonl(records("zstname", 3))),
         "3 records read (compression sniffed from the magic bytes)", 3)
    case("xz-compressed JSONL", "xz.jsonl.xz", lzma.compress(jsonl(records("xz", 3))), "3 records read", 3)
    bz_data = bz2.compress(jsonl(records("bz", 1500)), 1)  # 100 kB blocks
    case(".bz2 truncated (1,500 records, 100 kB blocks)", "truncated.jsonl.bz2",
         bz_data[: len(bz_data) * 3 // 5],
         "records of the whole blocks before the cut read; one dead letter: truncated", 1500)
    case("multi-stream .bz2 (2 streams x 5 records)", "multistream.jsonl.bz2",
         bz2.compress(jsonl(records("bzs1", 5))) + bz2.compress(jsonl(records("bzs2", 5))),
         "10 records read", 10)
    case("gzip member followed by garbage bytes", "trailing_garbage.jsonl.gz",
         gz(jsonl(records("tail", 4))) + b"this is not gzip data" * 5,
         "4 records read; one dead letter: not gzip data", 4)
    case("0-byte file named .gz", "empty.jsonl.gz", b"", "nothing to account for (0 records)", 0)
    # --- WARC framing -----------------------------------------------------------------------
    def warcs_of(series: int) -> list[bytes]:
        return [warc_record(f"http://w{series}.example/{i}", page(article(rng, 2)).encode(),
                            f"00000000-0000-0000-{series:04d}-{i:012d}") for i in range(5)]

    warcs = warcs_of(3)
    case("WARC.gz with garbage bytes between gzip members (5 records)", "garbage_between.warc.gz",
         gz(warcs[0]) + gz(warcs[1]) + b"\x00\x01garbage between members\xff" * 8 +
         gz(warcs[2]) + gz(warcs[3]) + gz(warcs[4]),
         "5 records read; one dead letter: not gzip data", 5)
    case("WARC gzipped as one single member (5 records)", "single_member.warc.gz",
         gz(b"".join(warcs_of(6))), "5 records read", 5)
    warcs = warcs_of(7)
    cut = b"".join(gz(w) for w in warcs)
    case("WARC.gz cut inside the last record's WARC header", "cut_header.warc.gz",
         cut[: len(cut) - len(gz(warcs[4])) + 30],
         "4 records read; one dead letter: truncated", 5)
    html = page(article(rng, 2)).encode()
    case("WARC responses without Content-Type, with a duplicated one, with two header lines, and "
         "a PNG without one", "content_types.warc",
         warc_record("http://ct.example/none", html, "00000000-0000-0000-0004-000000000001", None) +
         warc_record("http://ct.example/dup", page(article(rng, 2)).encode(),
                     "00000000-0000-0000-0004-000000000002", "text/html, text/html") +
         warc_record("http://ct.example/two", page(article(rng, 2)).encode(),
                     "00000000-0000-0000-0004-000000000003", "text/html",
                     extra_headers="Content-Type: text/html; charset=utf-8\r\n") +
         warc_record("http://ct.example/png", b"\x89PNG\r\n\x1a\n" + bytes(200),
                     "00000000-0000-0000-0004-000000000004", None),
         "3 read as HTML (body sniffed when the type is missing or odd); the PNG rejected read:not_html", 4)
    case("HTTP 404, 500 and 301 responses and one 200", "http_status.warc",
         b"".join(warc_record(f"http://st.example/{code}", page(article(rng, 2)).encode(),
                              f"00000000-0000-0000-0005-00000000000{i}", "text/html", status)
                  for i, (code, status) in enumerate([(404, "404 Not Found"), (500, "500 Server Error"),
                                                      (301, "301 Moved Permanently"), (200, "200 OK")])),
         "3 rejected read:http_status; the 200 read", 4)
    no_id = [page(article(rng, 2)).encode() for _ in range(4)]
    case("WARC records without WARC-Record-ID (same URL, different pages)", "no_record_id.warc",
         warc_record("http://noid.example/", no_id[0], None) + warc_record("http://noid.example/", no_id[1], None),
         "2 records, 2 different ids (hash of URL + content)", 2)
    case("the same file name in another folder, records without ids", "other/no_record_id.warc",
         warc_record("http://noid.example/", no_id[2], None) + warc_record("http://noid.example/", no_id[3], None),
         "2 records, ids different from the other file's; source other/no_record_id.warc", 2)
    case("ARC file (legacy format; warcio would give random ids)", "legacy.arc",
         arc_file([("http://arc.example/1", page(article(rng, 2)).encode()),
                   ("http://arc.example/2", page(article(rng, 2)).encode())]),
         "1 rejected read:warc_warcinfo (the ARC header); 2 records with ids derived from URL + content", 3)
    # --- JSON shapes --------------------------------------------------------------------------
    three = records("bom", 3)
    case("UTF-8 BOM and CR-only line endings", "bom_cr.jsonl",
         b"\xef\xbb\xbf" + jsonl(three).replace(b"\n", b"\r"), "3 records read", 3)
    case("pretty-printed JSON array", "pretty_array.json",
         json.dumps(records("arr", 3), indent=2).encode(), "3 records read (position: line of each element)", 3)
    case("pretty-printed JSON object", "pretty_object.json",
         json.dumps(records("obj", 1)[0], indent=4).encode(), "1 record read", 1)
    truncated_array = json.dumps(records("cutarr", 4), indent=2).encode()
    case("JSON array cut in the third element", "truncated_array.json",
         truncated_array[: len(truncated_array) * 5 // 8],
         "the whole elements before the cut read; one dead letter naming the bytes not read", 4)
    case("numeric ids (1e30, a 23-digit integer, 1.50)", "numeric_ids.jsonl",
         b'{"id": 1e30, "text": "' + prose(rng, 60).encode() + b'"}\n'
         b'{"id": 12345678901234567890123, "text": "' + prose(rng, 60).encode() + b'"}\n'
         b'{"id": 1.50, "text": "' + prose(rng, 60).encode() + b'"}\n',
         "ids kept as written: 1e30, 12345678901234567890123, 1.50", 3)
    # --- Parquet ------------------------------------------------------------------------------
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": ["pb-0", "pb-1", "pb-2"],
                             "text": pa.array([prose(rng, 60).encode() for _ in range(3)], pa.binary())}),
                   buffer)
    case("Parquet whose text column is binary", "binary_text.parquet", buffer.getvalue(),
         "3 records read (UTF-8 decoded)", 3)
    case("Parquet with a truncated footer", "truncated_footer.parquet", buffer.getvalue()[:-20],
         "one dead letter: unreadable Parquet", 3)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": [f"rg-{i}" for i in range(30)], "text": [prose(rng, 60) for _ in range(30)]}),
                   buffer, row_group_size=10)
    data = bytearray(buffer.getvalue())
    column = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(1).column(1)
    start = column.dictionary_page_offset or column.data_page_offset
    data[start: start + 64] = b"\xff" * 64
    case("Parquet with a corrupt middle row group (3 x 10 rows)", "corrupt_rowgroup.parquet", bytes(data),
         "rows of row groups 0 and 2 read (20); one dead letter naming rows 10 to 19", 30)
    # --- paths ------------------------------------------------------------------------------------
    special("FIFO matched by the glob", "fifo.jsonl", "fifo",
            "one dead letter: not a regular file (never opened: no hang)")
    special("symlink to another input", "link_to_hostile.jsonl", "symlink",
            "nothing under this name: the real file (hostile.jsonl) is read once", target="hostile.jsonl")
    case("a folder matched by the glob: read recursively", "nested/deeper/inside.jsonl",
         jsonl(records("nested", 2)), "2 records read", 2)
    case("a file without a supported extension inside that folder", "nested/README.md",
         b"# not data\n", "not listed (folders keep supported extensions only)", 0)
    case("same file name in two folders (a)", "same_name_a/x.jsonl", jsonl(records("samea", 1)),
         "1 record, source same_name_a/x.jsonl", 1)
    case("same file name in two folders (b)", "same_name_b/x.jsonl", jsonl(records("sameb", 1)),
         "1 record, source same_name_b/x.jsonl", 1)
    case("glob characters in a file name", "bracket[1].jsonl", jsonl(records("bracket", 1)),
         "1 record (a literal name is never a glob)", 1)


def build_filter_cases(rng: random.Random, case) -> None:  # type: ignore[no-untyped-def]
    """Issue 14, "Filters that can be walked around": spellings that once reached `kept`. A
    word-list term split by markup or format characters, hidden after 300 KB of script or
    behind a lying charset must be caught on the extracted text; a blocked host spelled another
    way must be caught on the WHATWG-parsed URL; a huge URL is rejected, not expanded."""
    term = "porn"  # a hard term of the bundled LDNOOBW English list

    def with_term(spelled: str, head: str = "") -> str:
        return page(article(rng, 3) + f"<p>The report about the river also says {spelled} "
                    "once, in the middle of an otherwise ordinary sentence.</p>", head)

    spellings = {"tag": "po<b>rn</b>", "comment": "po<!-- x -->rn", "empty-span": "po<span></span>rn",
                 "zwsp": "po\u200brn", "soft-hyphen": "po\u00adrn", "word-joiner": "po\u2060rn",
                 "fullwidth": "\uff50\uff4f\uff52\uff4e", "entity": "po&shy;rn", "wbr": "po<wbr>rn"}
    rows = [{"id": f"w-{name}", "url": f"http://words.example/{name}", "html": with_term(spelled)}
            for name, spelled in spellings.items()]
    script = "<script>" + "var x = 1;\n" * 30_000 + "</script>"  # ~330 KB before the text
    rows.append({"id": "w-after-script", "url": "http://words.example/script",
                 "html": with_term(term, head=script)})
    case("word-list term split by markup or format characters, or after 300 KB of script",
         "filter_words.jsonl", jsonl(rows), "every record rejected content_safety:unsafe_words",
         len(rows))
    charsets = ["utf-16", "utf-32", "cp037"]
    case("UTF-8 pages with a word-list term served as charset=utf-16 / utf-32 / cp037",
         "filter_charsets.warc",
         b"".join(warc_record(f"http://charset.example/{name}", with_term(term).encode(),
                              f"00000000-0000-0000-0009-00000000000{i}",
                              f"text/html; charset={name}") for i, name in enumerate(charsets)),
         "every record rejected content_safety:unsafe_words", len(charsets))
    hosts = ["http://unsafe-demo.example.com\\@allowed.example/p", "http://unsafe-demo%2Eexample.com/p",
             "//unsafe-demo.example.com/p", "HTTP://UNSAFE-DEMO.EXAMPLE.COM./p",
             "http://user:pw@unsafe-demo.example.com:8080/p", "http://www.unsafe-demo.example.com/p"]
    case("a blocked host spelled six other ways (backslash userinfo, %2E, scheme-relative, case and "
         "trailing dot, credentials and port, www.)", "filter_hosts.jsonl",
         jsonl([{"id": f"u-{i}", "url": url, "html": page(article(rng, 2))} for i, url in enumerate(hosts)]),
         "every record rejected safety:blocked_domain", len(hosts))
    case("an 80 KB URL", "long_url.jsonl",
         jsonl([{"id": "u-long", "url": "http://long.example/" + "a/" * 40_000,
                 "html": page(article(rng, 2))}]),
         "rejected safety:url_too_long (checked in linear time and memory)", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "bench_runs/hostile")
    parser.add_argument("--small", action="store_true", help="shrink the 50 MB / 100 MB / 1 GiB cases")
    args = parser.parse_args()
    cases = build(args.out, args.small)
    total = sum(c["records_written"] for c in cases)
    size = sum((args.out / "input" / c["file"]).stat().st_size for c in cases)
    print(f"{args.out}/input: {len(cases)} files, {total} records written, {size / 1e6:.1f} MB on disk; "
          f"cases in {args.out}/cases.json")


if __name__ == "__main__":
    main()
