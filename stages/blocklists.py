"""Blocklist loaders and matchers for the safety stage (pure: no Beam).

Domains and URLs are stored as a sorted ``numpy.uint64`` array of seeded xxh3-64 hashes of the
entry in its blocklist form (:mod:`stages.urls`, the same parser for entries and for the URLs
checked): 8 bytes per entry (4.5 M domains = 36 MB) instead of ~70 bytes per Python string in
a set, and a lookup is one ``searchsorted`` over the candidate keys of a URL (the host, each
parent domain, the full URL, each path prefix). Path prefixes are hashed incrementally with
one streaming hasher, so an n-character URL costs O(n) work and memory, never the O(n^2) of
building every prefix string. A hash collision is a false positive with probability about
n / 2**64 per key (2.5e-13 at 4.5 M entries).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np
import xxhash

from stages import languages
from stages.settings import resolve_path
from stages.textnorm import normalize_for_matching
from stages.urls import BlocklistURL, blocklist_host, blocklist_url, url_word_text

# Bump when normalisation or hashing changes so stale .npz caches are not reused.
# 2: entries parsed with the WHATWG URL parser (stages.urls), URL keys without empty segments.
CACHE_FORMAT = 2
# Lists smaller than this build in milliseconds and are not cached (no files beside small
# bundled lists in the checkout).
CACHE_MIN_BYTES = 1 << 20


# --------------------------------------------------------------------------- hashed sets

def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate in a URL must not raise


def hash_keys(keys: Iterable[str], seed: int) -> np.ndarray:
    """Seeded xxh3-64 of each key, as uint64."""
    h = xxhash.xxh3_64_intdigest
    return np.fromiter((h(_utf8(k), seed) for k in keys), dtype=np.uint64)


def url_lookup_hashes(url: BlocklistURL, seed: int) -> np.ndarray:
    """Hashes of the URL's keys: [full key, prefix of 1 segment, of 2, ..., of n].

    Each prefix hash is the hash of ``url.prefix_key(i)`` (xxh3's streaming digest equals the
    one-shot digest of the same bytes), computed by feeding one segment at a time into one
    hasher: linear in the URL's length, one uint64 per segment.
    """
    hasher = xxhash.xxh3_64(seed=seed)
    hasher.update(_utf8(url.host))

    def prefixes() -> Iterator[int]:
        yield xxhash.xxh3_64_intdigest(_utf8(url.key()), seed)
        for segment in url.segments():
            hasher.update(b"/" + _utf8(segment))
            yield hasher.intdigest()

    return np.fromiter(prefixes(), dtype=np.uint64)


class HashSet:
    """Membership over a sorted uint64 array of key hashes."""

    __slots__ = ("hashes", "seed")

    def __init__(self, hashes: np.ndarray, seed: int, is_sorted: bool = False) -> None:
        arr = np.asarray(hashes, dtype=np.uint64)
        self.hashes = arr if is_sorted else np.unique(arr)
        self.seed = seed

    def __len__(self) -> int:
        return int(self.hashes.size)

    def hits(self, probe: np.ndarray) -> np.ndarray:
        """Boolean mask: which of the probe hashes are in the set."""
        if not probe.size or not self.hashes.size:
            return np.zeros(probe.size, dtype=bool)
        idx = np.searchsorted(self.hashes, probe)
        idx[idx == self.hashes.size] = 0
        return self.hashes[idx] == probe

    def first_match(self, keys: Sequence[str]) -> str | None:
        """The first key (in the order given) whose hash is in the set."""
        if not keys or not self.hashes.size:
            return None
        hits = self.hits(hash_keys(keys, self.seed))
        return keys[int(np.argmax(hits))] if hits.any() else None


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
        """The first of the host keys (host, then parent domains) on the list."""
        return self.domains.first_match(hosts)

    def match_url(self, url: BlocklistURL, probe: np.ndarray | None = None) -> str | None:
        """The full URL key if listed, else the deepest listed path prefix (squidGuard: an
        entry blocks everything below it). ``probe``: :func:`url_lookup_hashes` of ``url``
        when the caller checks several lists (computed once)."""
        if not self.urls.hashes.size or not url.host:
            return None
        if probe is None:
            probe = url_lookup_hashes(url, self.urls.seed)
        hits = self.urls.hits(probe)
        if not hits.any():
            return None
        if hits[0]:
            return url.key()
        deepest = int(np.flatnonzero(hits)[-1])
        return url.prefix_key(deepest)


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
            parsed = blocklist_url(entry)
            key = parsed.key()
            if parsed.host:
                (urls if key != parsed.host else domains).append(h(_utf8(key), seed))
        else:
            host = blocklist_host(entry)
            if host:
                domains.append(h(_utf8(host), seed))
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
    """The matching form of a term or a text: textnorm's normal form (format characters
    removed, NFKC), lower-cased, whitespace runs collapsed to one space (so multi-word terms
    match across line breaks)."""
    return " ".join(normalize_for_matching(term).lower().split())


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


@dataclass(frozen=True)
class Hit:
    term: str
    level: str  # hard | soft
    lang: str


# term -> {language: level}: one term can sit in several languages' lists (e.g. "porno").
TermLevels = dict[str, dict[str, str]]


class WordMatcher:
    """Aho-Corasick over the matching form of the text (see :func:`_normalize_term`); boundary
    checks for spaced terms; leftmost-longest among the hits of the selected languages."""

    def __init__(self, terms: TermLevels) -> None:
        import ahocorasick

        self.size = len(terms)
        self.languages = frozenset(lang for levels in terms.values() for lang in levels)
        self._automaton = ahocorasick.Automaton()
        for term, levels in sorted(terms.items()):
            self._automaton.add_word(term, (term, tuple(sorted(levels.items())),
                                            not is_unspaced(term)))
        if terms:
            self._automaton.make_automaton()

    def find(self, text: str, languages: frozenset[str] | None = None) -> list[Hit]:
        """All non-overlapping hits, leftmost-longest among the valid ones; with ``languages``,
        only terms of those languages' lists count (a term of another list cannot shadow one)."""
        if not self.size or not text:
            return []
        text = _normalize_term(text)
        spans: list[tuple[int, int, Hit]] = []
        n = len(text)
        for end, (term, levels, boundary) in self._automaton.iter(text):
            chosen = [(lang, level) for lang, level in levels
                      if languages is None or lang in languages]
            if not chosen:
                continue
            start = end - len(term) + 1
            if boundary:
                if _is_word_char(term[0]) and start > 0 and _is_word_char(text[start - 1]):
                    continue
                if _is_word_char(term[-1]) and end + 1 < n and _is_word_char(text[end + 1]):
                    continue
            hard = [lang for lang, level in chosen if level == "hard"]
            hit = Hit(term, "hard", hard[0]) if hard else Hit(term, "soft", chosen[0][0])
            spans.append((start, -(end + 1), hit))
        spans.sort(key=lambda span: span[:2])
        hits: list[Hit] = []
        taken_to = -1
        for start, neg_end, hit in spans:
            if start >= taken_to:
                hits.append(hit)
                taken_to = -neg_end
        return hits


