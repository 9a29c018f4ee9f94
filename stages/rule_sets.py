"""Per-language rule sets for the quality and repetition stages, and where they come from.

A document's rule set is looked up by its language code (``rules_for(lang)``), first match wins:

1. ``languages: {xx: {...}}`` in the config (name ``config:xx``);
2. the stage's top-level thresholds (the paper's English values, name ``gopher``) for the codes in
   ``default_languages`` (default ``[en]``) and for documents without a language;
3. the sets this project measured itself (``MEASURED`` in each stage: zh from THUCNews,
   docs/rules.md §4);
4. rule files: YAML files of FineWeb-2's per-language shape (``rule_files``; default: the 30
   largest web languages shipped in ``configs/rules/fineweb2/``), name ``<folder>/<file stem>``;
5. ``other_languages``: ``pass`` (no rules; the document goes on unjudged), ``drop`` (reject
   with reason ``no_rule_set``), ``generic`` (the stage's language-independent set, name
   ``generic``) or ``apply_default`` (the paper's English set, name ``gopher``).

Rule files are read when the config is validated, so a missing file, an unknown key or two files
for one language fail before any work, naming the file. A file's language is its name's tag
(``deu_Latn.yml`` -> de, ``nob_Latn.yml`` -> no; stages.languages.code_of).
"""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

import yaml
from pydantic import Field, PrivateAttr, model_validator

from stages import languages
from stages.record import Doc, Drop, Verdict
from stages.settings import ResourcePath, Section, StageSection, resolve_path
from stages.text import Segmentation

# libyaml's safe loader when PyYAML was built with it (same documents, ~10x faster: a run reads
# ~180 rule files in every process), else the pure-Python one.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Keys of a FineWeb-2 language config (huggingface/fineweb-2 configs/<iso639-3>_<script>.yml).
FINEWEB2_KEYS = ("dup_line_frac", "dup_n_grams", "language_score", "line_punct_thr",
                 "max_avg_word_length", "max_non_alpha_words_ratio", "min_avg_word_length",
                 "new_line_ratio", "stopwords", "top_n_grams")
DEFAULT_RULE_FILES = ["configs/rules/fineweb2/*.yml"]
NO_RULE_SET = "no_rule_set"


@dataclass(frozen=True, slots=True)
class RuleFile:
    """One parsed rule file: its language code, its rule-set name and its values."""

    code: str
    name: str
    path: str
    values: dict[str, Any]


def _number(path: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{path}: {key}: expected a number, got {value!r}")
    return float(value)


def read_rule_file(path: str | Path) -> RuleFile:
    """Parse and check one FineWeb-2-shaped YAML file (every key optional, none unknown)."""
    path = Path(path)
    shown = str(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except OSError as error:
        raise ValueError(f"{shown}: cannot read ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{shown}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{shown}: expected a mapping of FineWeb-2 filter keys")
    unknown = sorted(set(data) - set(FINEWEB2_KEYS))
    if unknown:
        raise ValueError(f"{shown}: unknown key(s) {unknown}; allowed: {', '.join(FINEWEB2_KEYS)}")
    for key in ("dup_line_frac", "language_score", "line_punct_thr", "max_avg_word_length",
                "max_non_alpha_words_ratio", "min_avg_word_length", "new_line_ratio"):
        if key in data:
            _number(shown, key, data[key])
    for key in ("top_n_grams", "dup_n_grams"):
        pairs = data.get(key, [])
        if not isinstance(pairs, list) or not all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], int) for p in pairs):
            raise ValueError(f"{shown}: {key}: expected a list of [n, max fraction] pairs")
        for n, value in pairs:
            _number(shown, f"{key} {n}", value)
    stop = data.get("stopwords", [])
    if not isinstance(stop, list) or not all(isinstance(w, str) for w in stop):
        raise ValueError(f"{shown}: stopwords: expected a list of strings")
    try:
        code = languages.code_of(path.stem)
    except ValueError as error:
        raise ValueError(f"{shown}: the file name must be a language tag such as deu_Latn.yml "
                         f"({error})") from None
    return RuleFile(code=code, name=f"{path.parent.name}/{path.stem}", path=shown, values=data)


def rule_file_paths(patterns: list[str]) -> list[Path]:
    """Files named by paths or globs (relative ones from the project root), sorted, unique."""
    out: dict[Path, None] = {}
    for pattern in patterns:
        resolved = resolve_path(pattern)
        if glob.has_magic(str(resolved)):
            matches = sorted(Path(p) for p in glob.glob(str(resolved)))
            if not matches:
                raise ValueError(f"rule_files: {pattern!r} matches no file")
            out.update(dict.fromkeys(matches))
        elif resolved.is_file():
            out[resolved] = None
        else:
            raise ValueError(f"rule_files: {pattern!r}: no such file")
    return list(out)


