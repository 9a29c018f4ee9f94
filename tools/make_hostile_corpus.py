"""Generate a deterministic hostile-input corpus: every kind of broken input a crawl throws at a
pipeline, one file (or record) per case, plus `cases.json` saying what each case is and what
the pipeline must do with it. Nothing large is committed: the corpus is generated on demand.

    python tools/make_hostile_corpus.py --out bench_runs/hostile [--small]
    python -m pipeline run --input 'bench_runs/hostile/input/*' --output bench_runs/hostile_out

`--small` shrinks the three big cases (50 MB HTML, 100 MB line, 1 GiB gzip bomb) for fast tests;
the README's hostile-input table comes from the full-size run.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
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


def warc_record(url: str, html: bytes, record_id: str, content_type: str = "text/html") -> bytes:
    http = (b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type.encode() +
            b"\r\nContent-Length: " + str(len(html)).encode() + b"\r\n\r\n" + html)
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {url}\r\n"
            f"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:{record_id}>\r\n"
            f"Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(http)}\r\n\r\n").encode()
    return head + http + b"\r\n\r\n"


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

    def case(name: str, filename: str, data: bytes, expect: str, records: int) -> None:
        """``records``: records the file was built with (a truncated file holds fewer)."""
        (inputs / filename).write_bytes(data)
        cases.append({"case": name, "file": filename, "records_written": records, "expect": expect})

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
    (out / "cases.json").write_text(json.dumps(cases, indent=2, ensure_ascii=False) + "\n")
    return cases


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
