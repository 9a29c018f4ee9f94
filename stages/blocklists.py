"""Blocklist loaders and matchers for the safety stage (pure: no Beam).

Domains and URLs are stored as a sorted ``numpy.uint64`` array of seeded xxh3-64 hashes of the
normalised entry: 8 bytes per entry (4.5 M domains = 36 MB) instead of ~70 bytes per Python
string in a set, and a lookup is one ``searchsorted`` over the few candidate keys of a URL
(the host, each parent domain, each path prefix). A hash collision is a false positive with
probability about n / 2**64 per key (2.5e-13 at 4.5 M entries).

Word lists are matched with one pyahocorasick automaton per list set: terms written in a
script without spaces (CJK, Thai) match as substrings, all others only at word boundaries
(so ``class`` does not contain ``ass``); overlapping hits resolve leftmost-longest.
"""
from __future__ import annotations

import gzip
from array import array
import hashlib
import io
import os
import re
import stat
import tarfile
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence
from urllib.parse import urlsplit

import numpy as np
import xxhash

from stages import languages
from stages.settings import resolve_path

# Bump when normalisation or hashing changes so stale .npy caches are not reused.
CACHE_FORMAT = 1
# Lists smaller than this build in milliseconds and are not cached (no files beside small
# bundled lists in the checkout).
CACHE_MIN_BYTES = 1 << 20


# --------------------------------------------------------------------------- normalisation

_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def _idna(host: str) -> str:
    """Unicode labels -> punycode (xn--) so list and URL meet in one ASCII form."""
    if host.isascii():
        return host
    labels = []
    for label in host.split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(label.encode("idna").decode("ascii"))
        except UnicodeError:
            labels.append("xn--" + label.encode("punycode").decode("ascii"))
    return ".".join(labels)


def normalize_host(host: str) -> str:
    """Lower-case, strip userinfo, port, brackets, trailing dots and one leading ``www.``."""
    host = host.strip()
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    if host.startswith("["):  # IPv6 literal
        return host[1:host.find("]")].lower() if "]" in host else host.lower()
    host = host.split(":", 1)[0]
    host = unicodedata.normalize("NFC", host).lower().rstrip(".").strip()
    host = host.replace("\u3002", ".")  # ideographic full stop, an IDNA label separator
    host = _idna(host)
    if host.startswith("www."):
        host = host[4:]
    return host


def _split_url(url: str) -> tuple[str, str]:
    """(host, path+query) of a URL written with or without a scheme."""
    url = url.strip()
    if "://" not in url[:16]:
        url = "//" + url
    try:
        parts = urlsplit(url)
        netloc, path, query = parts.netloc, parts.path, parts.query
    except ValueError:
        netloc, _, path = url.lstrip("/").partition("/")
        path, query = "/" + path, ""
    path = path.rstrip("/")
    if query:
        path = f"{path}?{query}"
    return netloc, path


def normalize_url(url: str) -> str:
    """``host/path?query`` without scheme, fragment, port, userinfo, www. or trailing slash; lower-case."""
    netloc, path = _split_url(url)
    return (normalize_host(netloc) + path.lower()).rstrip("/")


def host_candidates(host: str) -> list[str]:
    """The host and every parent domain (a.b.c -> a.b.c, b.c, c); IP literals match exactly."""
    if not host:
        return []
    if _IPV4.match(host) or ":" in host:
        return [host]
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels)) if labels[i]]


def split_normalized(url: str) -> tuple[str, str]:
    """(normalised host, path+query as written): parse a URL once for both kinds of match."""
    netloc, path = _split_url(url)
    return normalize_host(netloc), path


def url_candidates(url: str) -> list[str]:
    """The normalised URL and each path prefix at a ``/`` boundary (squidGuard url semantics)."""
    return path_candidates(*split_normalized(url))


def path_candidates(host: str, path: str) -> list[str]:
    """:func:`url_candidates` of an already split and normalised URL."""
    if not host:
        return []
    full = (host + path.lower()).rstrip("/")
    out = [full]
    base = path.split("?", 1)[0].lower()
    segments = [s for s in base.split("/") if s]
    for i in range(len(segments), 0, -1):
        prefix = host + "/" + "/".join(segments[:i])
        if prefix != out[-1]:
            out.append(prefix)
    return out


