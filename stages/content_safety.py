"""content_safety: word lists (LDNOOBW) on the extracted text, after language identification.

Why here and not in `safety`: a word rule must read the text the model will be trained on.
Scored on the raw page, markup walks around it (a term split by ``<b>``, an empty ``<span>`` or
a comment, a term behind 300 KB of ``<script>``, a UTF-8 page served as ``charset=utf-16``), and
a term that sits only in a sidebar teaser, a related-post link or an image ``alt`` rejects a
normal article (docs/safety.md measures both directions). After extraction the text is the
main text only, decoded by extract's charset chain, and it is put in the matching normal form
of :mod:`stages.textnorm` (format characters such as soft hyphens and zero-width spaces
removed, NFKC folding fullwidth letters) before matching. After language ID the document's
language is known, so ``select: document_language`` can score each document with its own
language's list plus ``always`` (docs/safety.md measures both choices).

The whole text is scanned (Aho-Corasick, linear): there is no prefix to pad past. Its size is
bounded upstream: ``extract.max_text_chars`` for pages, ``input.max_record_bytes`` for text
records.

Reject reason: ``unsafe_words`` (>= hard_min_count hard hits, or >= soft_min_count soft hits
that are also more than soft_max_ratio of the text's units).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from stages import blocklists as bl
from stages.base import Stage
from stages.language import UNDETERMINED
from stages.record import Doc, Drop
from stages.settings import OptionalResourcePath, ResourcePath, StageSection

STAGE = "content_safety"


class Config(StageSection):
    # LDNOOBW language files to load; terms with a CJK/Thai character match as substrings,
    # all others at word boundaries.
    languages: list[str] = ["en", "zh"]
    list_path: ResourcePath = "configs/lists/ldnoobw/{lang}"
    # Terms named here count as soft; every other term of the language's list is hard.
    soft_list_path: OptionalResourcePath = "configs/lists/soft/{lang}.txt"
    # Which loaded lists score a document: "all" = every list on every document;
    # "document_language" = the list of the document's language (doc.lang, if loaded) plus
    # `always`; every list when the language is unknown (language stage off, "und").
    # Default "all": measured in docs/safety.md, selecting by language changed no decision on
    # the dev pages or the clean corpora with the shipped en+zh lists.
    select: Literal["all", "document_language"] = "all"
    # With select: document_language, these lists also score every document (English spam
    # terms appear on pages in every language).
    always: list[str] = ["en"]
    # CJK/Thai terms shorter than this many characters are not scored: single characters such
    # as 性 (in 性能, 可能性, 女性) or 奶 (牛奶) rejected 12% of clean THUCNews articles.
    cjk_min_term_chars: int = Field(default=2, ge=1)
    hard_min_count: int = Field(default=1, ge=1)
    soft_min_count: int = Field(default=3, ge=1)
    # Soft hits / text units (words; one unit per CJK character) must exceed this too.
    soft_max_ratio: float = Field(default=0.03, ge=0.0, le=1.0)

    def list_file(self, lang: str) -> Path:
        return bl.resolve_path(self.list_path.replace("{lang}", lang))

    def soft_file(self, lang: str) -> Path:
        return bl.resolve_path(self.soft_list_path.replace("{lang}", lang))

    @model_validator(mode="after")
    def _lists_exist(self) -> "Config":
        """A missing list is a config error before any work, naming the key and the file."""
        if not self.enabled:
            return self
        missing = {lang: str(self.list_file(lang)) for lang in self.languages
                   if not self.list_file(lang).is_file()}
        if missing:
            raise ValueError(f"content_safety.languages: no word list for {sorted(missing)} "
                             f"(looked for {sorted(missing.values())} from list_path "
                             f"{self.list_path!r})")
        extra = sorted(set(self.always) - set(self.languages))
        if extra:
            raise ValueError(f"content_safety.always: {extra} not in content_safety.languages "
                             f"{self.languages}")
        return self


class WordRules:
    """The loaded lists of one config; callable as the stage core."""

    def __init__(self, config: Config) -> None:
        self.config = config
        hard = {lang: config.list_file(lang) for lang in config.languages}
        soft = {lang: config.soft_file(lang) for lang in config.languages}
        self.matcher = bl.WordMatcher(bl.load_word_terms(hard, soft, config.cjk_min_term_chars))
        self.always = frozenset(config.always)

    def __call__(self, doc: Doc) -> Doc | Drop:
        return self.check(doc.text or "", doc.lang) or doc

    def lists_for(self, lang: str | None) -> frozenset[str] | None:
        """The languages whose lists score a document in ``lang``; None = all loaded lists
        (select: all, or the language is unknown). A language without a list of its own gets
        the ``always`` lists."""
        if self.config.select == "all" or not lang or lang == UNDETERMINED:
            return None
        primary = lang.replace("_", "-").split("-", 1)[0].lower()
        return self.always | ({primary} & self.matcher.languages)

    def check(self, text: str, lang: str | None = None) -> Drop | None:
        if not text or not self.matcher.size:
            return None
        return score_words(self.matcher.find(text, self.lists_for(lang)), text, self.config)


def score_words(hits: list[bl.Hit], text: str, cfg: Config) -> Drop | None:
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


def make_core(config: Config, context: object = None) -> WordRules:
    """Once per worker: the automaton is built once per process and config."""
    return bl.per_process(WordRules, config)


SPEC = Stage(name=STAGE, make_core=make_core, reasons=("unsafe_words",),
             reads=frozenset({"text", "lang"}), writes=frozenset())
