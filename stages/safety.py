"""safety: domain/URL blocklists and word lists, the first stage (before HTML extraction).

Rules, in order (first hit rejects):
  blocked_domain     host or a parent domain is on a domain list (UT1 / one-per-line)
  blocked_url        the normalised URL or a path prefix of it is on a list's URL entries
  blocked_url_words  datatrove URLFilter word rules on the URL: a hard-banned token, >= N soft
                     tokens, or a banned subword anywhere in the alphanumeric-squashed URL
  unsafe_words       LDNOOBW terms in the text: >= hard_min_count hard hits, or >= soft_min_count
                     soft hits that are also more than soft_max_ratio of the text's units
Lists load once per process (module cache keyed by the config), in the DoFn factory.
See docs/safety.md for the scoring and the measurements.
"""
from __future__ import annotations

import codecs
import html as htmllib
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import Field

from stages import blocklists as bl
from stages.base import PerDocumentStage
from stages.record import Doc, Drop
from stages.settings import (OptionalResourcePath, OutputPath, ResourcePath, Section,
                             StageSection)

STAGE = "safety"


class DomainListConfig(Section):
    # Relative paths resolve against the config file's folder (stages/settings.py).
    path: ResourcePath
    # lines: one domain or URL per line ('#' comments, optional .gz); ut1: .tar.gz of
    # <category>/domains and <category>/urls (flat top-level domains/urls = no category).
    format: Literal["lines", "ut1"] = "lines"
    # UT1 categories to load, or "all" (needed for datatrove's flat archive).
    categories: list[str] | Literal["all"] = "all"


class UrlWordsConfig(Section):
    enabled: bool = True
    # datatrove (FineWeb) URLFilter lists; terms are lower-cased and squashed to [a-z0-9].
    hard_lists: list[ResourcePath] = ["configs/lists/url/banned_words.txt"]
    soft_lists: list[ResourcePath] = ["configs/lists/url/soft_banned_words.txt"]
    subword_lists: list[ResourcePath] = ["configs/lists/url/banned_subwords.txt"]
    # Distinct soft words among the URL's tokens needed to reject (datatrove default 2).
    soft_threshold: int = Field(default=2, ge=1)


class TextWordsConfig(Section):
    enabled: bool = True
    # LDNOOBW language files to load; CJK/Thai terms match as substrings, others at word boundaries.
    languages: list[str] = ["en", "zh"]
    list_path: ResourcePath = "configs/lists/ldnoobw/{lang}"
    # Terms named here count as soft; every other term of the language list is hard.
    soft_list_path: OptionalResourcePath = "configs/lists/soft/{lang}.txt"
    # auto: doc.text when present, else visible text of the HTML; html_visible / text: only that.
    text_source: Literal["auto", "html_visible", "text", "skip"] = "auto"
    # Bytes of HTML (or UTF-8 chars of text) scanned; bounds the cost of huge pages.
    max_scan_bytes: int = Field(default=256 * 1024, gt=0)
    # CJK/Thai terms shorter than this many characters are not scored: single characters such
    # as 性 (in 性能, 可能性, 女性) or 奶 (牛奶) rejected 12% of clean THUCNews articles.
    cjk_min_term_chars: int = Field(default=2, ge=1)
    hard_min_count: int = Field(default=1, ge=1)
    soft_min_count: int = Field(default=3, ge=1)
    # Soft hits / text units (words; one unit per CJK character) must exceed this too.
    soft_max_ratio: float = Field(default=0.03, ge=0.0, le=1.0)


class Config(StageSection):
    domain_lists: list[DomainListConfig] = [DomainListConfig(path="configs/lists/domains/demo.txt")]
    # Seed of the xxh3-64 hashes of domains/URLs (part of the cache key).
    hash_seed: int = Field(default=0x5AFE, ge=0, lt=2**64)
    # Cache built hash arrays as .npz next to each list (or in cache_dir if that is read-only).
    cache: bool = True
    cache_dir: OutputPath | None = None
    url_words: UrlWordsConfig = UrlWordsConfig()
    text_words: TextWordsConfig = TextWordsConfig()

    def check_resources(self) -> None:
        """Before any work (pipeline.resources): load each domain list as the stage will, so a
        plain list declared `format: ut1` (or a broken archive) fails naming its key."""
        for index, item in enumerate(self.domain_lists):
            try:
                bl.load_domain_list(_list_spec(item), self.hash_seed, cache=self.cache,
                                    cache_dir=self.cache_dir)
            except Exception as error:  # noqa: BLE001 - tarfile, gzip, OS errors alike
                why = str(error).splitlines()[0] if str(error) else ""
                raise ValueError(f"domain_lists.{index}: cannot load {item.path} as format "
                                 f"{item.format} (lines | ut1): {type(error).__name__}: {why}"
                                 ) from None


def _list_spec(item: DomainListConfig) -> bl.ListSpec:
    """As SafetyRules builds it."""
    categories = tuple(item.categories) if isinstance(item.categories, list) else item.categories
    return bl.ListSpec(item.path, item.format, categories)


# --------------------------------------------------------------------------- visible text

_OPEN = re.compile(r"<(script|style|noscript|template|svg|iframe)\b|<!--")
_TAG = re.compile(r"<[^<>]*>")


def decode_html(raw: bytes, charset: str | None) -> str:
    if charset:
        try:
            codecs.lookup(charset)
            return raw.decode(charset, errors="replace")
        except (LookupError, ValueError):
            pass
    return raw.decode("utf-8", errors="replace")


