"""safety: URL and domain blocklists, the first stage (before anything reads the page).

Rules, in order (first hit rejects):
  url_too_long       the URL has more than max_url_chars characters (checked before parsing)
  blocked_domain     the host or a parent domain is on a domain list (UT1 / one-per-line)
  blocked_url        the URL or a path prefix of it (at '/' boundaries) is a list's URL entry
  blocked_url_words  datatrove URLFilter word rules on the URL: a hard-banned token, >= N soft
                     tokens, or a banned subword anywhere in the alphanumeric-squashed URL
Hosts and URLs, of the document and of every list entry, are read by one WHATWG URL parser
(stages/urls.py), so every spelling a browser would resolve to a blocked host is blocked.
Word lists on the page's text are the `content_safety` stage, after extraction and language ID:
they must read the text the model will see, not an approximation of the raw HTML.
Lists load once per process (cached by config), in the DoFn factory. See docs/safety.md.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from stages import blocklists as bl
from stages.base import Stage
from stages.record import Doc, Drop
from stages.settings import (OutputPath, ResourcePath, Section,
                             StageSection)
from stages.urls import blocklist_url, host_suffixes

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


class Config(StageSection):
    domain_lists: list[DomainListConfig] = [DomainListConfig(path="configs/lists/domains/demo.txt")]
    # Seed of the xxh3-64 hashes of domains/URLs (part of the cache key).
    hash_seed: int = Field(default=0x5AFE, ge=0, lt=2**64)
    # Cache built hash arrays as .npz next to each list (or in cache_dir if that is read-only).
    cache: bool = True
    cache_dir: OutputPath | None = None
    url_words: UrlWordsConfig = UrlWordsConfig()
    # URLs longer than this (characters) are rejected as `url_too_long` before parsing. Web
    # servers refuse longer request lines (Apache 8,190 bytes, nginx 8 KiB buffers, IIS 16 KB by
    # default), so a fetched page's URL practically never exceeds it; the checks are linear in
    # the URL anyway, this bounds what one record can cost.
    max_url_chars: int = Field(default=16_384, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "text_words" in data:
            raise ValueError("safety.text_words moved to its own stage after extraction: write "
                             "its keys under `content_safety:` (text_source and max_scan_bytes "
                             "are gone: the extracted text is scored whole)")
        return data

    def check_resources(self) -> None:
        """Before any work (pipeline.resources checks every named file exists first): load each
        domain list as the stage will, so a plain list declared `format: ut1` (or a broken
        archive) fails naming its key."""
        for index, item in enumerate(self.domain_lists):
            try:
                bl.load_domain_list(list_spec(item), self.hash_seed, cache=self.cache,
                                    cache_dir=self.cache_dir)
            except Exception as error:  # noqa: BLE001 - tarfile, gzip, OS errors alike
                why = str(error).splitlines()[0] if str(error) else ""
                raise ValueError(f"domain_lists.{index}.path: cannot load {item.path} as format "
                                 f"{item.format} (allowed formats: lines, ut1): "
                                 f"{type(error).__name__}: {why}") from None


def list_spec(item: DomainListConfig) -> bl.ListSpec:
    """A domain list's config as the loader takes it."""
    categories = tuple(item.categories) if isinstance(item.categories, list) else item.categories
    return bl.ListSpec(item.path, item.format, categories)


def _read_terms(paths: list[str]) -> set[str]:
    terms: set[str] = set()
    for path in paths:
        terms |= bl.UrlWordRules.squash_terms(bl.read_lines_file(bl.resolve_path(path)))
    return terms


class SafetyRules:
    """All loaded lists for one config; callable as the stage core."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.domain_lists = [bl.load_domain_list(list_spec(d), config.hash_seed, cache=config.cache,
                                                 cache_dir=config.cache_dir)
                             for d in config.domain_lists]
        uw = config.url_words
        self.url_words = (bl.UrlWordRules(_read_terms(uw.hard_lists), _read_terms(uw.soft_lists),
                                          _read_terms(uw.subword_lists)) if uw.enabled else None)

    def __call__(self, doc: Doc) -> Doc | Drop:
        return (self.check_url(doc.url) if doc.url else None) or doc

    def check_url(self, url: str) -> Drop | None:
        """The first rule the URL breaks, or None. Linear in the URL's length."""
        if len(url) > self.config.max_url_chars:
            return Drop("url_too_long", f"{len(url)} chars > {self.config.max_url_chars}")
        if self.domain_lists:
            parsed = blocklist_url(url)
            hosts = host_suffixes(parsed)
            for dl in self.domain_lists:
                hit = dl.match_domain(hosts)
                if hit:
                    return Drop("blocked_domain", f"{dl.name}: {hit}")
            probe = bl.url_lookup_hashes(parsed, self.config.hash_seed) if parsed.host else None
            for dl in self.domain_lists:
                hit = dl.match_url(parsed, probe)
                if hit:
                    return Drop("blocked_url", f"{dl.name}: {hit[:120]}")
        if self.url_words is not None:
            detail = self.url_words.score(url, self.config.url_words.soft_threshold)
            if detail:
                return Drop("blocked_url_words", detail)
        return None


def get_rules(config: Config) -> SafetyRules:
    """One SafetyRules per config per process: DoFn instances on the same worker share arrays."""
    return bl.per_process(SafetyRules, config)


def make_core(config: Config, context: object = None) -> SafetyRules:
    """Lists load once per process, cached by config (DoFn instances on a worker share them)."""
    return get_rules(config)


SPEC = Stage(name=STAGE, make_core=make_core,
             reasons=("url_too_long", "blocked_domain", "blocked_url", "blocked_url_words"),
             reads=frozenset({"url"}), writes=frozenset())
