"""Build the bundled demo shard (configs/demo/demo_shard.jsonl.gz) from public-domain books.

Source texts (public domain, in ../shared/data/corpora/literature): Natsume Sōseki's *Botchan*
(Project Gutenberg English translation) and *Wagahai wa Neko de Aru* (Aozora Bunko). Pages are
wrapped in realistic boilerplate (menus, cookie banners, share buttons, footers) with bullet
lists, and the mix plants what each stage must catch: exact and near duplicates, a page with a
GSM8K test question (MIT), a page on a blocklisted domain, thin and repetitive pages, Japanese
pages, text-only records, and broken lines (invalid JSON, wrong types, invalid UTF-8, empty).
Deterministic: same sources and seed -> byte-identical shard (gzip mtime fixed).

    python tools/make_demo_shard.py [--shared ../shared] [--out configs/demo/demo_shard.jsonl.gz]
"""
from __future__ import annotations

import argparse
import gzip
import html
import io
import json
import random
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
GSM8K_QUESTION = ("Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every "
                  "morning and bakes muffins for her friends every day with four. She sells the "
                  "remainder at the farmers' market daily for $2 per fresh duck egg. How much in "
                  "dollars does she make every day at the farmers' market?")
MENU = ["Home", "Books", "Authors", "Reading lists", "About us", "Contact"]
FOOTER = "Copyright 2024 Demo Library Press. All rights reserved. Privacy policy | Terms of use"
COOKIE = "We use cookies to improve your experience. By continuing you accept our cookie policy."
SHARE = "Share this page: Facebook Twitter Email"


def paragraphs(path: Path) -> list[str]:
    """The book has no blank lines: a paragraph ends on a short line that ends a sentence."""
    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    start = text.find("CHAPTER I")
    end = text.find("End of Project Gutenberg")
    paras, current = [], []
    for line in text[start:end if end > 0 else None].split("\n"):
        current.append(line.strip())
        if len(line) < 60 and line.rstrip().endswith((".", "!", "?", '"', "'")):
            paras.append(" ".join(current))
            current = []
    return [p for p in paras if len(p.split()) >= 25]


def japanese_paragraphs(path: Path) -> list[str]:
    lines = [re.sub(r"《[^》]*》|［[^］]*］|｜", "", l).strip()
             for l in path.read_text(encoding="utf-8").splitlines()]
    return [l for l in lines if len(l) >= 60]


def page(title: str, paras: list[str], bullets: list[str], lang: str = "en") -> str:
    menu = "".join(f'<li><a href="/{m.lower().replace(" ", "-")}">{m}</a></li>' for m in MENU)
    body = []
    for index, para in enumerate(paras):
        if index and index % 3 == 0:
            body.append(f"<h2>Part {index // 3}</h2>")
        body.append(f"<p>{html.escape(para)}</p>")
        if bullets and index == 1:
            body.append("<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in bullets) + "</ul>")
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}'
            f'</title></head><body><div class="cookie-banner">{COOKIE}</div><header><nav><ul>{menu}'
            f'</ul></nav></header><main><article><h1>{html.escape(title)}</h1>{"".join(body)}'
            f'</article><div class="share">{SHARE}</div></main><footer><p>{FOOTER}</p></footer>'
            f"</body></html>")


def edit_words(text: str, rate: float, rng: random.Random) -> str:
    words = text.split()
    for i in range(len(words)):
        if rng.random() < rate:
            words[i] = rng.choice(["quietly", "perhaps", "indeed", "river", "teacher", "school"])
    return " ".join(words)


def build(shared: Path, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    paras = paragraphs(shared / "data/corpora/literature/botchan.txt")
    ja = japanese_paragraphs(shared / "data/corpora/literature/wagahaiwa_nekodearu.txt")
    lines: list[bytes] = []

    def add(record: dict) -> None:
        lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8"))

    pages = []
    cursor = 0
    for number in range(90):
        size = 4 + number % 6
        chunk = paras[cursor:cursor + size]
        cursor = (cursor + size) % max(1, len(paras) - 12)
        # Bullets quote a paragraph that is not on the page, so a list is not a repetition.
        aside = paras[(cursor + len(paras) // 2) % len(paras)]
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", aside) if 4 <= len(s.split()) <= 25]
        bullets = sentences[:4] if number % 3 == 0 else []
        doc = {"id": f"demo-{number:04d}", "url": f"https://books.example.org/botchan/{number}",
               "html": page(f"Botchan, reading {number}", chunk, bullets)}
        pages.append((doc, chunk, bullets))
        add(doc)
    for number in range(8):  # exact copies under other URLs
        doc = dict(pages[number * 7][0])
        doc["id"] = f"demo-copy-{number:02d}"
        doc["url"] += "?utm_source=mirror"
        add(doc)
    for number, rate in enumerate([0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.3]):
        original, chunk, bullets = pages[number * 5 + 3]
        edited = [edit_words(p, rate, rng) for p in chunk]
        add({"id": f"demo-near-{number:02d}", "url": f"https://mirror.example.net/b/{number}",
             "html": page(original["url"], edited, bullets)})
    for number in range(4):
        chunk = ja[number * 6:(number + 1) * 6]
        add({"id": f"demo-ja-{number:02d}", "url": f"https://bunko.example.jp/neko/{number}",
             "html": page("吾輩は猫である", chunk, [], lang="ja")})
    host, chunk, _ = pages[11]
    add({"id": "demo-contaminated", "url": "https://math.example.org/puzzle",
         "html": page("A puzzle", chunk[:2] + [GSM8K_QUESTION] + chunk[2:4], [])})
    add({"id": "demo-unsafe-domain", "url": "https://www.unsafe-demo.example.com/page",
         "html": page("Mirror", pages[20][1], [])})
    add({"id": "demo-thin", "url": "https://books.example.org/thin",
         "html": page("Thin", ["Click here to continue reading."], [])})
    spam = " ".join(["Buy cheap books now best price free shipping today"] * 60)
    add({"id": "demo-spam", "url": "https://shop.example.com/cheap", "html": page("Deals", [spam] * 3, [])})
    add({"id": "demo-list", "url": "https://books.example.org/list", "html": page(
        "Characters", [paras[40]], [f"{name} is a character whose story the narrator tells at length"
                                    for name in ("Porcupine", "Red Shirt", "Hubbard Squash", "Clown",
                                                 "Kiyo", "Madonna", "the Badger")])})
    for number in range(3):
        add({"id": f"demo-text-{number:02d}", "url": f"https://text.example.org/{number}",
             "text": "\n\n".join(paras[200 + number * 4: 204 + number * 4])})
    add({"id": "demo-empty", "url": "https://books.example.org/empty", "html": ""})
    lines.append(b'{"id": "demo-broken-json", "url": "https://x.example/", "html": "<p>unterminated')
    lines.append(b'{"id": ["not", "a", "string"], "url": 42, "html": "<p>wrong types</p>"}')
    lines.append(b'{"id": "demo-bad-utf8", "html": "<p>\xff\xfe broken bytes</p>"}')
    lines.append(b"[1, 2, 3]")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=PROJECT.parent / "shared")
    parser.add_argument("--out", type=Path, default=PROJECT / "configs/demo/demo_shard.jsonl.gz")
    args = parser.parse_args()
    lines = build(args.shared)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as handle:
        handle.write(b"\n".join(lines) + b"\n")
    args.out.write_bytes(buffer.getvalue())
    print(f"{args.out}: {len(lines)} records, {len(buffer.getvalue())} bytes")


if __name__ == "__main__":
    main()