# --------------------------------------------------------------------------- hashed sets

def hash_keys(keys: Iterable[str], seed: int) -> np.ndarray:
    """Seeded xxh3-64 of each key, as uint64."""
    h = xxhash.xxh3_64_intdigest
    return np.fromiter((h(k.encode("utf-8"), seed) for k in keys), dtype=np.uint64)


class HashSet:
    """Membership over a sorted uint64 array of key hashes."""

    __slots__ = ("hashes", "seed")

    def __init__(self, hashes: np.ndarray, seed: int, is_sorted: bool = False) -> None:
        arr = np.asarray(hashes, dtype=np.uint64)
        self.hashes = arr if is_sorted else np.unique(arr)
        self.seed = seed

    def __len__(self) -> int:
        return int(self.hashes.size)

    def first_match(self, keys: Sequence[str]) -> str | None:
        """The first key (in the order given) whose hash is in the set."""
        if not keys or not self.hashes.size:
            return None
        probe = hash_keys(keys, self.seed)
        idx = np.searchsorted(self.hashes, probe)
        idx[idx == self.hashes.size] = 0
        hits = self.hashes[idx] == probe
        if not hits.any():
            return None
        return keys[int(np.argmax(hits))]


# --------------------------------------------------------------------------- list readers

def _clean_lines(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


def read_lines_file(path: Path) -> Iterator[str]:
    """One entry per line; ``#`` comments and blanks skipped; ``.gz`` read transparently."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:  # type: ignore[operator]
        yield from _clean_lines(handle)


def is_url_entry(entry: str) -> bool:
    """An entry with a path (or a scheme) is a URL; anything else a domain."""
    body = entry.split("://", 1)[1] if "://" in entry else entry
    return "/" in body.strip("/")


def _category_of(member: str) -> str:
    parts = [p for p in member.split("/") if p and p != "."]
    return parts[-2] if len(parts) >= 2 else ""


def ut1_categories(path: Path) -> list[str]:
    """Categories present in a UT1-style archive ('' for top-level domains/urls files)."""
    with tarfile.open(path, "r:*") as tar:
        return sorted({_category_of(m.name) for m in tar.getmembers()
                       if m.name.rsplit("/", 1)[-1] in ("domains", "urls")})


def read_ut1(path: Path, categories: Sequence[str] | str) -> Iterator[tuple[str, str]]:
    """Yield (kind, entry) with kind 'domains' or 'urls' from the selected category folders.

    A member ``<...>/<category>/domains`` belongs to ``<category>``; top-level ``domains``/``urls``
    (datatrove's flat archive) have no category and are selected only by ``all``.
    """
    wanted = None if categories == "all" else set(categories)
    found: set[str] = set()
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            kind = member.name.rsplit("/", 1)[-1]
            if kind not in ("domains", "urls") or not (member.isfile() or member.issym()):
                continue
            category = _category_of(member.name)
            found.add(category)
            if wanted is not None and category not in wanted:
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            with io.TextIOWrapper(handle, encoding="utf-8", errors="replace") as text:
                for entry in _clean_lines(text):
                    yield kind, entry
    if wanted is not None and not wanted & found:
        raise ValueError(f"{path}: none of categories {sorted(wanted)} present; "
                         f"archive has {sorted(found)}")


# --------------------------------------------------------------------------- domain/url lists

@dataclass(frozen=True)
class ListSpec:
    """One configured list: where, which format, which categories."""

    path: str
    format: str = "lines"  # lines | ut1
    categories: tuple[str, ...] | str = "all"


@dataclass
class DomainList:
    """Hashed domains and URLs of one configured list, with a short name for reject details."""

    name: str
    domains: HashSet
    urls: HashSet

    def match_domain(self, hosts: Sequence[str]) -> str | None:
        return self.domains.first_match(hosts)

    def match_url(self, urls: Sequence[str]) -> str | None:
        return self.urls.first_match(urls)


def _build_arrays(spec: ListSpec, path: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    h = xxhash.xxh3_64_intdigest
    # array('Q') keeps 8 bytes per hash while building (a list of ints would cost ~36).
    domains = array("Q")
    urls = array("Q")
    if spec.format == "ut1":
        entries: Iterable[tuple[str, str]] = read_ut1(path, spec.categories)
    else:
        entries = (("urls" if is_url_entry(e) else "domains", e) for e in read_lines_file(path))
    for kind, entry in entries:
        if kind == "urls" or is_url_entry(entry):
            key = normalize_url(entry)
            (urls if "/" in key else domains).append(h(key.encode("utf-8"), seed))
        else:
            key = normalize_host(entry.split("/", 1)[0])
            if key:
                domains.append(h(key.encode("utf-8"), seed))
    return (np.unique(np.frombuffer(domains, dtype=np.uint64)),
            np.unique(np.frombuffer(urls, dtype=np.uint64)))


def cache_key(spec: ListSpec, path: Path, seed: int) -> str:
    """Changes when the list file (size, mtime), its categories, the seed or the format change."""
    info = path.stat()
    cats = spec.categories if isinstance(spec.categories, str) else ",".join(sorted(spec.categories))
    raw = f"{CACHE_FORMAT}|{info.st_size}|{info.st_mtime_ns}|{spec.format}|{cats}|{seed}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _writable(folder: Path) -> bool:
    """Write permission by mode bits too: root ignores permissions, but a folder marked
    read-only (shared data) must not receive cache files."""
    try:
        return bool(folder.stat().st_mode & stat.S_IWUSR) and os.access(folder, os.W_OK)
    except OSError:
        return False


def cache_file(path: Path, key: str, cache_dir: str | None) -> Path:
    """``cache_dir`` when configured; else next to the list if writable; else ~/.cache."""
    if cache_dir:
        folder = resolve_path(cache_dir)
    elif _writable(path.parent):
        folder = path.parent
    else:
        folder = Path.home() / ".cache" / "pipeline-blocklists"
    return folder / f"{path.name}.{key}.npz"


def _try_write_cache(target: Path, domains: np.ndarray, urls: np.ndarray) -> bool:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as handle:
            np.savez(handle, domains=domains, urls=urls)
        os.replace(tmp, target)  # atomic: concurrent workers never read a half-written file
        return True
    except OSError:
        return False


def load_domain_list(spec: ListSpec, seed: int, cache: bool = True,
                     cache_dir: str | None = None,
                     min_cache_bytes: int = CACHE_MIN_BYTES) -> DomainList:
    """Build (or load from the .npz cache) the hashed arrays of one list.

    The cache goes to ``cache_dir`` if set, else next to the list, else (read-only folder)
    ``~/.cache/pipeline-blocklists``. Uncompressed .npz, so loading is one read, no parsing.
    """
    path = resolve_path(spec.path)
    if not path.exists():
        raise FileNotFoundError(f"blocklist not found: {path} (from {spec.path!r})")
    name = path.name if spec.categories == "all" else f"{path.name}:{'+'.join(spec.categories)}"
    if not cache or path.stat().st_size < min_cache_bytes:
        d, u = _build_arrays(spec, path, seed)
        return DomainList(name, HashSet(d, seed), HashSet(u, seed))
    target = cache_file(path, cache_key(spec, path, seed), cache_dir)
    if target.exists():
        with np.load(target) as data:
            return DomainList(name, HashSet(data["domains"], seed, is_sorted=True),
                              HashSet(data["urls"], seed, is_sorted=True))
    d, u = _build_arrays(spec, path, seed)
    _try_write_cache(target, d, u)
    return DomainList(name, HashSet(d, seed, is_sorted=True), HashSet(u, seed, is_sorted=True))


# --------------------------------------------------------------------------- word lists

_UNSPACED = languages.SUBSTRING_MATCH_RE
# A text unit for ratios: one CJK/Thai character, or one run of other word characters.
_UNIT = re.compile(_UNSPACED.pattern + r"|[^\W_]+")


def is_unspaced(term: str) -> bool:
    """Terms with a CJK/Thai/Lao/Khmer/Myanmar character match as substrings."""
    return bool(_UNSPACED.search(term))


def count_units(text: str) -> int:
    """Words for spaced scripts plus single characters for unspaced ones (the ratio denominator)."""
    return sum(1 for _ in _UNIT.finditer(text))


def _normalize_term(term: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", term).lower().split())


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


@dataclass(frozen=True)
class Hit:
    term: str
    level: str  # hard | soft
    lang: str


class WordMatcher:
    """Aho-Corasick over lower-cased text; boundary checks for spaced terms; leftmost-longest."""

    def __init__(self, terms: dict[str, tuple[str, str]]) -> None:
        import ahocorasick

        self.size = len(terms)
        self._automaton = ahocorasick.Automaton()
        for term, (level, lang) in sorted(terms.items()):
            self._automaton.add_word(term, (term, level, lang, not is_unspaced(term)))
        if terms:
            self._automaton.make_automaton()

    def find(self, text: str) -> list[Hit]:
        """All non-overlapping hits, leftmost-longest among the valid ones."""
        if not self.size or not text:
            return []
        text = _normalize_term(text)
        spans: list[tuple[int, int, tuple]] = []
        n = len(text)
        for end, value in self._automaton.iter(text):
            term, _, _, boundary = value
            start = end - len(term) + 1
            if boundary:
                if _is_word_char(term[0]) and start > 0 and _is_word_char(text[start - 1]):
                    continue
                if _is_word_char(term[-1]) and end + 1 < n and _is_word_char(text[end + 1]):
                    continue
            spans.append((start, -(end + 1), value))
        spans.sort()
        hits: list[Hit] = []
        taken_to = -1
        for start, neg_end, (term, level, lang, _) in spans:
            if start >= taken_to:
                hits.append(Hit(term, level, lang))
                taken_to = -neg_end
        return hits


def load_word_terms(hard_paths: dict[str, Path], soft_paths: dict[str, Path]) -> dict[str, tuple[str, str]]:
    """term -> (level, lang). Every term of a language's list is hard unless its soft list names it."""
    terms: dict[str, tuple[str, str]] = {}
    for lang, path in sorted(hard_paths.items()):
        soft = set()
        if lang in soft_paths and soft_paths[lang].exists():
            soft = {_normalize_term(t) for t in read_lines_file(soft_paths[lang])}
        for raw in read_lines_file(path):
            term = _normalize_term(raw)
            if term and term not in terms:
                terms[term] = ("soft" if term in soft else "hard", lang)
        for term in sorted(soft):  # soft-only terms (not in the main list) still count as soft
            terms.setdefault(term, ("soft", lang))
    return terms


# --------------------------------------------------------------------------- URL words

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def url_tokens(url: str) -> set[str]:
    """Lower-cased alphanumeric runs of the URL (datatrove splits the raw URL, case-sensitive)."""
    return set(filter(None, _NON_ALNUM.split(url.lower())))


def url_squashed(url: str) -> str:
    """The URL with every non-alphanumeric character removed, for banned-subword search."""
    return _NON_ALNUM.sub("", url.lower())


class UrlWordRules:
    """datatrove URLFilter word rules: hard token, >= N soft tokens, banned subword anywhere."""

    def __init__(self, hard: set[str], soft: set[str], subwords: set[str]) -> None:
        import ahocorasick

        self.hard = hard
        self.soft = soft
        self._sub = ahocorasick.Automaton()
        for word in sorted(subwords):
            self._sub.add_word(word, word)
        self.has_sub = bool(subwords)
        if subwords:
            self._sub.make_automaton()

    @staticmethod
    def squash_terms(lines: Iterable[str]) -> set[str]:
        return {t for t in (_NON_ALNUM.sub("", x.lower()) for x in lines) if t}

    def score(self, url: str, soft_threshold: int) -> str | None:
        """A short reason detail when the URL is blocked, else None."""
        tokens = url_tokens(url)
        hard = sorted(tokens & self.hard)
        if hard:
            return f"hard token '{hard[0]}'"
        soft = sorted(tokens & self.soft)
        if len(soft) >= soft_threshold:
            return f"{len(soft)} soft tokens ({','.join(soft[:3])})"
        if self.has_sub:
            for _, word in self._sub.iter(url_squashed(url)):
                return f"subword '{word}'"
        return None
