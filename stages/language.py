"""language: identify each document's language with py3langid -> doc.lang, doc.lang_score.

Why py3langid: a maintained, dependency-light rewrite of langid.py whose model ships inside the
wheel (nothing downloaded at run time), with 140 labels in 0.4.0 including zh and ja, and fast
enough (NumPy Naive Bayes over byte n-grams) to sit before the rule stages. Scores are its
normalised probabilities (softmax with a length-calibrated temperature), in [0, 1].

Only the first ``max_chars`` characters are classified: the cost is linear in length while
the label of a web page is settled by its first paragraphs (docs/rules.md has the speed).

Reject reasons, checked in this order:
- ``language_no_text``: nothing to classify (empty or whitespace-only text), lang "und".
- ``language_low_score``: best score below ``min_score`` (or the per-language override); the
  label itself is unreliable then, so this comes before the keep check.
- ``language_not_kept``: the label is not in ``keep``.
Rejected documents still carry lang/lang_score, for the audit.
"""
from __future__ import annotations

from functools import cache, partial
from typing import Annotated, Callable, Literal

from pydantic import Field, model_validator

from stages.base import PerDocumentStage
from stages.record import Doc, Drop
from stages.settings import StageSection

STAGE = "language"
UNDETERMINED = "und"


class Config(StageSection):
    # Languages to keep (py3langid codes, e.g. en, zh, ja, de) or "all".
    keep: list[str] | Literal["all"] = "all"
    # Minimum normalised probability of the best language; below -> language_low_score.
    min_score: float = Field(default=0.5, ge=0, le=1)
    # Labels renamed after classification (before the checks below). py3langid's Wu and
    # Cantonese labels catch Mandarin text too (9 of 1,000 THUCNews articles came out "wuu"),
    # and every later stage (rules, shingles, report) wants one Chinese code. The raw label
    # stays in doc.meta["lang_raw"] when renamed.
    aliases: dict[str, str] = Field(default_factory=lambda: {"wuu": "zh", "yue": "zh"})
    # Per-language overrides of min_score, e.g. {en: 0.65}.
    min_score_by_lang: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    # Characters classified from the start of the text (speed); 0 = the whole text.
    max_chars: int = Field(default=2000, ge=0)
    # Empty or whitespace-only text gets lang "und": reject it as language_no_text?
    reject_no_text: bool = True

    @model_validator(mode="after")
    def _keeps_something(self) -> "Config":
        if self.keep == []:
            raise ValueError("keep: [] would reject every document; name languages (e.g. [en]) "
                             "or write keep: all")
        return self


Classifier = Callable[[str], "tuple[str, float]"]


@cache
def load_classifier() -> Classifier:
    """py3langid's bundled model with normalised probabilities, loaded once per process and
    shared (extraction's charset guessing uses it too); classify keeps no per-call state."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return identifier.classify


def identify(text: str, classify: Classifier, max_chars: int = 2000) -> tuple[str, float]:
    """(language, score) of the text's first max_chars characters; ("und", 0.0) when empty."""
    sample = text[:max_chars] if max_chars else text
    if not sample.strip():
        return UNDETERMINED, 0.0
    lang, score = classify(sample)
    return str(lang), min(max(float(score), 0.0), 1.0)


def language_doc(doc: Doc, config: Config, classify: Classifier) -> Doc | Drop:
    """The stage core: label the document, then apply the keep list and score threshold."""
    lang, score = identify(doc.text or "", classify, config.max_chars)
    alias = config.aliases.get(lang)
    if alias is not None:
        doc.meta["lang_raw"] = lang
        lang = alias
    doc.lang, doc.lang_score = lang, round(score, 4)
    if lang == UNDETERMINED:
        if config.reject_no_text:
            return Drop("language_no_text", "no text to classify")
        return doc
    threshold = config.min_score_by_lang.get(lang, config.min_score)
    if score < threshold:
        return Drop("language_low_score", f"{lang} {score:.3f} < {threshold}")
    if config.keep != "all" and lang not in config.keep:
        return Drop("language_not_kept", f"{lang} {score:.3f}")
    return doc


def make_core(config: Config) -> Callable[[Doc], Doc | Drop]:
    """Runs in DoFn.setup: the model loads once per worker."""
    return partial(language_doc, config=config, classify=load_classifier())


class Stage(PerDocumentStage):
    stage_name = STAGE
    core_factory = staticmethod(make_core)