def visible_text(raw: bytes, charset: str | None, max_bytes: int) -> str:
    """Cheap visible-text approximation: drop script/style/comments and tags, unescape entities.

    Linear in the input (closing tags are found with str.find, tags cannot span a '<'), so a
    hostile page cannot make it quadratic; only the first ``max_bytes`` bytes are read.
    """
    text = decode_html(raw[:max_bytes], charset)
    low = text.lower()
    parts: list[str] = []
    pos = 0
    for match in _OPEN.finditer(low):
        if match.start() < pos:
            continue
        parts.append(text[pos:match.start()])
        closer = "-->" if match.group(1) is None else f"</{match.group(1)}"
        end = low.find(closer, match.end())
        if end < 0:
            pos = len(text)
            break
        close_end = low.find(">", end)
        pos = len(text) if close_end < 0 else close_end + 1
    parts.append(text[pos:])
    return htmllib.unescape(_TAG.sub(" ", " ".join(parts)))


def scan_text(doc: Doc, cfg: TextWordsConfig) -> str | None:
    """The text the word rule reads, per ``text_source``; None when there is nothing to score."""
    source = cfg.text_source
    if source == "skip":
        return None
    if source in ("auto", "text") and doc.text is not None:
        return doc.text[:cfg.max_scan_bytes]
    if source in ("auto", "html_visible") and doc.html:
        return visible_text(doc.html, doc.charset, cfg.max_scan_bytes)
    return None


# --------------------------------------------------------------------------- rules

def _template(path: str, lang: str) -> Path:
    return bl.resolve_path(path.replace("{lang}", lang))


def _read_terms(paths: list[str]) -> set[str]:
    terms: set[str] = set()
    for path in paths:
        terms |= bl.UrlWordRules.squash_terms(bl.read_lines_file(bl.resolve_path(path)))
    return terms


class SafetyRules:
    """All loaded lists for one config; callable as the stage core."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.domain_lists = [
            bl.load_domain_list(bl.ListSpec(d.path, d.format, tuple(d.categories)
                                            if isinstance(d.categories, list) else d.categories),
                                config.hash_seed, cache=config.cache, cache_dir=config.cache_dir)
            for d in config.domain_lists]
        uw = config.url_words
        self.url_words = (bl.UrlWordRules(_read_terms(uw.hard_lists), _read_terms(uw.soft_lists),
                                          _read_terms(uw.subword_lists)) if uw.enabled else None)
        tw = config.text_words
        hard = {lang: _template(tw.list_path, lang) for lang in tw.languages}
        missing = [str(p) for p in hard.values() if not p.exists()]
        if tw.enabled and missing:
            raise FileNotFoundError(f"word lists not found: {missing}")
        soft = {lang: _template(tw.soft_list_path, lang) for lang in tw.languages}
        terms = bl.load_word_terms(hard, soft) if tw.enabled else {}
        terms = {t: v for t, v in terms.items()
                 if not bl.is_unspaced(t) or len(t) >= tw.cjk_min_term_chars}
        self.words = bl.WordMatcher(terms)

    def __call__(self, doc: Doc) -> Doc | Drop:
        return self.check(doc) or doc

    def check(self, doc: Doc) -> Drop | None:
        if doc.url:
            drop = self.check_url(doc.url)
            if drop:
                return drop
        return self.check_text(doc)

    def check_url(self, url: str) -> Drop | None:
        if self.domain_lists:
            host, path = bl.split_normalized(url)
            hosts = bl.host_candidates(host)
            for dl in self.domain_lists:
                hit = dl.match_domain(hosts)
                if hit:
                    return Drop("blocked_domain", f"{dl.name}: {hit}")
            urls = bl.path_candidates(host, path)
            for dl in self.domain_lists:
                hit = dl.match_url(urls)
                if hit:
                    return Drop("blocked_url", f"{dl.name}: {hit[:120]}")
        if self.url_words is not None:
            detail = self.url_words.score(url, self.config.url_words.soft_threshold)
            if detail:
                return Drop("blocked_url_words", detail)
        return None

    def check_text(self, doc: Doc) -> Drop | None:
        tw = self.config.text_words
        if not tw.enabled or not self.words.size:
            return None
        text = scan_text(doc, tw)
        if not text:
            return None
        return score_words(self.words.find(text), text, tw)


def score_words(hits: list[bl.Hit], text: str, cfg: TextWordsConfig) -> Drop | None:
    """Hard hits >= hard_min_count, or soft hits >= soft_min_count and > soft_max_ratio of units."""
    if not hits:
        return None
    hard = [h for h in hits if h.level == "hard"]
    soft = [h for h in hits if h.level == "soft"]
    reason = None
    if len(hard) >= cfg.hard_min_count:
        reason = "hard"
    elif len(soft) >= cfg.soft_min_count:
        units = bl.count_units(text)
        if len(soft) / max(units, 1) > cfg.soft_max_ratio:
            reason = f"soft ratio {len(soft) / max(units, 1):.4f}"
    if reason is None:
        return None
    top = Counter(f"{h.lang}:{h.level[0]}:{h.term}" for h in (hard or soft)).most_common(3)
    terms = ", ".join(f"{t}x{n}" for t, n in top)
    return Drop("unsafe_words", f"{reason}; hard={len(hard)} soft={len(soft)}; {terms}")


# --------------------------------------------------------------------------- process cache

_RULES: dict[str, SafetyRules] = {}
_LOCK = threading.Lock()


def get_rules(config: Config) -> SafetyRules:
    """One SafetyRules per config per process: DoFn instances on the same worker share arrays."""
    key = config.model_dump_json()
    with _LOCK:
        rules = _RULES.get(key)
        if rules is None:
            rules = _RULES[key] = SafetyRules(config)
        return rules


class Stage(PerDocumentStage):
    stage_name = STAGE
    core_factory = staticmethod(get_rules)  # lists load once per process, cached by config
