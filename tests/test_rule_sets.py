"""Per-language rule sets: FineWeb-2-shaped rule files, the lookup order, the statistics and
thresholds exposed for tuning views, and one rule per language family pinned at its
threshold from both sides (spaced Latin, Cyrillic, Arabic script, CJK, Thai, Korean)."""
from __future__ import annotations

from pathlib import Path

import pytest

from stages import quality, repetition
from stages import rule_sets as rs
from stages.record import Doc

FW2 = Path(__file__).resolve().parent.parent / "configs" / "rules" / "fineweb2"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------- rule files ---------

def test_shipped_files_cover_30_languages() -> None:
    files = rs.read_rule_files([str(FW2 / "*.yml")])
    assert len(files) == 30
    assert {"de", "ru", "zh", "ja", "ko", "th", "ar", "fa", "hi", "no", "vi"} <= set(files)
    assert (FW2 / "LICENSE").is_file()


def test_fineweb2_keys_map_onto_our_rules() -> None:
    config = quality.Config()
    name, de = config.rule_set("de")
    assert name == "fineweb2/deu_Latn"
    assert (de.min_mean_word_length, de.max_mean_word_length, de.min_alpha_words) == (0, 15, 0.774)
    assert de.min_stop_words == 2 and "wurde" in de.stop_words
    assert (de.min_words, de.max_hash_ratio, de.max_bullet_lines) == (50, 0.1, 0.9)  # paper's
    name, rde = repetition.Config().rule_set("de")
    assert rde.max_dup_line_frac == 0.263
    assert rde.max_top_ngram_char_frac == {2: 0.169, 3: 0.153, 4: 0.137}
    assert rde.max_dup_ngram_char_frac[10] == 0.098
    assert rde.max_dup_para_frac == 0.30 and rde.max_dup_line_char_frac == 0.20  # paper's


def test_lookup_order() -> None:
    config = quality.Config(languages={"de": {"min_words": 10}})
    assert config.rule_set("de")[0] == "config:de"
    assert config.rule_set("en") == ("gopher", config)
    assert config.rule_set(None) == ("gopher", config)
    assert config.rule_set("zh")[0] == "zh_thucnews"  # measured wins over cmn_Hani.yml
    assert config.rule_set("fr")[0] == "fineweb2/fra_Latn"
    assert config.rule_set("eo")[0] == "generic"
    named = quality.Config(languages={"de": {"name": "my_german"}})
    assert named.rule_set("de")[0] == "my_german"


def test_user_rule_file_of_the_same_shape(tmp_path: Path) -> None:
    path = write(tmp_path / "epo_Latn.yml", "min_avg_word_length: 2\nmax_avg_word_length: 9\n"
                 "stopwords: [la, kaj, de]\ndup_line_frac: 0.25\ntop_n_grams: [[2, 0.3]]\n")
    q = quality.Config(rule_files=[str(path)])
    name, eo = q.rule_set("eo")
    assert name == f"{tmp_path.name}/epo_Latn" and eo.stop_words == ["la", "kaj", "de"]
    assert q.rule_set("de")[0] == "generic"  # only the listed files are read
    r = repetition.Config(rule_files=[str(tmp_path / "*.yml")])
    assert r.rule_set("eo")[1].max_top_ngram_char_frac == {2: 0.3}


@pytest.mark.parametrize("name,text,message", [
    ("deu_Latn.yml", "dup_line_frac: 0.2\nunknown_key: 1\n", "unknown key"),
    ("deu_Latn.yml", "dup_line_frac: high\n", "expected a number"),
    ("deu_Latn.yml", "top_n_grams: [2, 0.2]\n", "pairs"),
    ("deu_Latn.yml", "stopwords: der\n", "list of strings"),
    ("deu_Latn.yml", "- just\n- a list\n", "mapping"),
    ("not a tag!.yml", "dup_line_frac: 0.2\n", "language tag"),
])
def test_bad_rule_files_fail_with_the_config(tmp_path: Path, name: str, text: str,
                                             message: str) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(ValueError, match=message) as error:
        quality.Config(rule_files=[str(path)])
    assert str(path) in str(error.value) or message == "language tag"


def test_two_files_for_one_language_fail(tmp_path: Path) -> None:
    write(tmp_path / "nob_Latn.yml", "dup_line_frac: 0.2\n")
    write(tmp_path / "no.yml", "dup_line_frac: 0.3\n")
    with pytest.raises(ValueError, match="both for language 'no'"):
        repetition.Config(rule_files=[str(tmp_path / "*.yml")])
    with pytest.raises(ValueError, match="matches no file"):
        repetition.Config(rule_files=[str(tmp_path / "*.yaml")])


def test_bad_rule_file_names_the_key_in_pipeline_config(tmp_path: Path) -> None:
    from pipeline.config import ConfigError, load_config

    path = write(tmp_path / "deu_Latn.yml", "max_avg_word_length: [1]\n")
    with pytest.raises(ConfigError, match="quality"):
        load_config(None, [f"quality.rule_files=[{path}]"])