def load_word_terms(hard_paths: dict[str, Path], soft_paths: dict[str, Path],
                    min_unspaced_chars: int = 1) -> TermLevels:
    """term -> {lang: level}. Every term of a language's list is hard unless its soft list
    names it; soft-only terms count as soft. Terms in an unspaced script shorter than
    ``min_unspaced_chars`` characters are left out (they sit inside ordinary words)."""
    terms: TermLevels = {}
    for lang, path in sorted(hard_paths.items()):
        soft = set()
        if lang in soft_paths and soft_paths[lang].exists():
            soft = {_normalize_term(t) for t in read_lines_file(soft_paths[lang])}
        listed = {_normalize_term(raw) for raw in read_lines_file(path)}
        for term in sorted(listed | soft):
            if not term or (is_unspaced(term) and len(term) < min_unspaced_chars):
                continue
            terms.setdefault(term, {})[lang] = "soft" if term in soft else "hard"
    return terms


# --------------------------------------------------------------------------- process cache

_Config = TypeVar("_Config")
_Built = TypeVar("_Built")
_BUILT: dict[tuple[str, str], object] = {}
_BUILT_LOCK = threading.Lock()


def per_process(factory: Callable[[_Config], _Built], config: _Config) -> _Built:
    """``factory(config)`` built once per process and config (keyed by the config's JSON):
    every DoFn instance on a worker shares the same loaded lists."""
    key = (f"{factory.__module__}.{factory.__qualname__}", config.model_dump_json())  # type: ignore[attr-defined]
    with _BUILT_LOCK:
        built = _BUILT.get(key)
        if built is None:
            built = _BUILT[key] = factory(config)
        return built  # type: ignore[return-value]


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
        """A short reason detail when the URL is blocked, else None (read in its
        :func:`stages.urls.url_word_text` form: ``%70orn`` and fullwidth ``ｐｏｒｎ`` are ``porn``)."""
        url = url_word_text(url)
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