def read_rule_files(patterns: list[str]) -> dict[str, RuleFile]:
    """Language code -> rule file; two files for one language are an error."""
    by_code: dict[str, RuleFile] = {}
    for path in rule_file_paths(patterns):
        rule_file = read_rule_file(path)
        if rule_file.code in by_code:
            raise ValueError(f"rule_files: {by_code[rule_file.code].path} and {rule_file.path} "
                             f"are both for language {rule_file.code!r}; keep one")
        by_code[rule_file.code] = rule_file
    return by_code


class PerLanguageRuleSets(StageSection):
    """Config shared by the stages whose rules come in per-language sets (quality, repetition).

    A subclass declares ``languages: dict[str, <its rule section>]``, the class attributes
    ``MEASURED`` and ``GENERIC`` and :meth:`from_rule_file`; its own top-level fields are the
    paper's (English) rule set.
    """

    MEASURED: ClassVar[dict[str, Section]] = {}
    GENERIC: ClassVar[Section | None] = None

    # The top-level (paper) thresholds apply to these languages and to documents without a
    # language (language stage off).
    default_languages: list[str] = Field(default_factory=lambda: ["en"])
    # FineWeb-2-shaped YAML files (paths or globs; relative = from the project root), one per
    # language, named by language tag (deu_Latn.yml). Default: FineWeb-2's 30 largest languages.
    rule_files: list[ResourcePath] = Field(default_factory=lambda: list(DEFAULT_RULE_FILES))
    # Languages without any rule set: pass (unjudged), drop (reject: no_rule_set), generic
    # (language-independent set) or apply_default (the paper's English set). Default: generic,
    # so no kept document goes unjudged (docs/rules.md §4).
    other_languages: Literal["pass", "drop", "generic", "apply_default"] = "generic"
    segmentation: Segmentation = Field(default_factory=Segmentation)

    _table: dict[str, tuple[str, Any]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _load_rule_files(self) -> "PerLanguageRuleSets":
        """Read the rule files now, so a bad file fails with the config, not mid-run."""
        files = read_rule_files(self.rule_files) if self.rule_files else {}
        table: dict[str, tuple[str, Any]] = {}
        for code, rule_file in files.items():
            table[code] = (rule_file.name, self.from_rule_file(rule_file))
        for code, rules in self.MEASURED.items():
            table[code] = (getattr(rules, "name", None) or f"measured:{code}", rules)
        self._table = table
        return self

    def from_rule_file(self, rule_file: RuleFile) -> Any:
        """The stage's rules for one FineWeb-2-shaped file (subclasses map the keys)."""
        raise NotImplementedError

    def rule_set(self, lang: str | None) -> tuple[str | None, Any]:
        """(name, rules) for a document's language; (None, None) when it passes unjudged and
        (NO_RULE_SET, None) when it is to be dropped for having no rule set."""
        if lang is None:
            return "gopher", self
        configured = self.languages.get(lang)  # type: ignore[attr-defined]
        if configured is not None:
            return getattr(configured, "name", None) or f"config:{lang}", configured
        if lang in self.default_languages:
            return "gopher", self
        found = self._table.get(lang)
        if found is not None:
            return found
        if self.other_languages == "generic":
            return "generic", self.GENERIC
        if self.other_languages == "apply_default":
            return "gopher", self
        if self.other_languages == "drop":
            return NO_RULE_SET, None
        return None, None

    def rules_for(self, lang: str | None) -> Any:
        """The rules for a document's language, or None when it is not judged."""
        return self.rule_set(lang)[1]

    def judged_languages(self) -> list[str]:
        """Codes that have a rule set of their own."""
        return sorted({*self._table, *self.default_languages,
                       *self.languages})  # type: ignore[attr-defined]

    def judge_document(self, doc: Doc, stage: str,
                       evaluate: Callable[[str, str | None, Any], tuple[Any, list[Drop]] | None],
                       statistics: Callable[[Any], dict[str, float]]) -> Doc | Drop | Verdict:
        """A rule-set stage's core: records the rule set's name in doc.meta["rule_sets"][stage],
        then returns the first failing rule's Drop, else the document unchanged - with the
        statistics it decided on (a Verdict) when a rule set judged it, for the report's
        histograms. ``evaluate(text, lang, config)`` gives (stats, failed rules) or None."""
        name, rules = self.rule_set(doc.lang)
        doc.meta.setdefault("rule_sets", {})[stage] = None if name == NO_RULE_SET else name
        if name == NO_RULE_SET:
            return Drop(NO_RULE_SET, f"no {stage} rule set for {doc.lang}")
        if rules is None:
            return doc
        result = evaluate(doc.text or "", doc.lang, self)
        if result is None:
            return doc
        stats, failed = result
        return Verdict(failed[0] if failed else doc, (name, statistics(stats)))

    def load_segmenters(self) -> None:
        """Runs in DoFn.setup: load the segmenters of the languages that are always present
        (the default languages); the others (Japanese, Thai, Korean dictionaries: 0.1-1.2 s and
        up to ~200 MB each) load on a worker's first document in that language and stay."""
        self.segmentation.load([None, *self.default_languages])