# --------------------------------------------------------- statistics and thresholds ------

def test_rule_statistics_and_thresholds_line_up() -> None:
    rules = quality.Config().rule_set("de")[1]
    thresholds = quality.rule_thresholds(rules)
    stats = quality.rule_statistics(quality.quality_stats("der und die Katze " * 20))
    assert set(stats) == set(thresholds)
    assert thresholds["mean_word_length"] == (0.0, 15.0, "gopher_mean_word_length")
    assert thresholds["alpha_words"] == (0.774, None, "gopher_alpha_words")
    assert thresholds["hash_ratio"][2] == thresholds["ellipsis_ratio"][2] == "gopher_symbol_ratio"
    rrules = repetition.Config().rule_set("de")[1]
    rthresholds = repetition.rule_thresholds(rrules)
    rstats = repetition.rule_statistics(repetition.repetition_stats("a b c d e f " * 5, rrules))
    assert set(rstats) == set(rthresholds)
    assert rthresholds["dup_line_frac"] == (None, 0.263, "gopher_dup_line_frac")
    assert rthresholds["top_2gram_char_frac"] == (None, 0.169, "gopher_top_2gram_char_frac")
    assert all(isinstance(v, float) for v in (*stats.values(), *rstats.values()))


# ------------------------------------------ one rule per family, threshold from both sides --

def reasons(text: str, lang: str) -> list[str]:
    result = quality.evaluate(text, lang, quality.Config())
    assert result is not None
    return [d.reason for d in result[1]]


def test_latin_german_stop_words_both_sides() -> None:
    filler = " ".join(f"Haus{i}" for i in range(60))
    assert "gopher_stop_words" not in reasons(f"der Hund und {filler}", "de")  # 2 of 15
    assert "gopher_stop_words" in reasons(f"der Hund Der {filler}", "de")       # 1 (der, Der)


def test_cyrillic_russian_alpha_words_both_sides() -> None:
    """ru min_alpha_words 0.713: 713 of 1,000 words with a letter pass, 712 fail."""
    def text(alpha: int) -> str:
        words = ["в", "и"] + ["слово"] * (alpha - 2) + ["2024"] * (1000 - alpha)
        return " ".join(words)
    assert quality.quality_stats(text(713), stop_words=("в", "и")).alpha_words == 0.713
    assert "gopher_alpha_words" not in reasons(text(713), "ru")
    assert "gopher_alpha_words" in reasons(text(712), "ru")


def test_arabic_mean_word_length_both_sides() -> None:
    """ar max mean word length 9 (words: Arabic comma stripped, "،" counted as a stop word)."""
    words = ["في", "من"] + ["ا" * 9] * 98  # (2 + 2 + 882) / 100 = 8.86
    ok = "، ".join(words)
    assert quality.quality_stats(ok).mean_word_length == pytest.approx(8.86)
    assert "gopher_mean_word_length" not in reasons(ok, "ar")
    too_long = "، ".join(["في", "من"] + ["ا" * 10] * 98)  # 9.84
    assert "gopher_mean_word_length" in reasons(too_long, "ar")


def test_cjk_japanese_stop_words_both_sides() -> None:
    """ja: SudachiPy words; FineWeb-2's 15 particles/suffixes, at least 2 distinct."""
    body = "東京大学" * 60
    assert "gopher_stop_words" not in reasons("吾輩は猫である。" + body, "ja")  # は, で
    assert "gopher_stop_words" in reasons("吾輩猫。" + body + "東京は", "ja")     # は only


def test_korean_stop_words_need_kiwi_both_sides() -> None:
    body = " ".join(["대한민국"] * 60)
    assert "gopher_stop_words" not in reasons("학교에서 공부를 " + body, "ko")  # 에서, 를
    assert "gopher_stop_words" in reasons("학교에서 " + body, "ko")             # 에서 only


def test_thai_stop_words_both_sides() -> None:
    body = "แมว" * 60
    assert "gopher_stop_words" not in reasons("ฉันอยู่ในบ้านและกินข้าว" + body, "th")  # ใน, และ
    assert "gopher_stop_words" in reasons("ฉันอยู่ในบ้าน" + body, "th")               # ใน only


def test_chinese_measured_min_words_both_sides() -> None:
    """zh_thucnews min_words 30 (jieba words)."""
    word = "经济"  # one jieba word
    text30 = "的" + "，".join([word] * 29) + "。"
    assert quality.quality_stats(text30, "jieba", ("的",)).words == 30
    assert "gopher_word_count" not in reasons(text30, "zh")
    assert "gopher_word_count" in reasons("的" + "，".join([word] * 28) + "。", "zh")


def test_meta_rule_sets_from_both_stages() -> None:
    doc = Doc(id="x", text="Привет мир и в доме " * 20, lang="ru")
    quality.make_core(quality.Config())(doc)
    repetition.make_core(repetition.Config())(doc)
    assert doc.meta["rule_sets"] == {"quality": "fineweb2/rus_Cyrl",
                                     "repetition": "fineweb2/rus_Cyrl"}
