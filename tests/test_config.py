"""Config files: `extends`, the path rule, hostile YAML, and every config error caught before work.

Issue 14 ("Resource limits and config") and issue 15 ("Packaging and paths", "Defaults"): each
error class below used to pass `validate` (or hang it) and fail inside a running Beam job.
"""
from __future__ import annotations

import json
import glob
import os
import typing
from pathlib import Path

import pytest
import yaml
from apache_beam.io.filesystem import FileMetadata, MatchResult
from apache_beam.io.localfilesystem import LocalFileSystem
from pydantic import BaseModel

from pipeline.cli import main
from pipeline.config import (DEMO_INPUT, MAX_EXTENDS, ConfigError, _config_model,
                             iter_path_fields, load_config, path_kind, safe_yaml)
from pipeline.resources import check_resources, demo_resources
from stages import safety
from stages.settings import bundled_path, bundled_root, resolve_path
from tests.conftest import shared_path

PROJECT = Path(__file__).resolve().parent.parent
CONFIGS = PROJECT / "configs"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- extends

def test_extends_merges_sections_and_replaces_lists(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", "run: {seed: 7}\noutput: {compression: snappy, path: base}\n")
    write(tmp_path / "child.yaml", "extends: base.yaml\noutput: {path: child}\n")
    config = load_config(tmp_path / "child.yaml")
    assert (config.run.seed, config.output.compression) == (7, "snappy")
    assert config.output.path == str(tmp_path / "child")


def test_extends_loop_and_bad_parent_are_errors(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="loops"):
        load_config(tmp_path / "a.yaml")
    write(tmp_path / "c.yaml", "extends: missing.yaml\n")
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_config(tmp_path / "c.yaml")


def test_a_1200_deep_extends_chain_is_refused_cleanly(tmp_path: Path) -> None:
    for i in range(1200):
        write(tmp_path / f"c{i}.yaml", f"extends: c{i + 1}.yaml\n" if i < 1199 else "run: {seed: 3}\n")
    with pytest.raises(ConfigError, match=f"deeper than {MAX_EXTENDS} files") as error:
        load_config(tmp_path / "c0.yaml")
    assert len(str(error.value)) < 300


def test_user_config_extends_a_bundled_one(tmp_path: Path) -> None:
    write(tmp_path / "mine.yaml", "extends: bundled:configs/zh_web.yaml\nrun: {seed: 9}\n")
    config = load_config(tmp_path / "mine.yaml")
    assert config.run.seed == 9 and config.language.keep == ["zh", "en"]


# --------------------------------------------------------------------------- the path rule

def test_relative_paths_resolve_against_the_config_file(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not the install folder, not the current directory: the file that states them (as with
    `extends`); a parent's paths against the parent's folder."""
    write(tmp_path / "base" / "lists" / "a.txt", "a.example\n")
    write(tmp_path / "base" / "base.yaml", "tokenize: {enabled: true}\nsafety:\n  cache_dir: cache\n"
          "  domain_lists: [{path: lists/a.txt}]\n")
    write(tmp_path / "proj" / "bench" / "b.jsonl", '{"q": "x"}\n')
    write(tmp_path / "proj" / "run.yaml",
          "extends: ../base/base.yaml\noutput: {path: out}\ninput: {paths: ['data/*.jsonl']}\n"
          "decontaminate:\n  benchmarks: [{name: b, path: bench/b.jsonl, fields: q}]\n")
    monkeypatch.chdir(tmp_path / "base" / "lists")  # anywhere else
    config = load_config(tmp_path / "proj" / "run.yaml")
    assert config.safety.domain_lists[0].path == str(tmp_path / "base" / "lists" / "a.txt")
    assert config.safety.cache_dir == str(tmp_path / "base" / "cache")
    assert config.decontaminate.benchmarks[0].path == str(tmp_path / "proj" / "bench" / "b.jsonl")
    assert config.input.paths == [str(tmp_path / "proj" / "data" / "*.jsonl")]
    assert config.output.path == str(tmp_path / "proj" / "out")


def test_command_line_paths_resolve_against_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "lists" / "d.txt", "a.example\n")
    write(tmp_path / "cfg" / "c.yaml", "run: {seed: 1}\n")
    monkeypatch.chdir(tmp_path)
    config = load_config("cfg/c.yaml", ["safety.domain_lists.0.path=lists/d.txt",
                                        "safety.url_words.hard_lists=[lists/d.txt]"],
                         **{"input.paths": ["in/*.jsonl"], "output.path": "out"})
    assert config.safety.domain_lists[0].path == str(tmp_path / "lists" / "d.txt")
    assert config.safety.url_words.hard_lists == [str(tmp_path / "lists" / "d.txt")]
    assert config.input.paths == [str(tmp_path / "in" / "*.jsonl")]
    assert config.output.path == str(tmp_path / "out")


def test_defaults_and_bundled_names_resolve_through_the_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "c.yaml", "safety:\n  url_words: {hard_lists: "
          "['bundled:configs/lists/url/banned_words.txt', 'gs://bucket/words.txt', '~/w.txt']}\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.safety.url_words.hard_lists == [
        str(bundled_root() / "configs/lists/url/banned_words.txt"), "gs://bucket/words.txt",
        os.path.expanduser("~/w.txt")]
    default = load_config()
    assert default.input.paths == [DEMO_INPUT] and Path(DEMO_INPUT).is_file()
    assert default.output.path == "out/demo"  # the current folder at run time
    for key, value, kind, _ in iter_path_fields(default):
        if kind.role != "output" and "{" not in value:
            assert Path(value).is_absolute(), key
            if glob.has_magic(value):  # a glob (rule files): it names bundled files
                assert glob.glob(value), key
            else:
                assert Path(value).is_file(), key
    with pytest.raises(ConfigError, match="inside the package"):
        load_config(tmp_path / "c.yaml", ["safety.domain_lists.0.path=bundled:../../etc/passwd"])


def test_every_path_like_field_is_path_typed() -> None:
    """A new field holding a file name must use the path type, or the rule above silently
    does not apply to it (and check_resources does not see it)."""
    untyped = []

    def visit(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            nested = [a for a in (annotation, *typing.get_args(annotation))
                      if isinstance(a, type) and issubclass(a, BaseModel)]
            for arg in typing.get_args(annotation):
                nested += [a for a in typing.get_args(arg)
                           if isinstance(a, type) and issubclass(a, BaseModel)]
            for sub in nested:
                visit(sub, f"{prefix}{name}.")
            looks_like_path = name in ("path", "paths", "model") or name.endswith(
                ("_path", "_lists", "_dir", "_file"))
            typed = path_kind(field.metadata) is not None or "PathKind" in repr(annotation)
            if looks_like_path and not nested and not typed:
                untyped.append(prefix + name)

    visit(_config_model(), "")
    assert untyped == []


def test_set_addresses_list_items_by_index(tmp_path: Path) -> None:
    config = load_config(None, ["decontaminate.benchmarks.0.name=renamed",
                                "safety.domain_lists.0.format=lines"])
    assert config.decontaminate.benchmarks[0].name == "renamed"
    with pytest.raises(ConfigError, match="out of range"):
        load_config(None, ["safety.domain_lists.3.path=x.txt"])
    with pytest.raises(ConfigError, match="address an item by its index"):
        load_config(None, ["safety.domain_lists.path=x.txt"])


# --------------------------------------------------------------------------- hostile YAML

BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'] +
    [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)] +
    ["run: {seed: *i}"]) + "\n"


def test_alias_bomb_is_refused_with_a_short_message(tmp_path: Path) -> None:
    """1 KB that expands to ~10^9 values: refused while composing (before anything is built)."""
    path = write(tmp_path / "bomb.yaml", BOMB)
    assert path.stat().st_size < 1024
    with pytest.raises(ConfigError, match="alias") as error:
        load_config(path)
    assert len(str(error.value)) < 400


def test_merge_key_bomb_and_recursive_alias_are_refused() -> None:
    levels = ["l0: &l0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    levels += [f"l{i}: &l{i} {{" + ", ".join(f"k{j}: *l{i - 1}" for j in range(8)) + "}"
               for i in range(1, 9)]
    with pytest.raises(ConfigError, match="alias"):
        safe_yaml("\n".join(levels) + "\nx: {<<: *l8}\n", "merge.yaml")
    with pytest.raises(ConfigError, match="recursive"):
        safe_yaml("a: &a [1, *a]\n", "loop.yaml")


def test_reasonable_aliases_and_merge_keys_still_work() -> None:
    data = safe_yaml("base: &rules {min_words: 30, max_words: 1000}\n"
                     "zh: {<<: *rules, min_words: 20}\nja: *rules\n", "ok.yaml")
    assert data["zh"] == {"min_words": 20, "max_words": 1000} and data["ja"]["max_words"] == 1000


def test_duplicate_keys_are_errors_naming_key_and_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.yaml", "run: {seed: 1}\nquality:\n  min_words: 5\n  min_words: 6\n")
    with pytest.raises(ConfigError, match=r"duplicate key min_words \(first at line 3\)"):
        load_config(path)
    with pytest.raises(ConfigError, match="duplicate key run"):
        safe_yaml("run: 1\nrun: 2\n", "top.yaml")


def test_deep_nesting_huge_files_and_huge_values_give_short_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nested too deeply|not valid YAML"):
        safe_yaml("x: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml")
    big = write(tmp_path / "big.yaml", "run: {seed: 1}\n" + "#" * (2 << 20) + "\n")
    with pytest.raises(ConfigError, match="at most"):
        load_config(big)
    huge = write(tmp_path / "huge.yaml", f"run: {{seed: '{'9' * 100_000}x'}}\n")
    with pytest.raises(ConfigError, match="run.seed") as error:
        load_config(huge)
    assert len(str(error.value)) < 1000


# --------------------------------------------------------------------------- bundled configs

@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_bundled_config_validates(name: str) -> None:
    if name in ("benchmarks_all.yaml", "bench_peer_stages.yaml", "bench_peer_text.yaml"):
        shared_path("benchmarks")  # they name files under ../shared/data
    if name == "production.yaml":
        return  # needs the user's files: test_production_config_names_what_is_missing
    check_resources(load_config(CONFIGS / name))


def test_default_config_states_only_what_differs_from_code() -> None:
    """Defaults live in code once; default.yaml repeating one (and drifting, as hash_seed 23038
    vs 0x5AFE did) is what this catches."""
    code = _config_model()().model_dump(mode="json")
    for name in ("default.yaml", "production.yaml"):
        stated = safe_yaml((CONFIGS / name).read_text(), name) or {}
        stated.pop("extends", None)

        def repeats(node: object, default: object, key: str) -> list[str]:
            if isinstance(node, dict) and isinstance(default, dict):
                return [k for sub, value in node.items()
                        for k in repeats(value, default.get(sub), f"{key}.{sub}")]
            return [key] if node == default else []

        assert repeats(stated, code, "") == [], name
    assert load_config().safety.hash_seed == 0x5AFE


def test_production_config_names_what_is_missing_and_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config("production")
    message = str(error.value)
    assert "safety.domain_lists.0.path: required, not given" in message
    assert "url_filterblacklistsv0_3_0.tar.gz" in message and "datatrove" in message
    for index in range(6):
        assert f"--set decontaminate.benchmarks.{index}.path=PATH" in message
    lists = write(tmp_path / "blocklist.txt", "bad.example\n")
    record = {"question": "q", "answer": "a", "prompt": "p", "canonical_solution": "s",
              "test": "t", "query": "Question: q", "choices": ["a", "b"],
              "context_options": ["x", "y"], "continuation": "c", "context": "c"}
    bench = write(tmp_path / "b.jsonl", json.dumps(record) + "\n")
    sets = [f"safety.domain_lists.0.path={lists}", "safety.domain_lists.0.format=lines"]
    sets += [f"decontaminate.benchmarks.{i}.path={bench}" for i in range(6)]
    config = load_config("production", sets)
    check_resources(config)
    assert demo_resources(config) == [next(r for r in demo_resources(load_config())
                                           if r["key"] == "input.paths.0")]


# --------------------------------------------------------------------------- errors before work

def _word_list_case() -> tuple[str, str]:
    """Word lists live in safety.text_words, or (after issue 14's move) in content_safety."""
    if "content_safety" in _config_model().model_fields:
        return "content_safety: {languages: [en, xx]}\n", "content_safety.languages"
    return "safety:\n  text_words: {languages: [en, xx]}\n", "safety.text_words.languages"


CASES = {
    "missing_domain_list": ("safety:\n  domain_lists: [{path: no/such/list.txt}]\n",
                            "safety.domain_lists.0.path"),
    "word_list_for_unknown_language": _word_list_case(),
    "plain_list_declared_ut1": ("safety:\n  domain_lists: [{path: plain.txt, format: ut1}]\n",
                                "safety.domain_lists.0"),
    "untrainable_tokenizer": ("tokenize:\n  train: {vocab_size: 16, hard_vocab_limit: true}\n",
                              "tokenize.train.vocab_size"),
    "min_words_above_max_words": ("quality: {min_words: 500, max_words: 100}\n", "quality.min_words"),
    "per_language_min_above_max": ("quality:\n  languages: {zh: {min_words: 9, max_words: 3}}\n",
                                   "quality.languages.zh.min_words"),
    "tiny_timeout": ("extract: {timeout_seconds: 1.0e-9}\n", "extract.timeout_seconds"),
    "empty_keep_list": ("language: {keep: []}\n", "language.keep"),
    "duplicate_keys": ("run: {seed: 1}\nrun: {seed: 2}\n", "duplicate key run"),
    "alias_bomb": (BOMB, "aliases expand"),
    "missing_benchmark": ("decontaminate:\n  benchmarks: [{name: b, path: no/b.jsonl}]\n",
                          "decontaminate.benchmarks.0.path"),
}


@pytest.mark.parametrize("verb", ["validate", "run"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_config_errors_fail_validate_and_run_before_any_work(
        case: str, verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, key = CASES[case]
    write(tmp_path / "plain.txt", "a.example\nb.example\n")
    config = write(tmp_path / "c.yaml", text)
    out = tmp_path / "out"
    args = [verb, "--config", str(config)] + (["--output", str(out)] if verb == "run" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and key in err and "Traceback" not in err
    assert len(err) < 2000
    assert not out.exists()  # nothing prepared, nothing written


@pytest.mark.parametrize("verb", ["validate", "run"])
def test_unknown_runner_fails_before_any_work(verb: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main([verb, "--runner", "NoSuchRunner"] + (["--output", str(out)] if verb == "run"
                                                      else [])) == 2
    assert "--runner NoSuchRunner" in capsys.readouterr().err and not out.exists()


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path / "c.yaml", "safety:\n  domain_lists: [{path: a.txt}, {path: b.txt}]\n"
          "  url_words: {hard_lists: [c.txt]}\n")
    with pytest.raises(ConfigError) as error:
        check_resources(load_config(tmp_path / "c.yaml"))
    for key in ("safety.domain_lists.0.path", "safety.domain_lists.1.path",
                "safety.url_words.hard_lists.0"):
        assert key in str(error.value)


def test_disabled_sections_and_optional_files_need_nothing(tmp_path: Path) -> None:
    write(tmp_path / "words" / "de", "schlecht\n")
    config = load_config(None, ["safety.url_words.enabled=false",
                                "safety.url_words.hard_lists=[missing.txt]",
                                "decontaminate.enabled=false",
                                "decontaminate.benchmarks.0.name=x"])
    check_resources(config)
    write(tmp_path / "c.yaml", "safety:\n  enabled: false\n  domain_lists: [{path: none.txt}]\n")
    check_resources(load_config(tmp_path / "c.yaml"))
    # soft lists are optional: a language with a hard list only is fine
    write(tmp_path / "d.yaml", "safety:\n  text_words: {languages: [de], list_path: 'words/{lang}'}\n")
    if "content_safety" not in _config_model().model_fields:
        check_resources(load_config(tmp_path / "d.yaml"))


def test_local_files_are_refused_for_remote_workers(tmp_path: Path) -> None:
    from pipeline.options import beam_options

    write(tmp_path / "d.txt", "a.example\n")
    config = load_config(None, [f"safety.domain_lists.0.path={tmp_path / 'd.txt'}"])
    check_resources(config, beam_options([]))
    with pytest.raises(ConfigError, match="safety.domain_lists.0.path: .* local file"):
        check_resources(config, beam_options(["--runner", "PortableRunner",
                                              "--environment_type", "DOCKER"]))
    check_resources(load_config(), beam_options(["--runner", "PortableRunner",
                                                 "--environment_type", "DOCKER"]))  # bundled


# --------------------------------------------------------------------------- Beam filesystem lists

class _FolderFileSystem(LocalFileSystem):
    """A Beam filesystem for tests: ``ppfolder://NAME`` is ``ROOT/NAME`` (stands in for gs://)."""

    ROOT = ""

    @classmethod
    def scheme(cls) -> str:
        return "ppfolder"

    def _local(self, path: str) -> str:
        return os.path.join(self.ROOT, path.split("://", 1)[1])

    def match(self, patterns, limits=None):  # type: ignore[no-untyped-def]
        results = []
        for pattern in patterns:
            local = self._local(pattern)
            found = [FileMetadata(pattern, os.path.getsize(local), os.path.getmtime(local))] \
                if os.path.isfile(local) else []
            results.append(MatchResult(pattern, found))
        return results

    def open(self, path, mime_type="application/octet-stream", compression_type="auto"):  # type: ignore[no-untyped-def]
        return super().open(self._local(path), mime_type, compression_type)


def test_lists_named_by_beam_filesystem_url_reach_the_stage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers on Dataflow/Flink/Spark read a list the driver names as a URL: each copies it
    once to its local cache (a changed file is copied again)."""
    monkeypatch.setattr(_FolderFileSystem, "ROOT", str(tmp_path / "bucket"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    remote = write(tmp_path / "bucket" / "lists" / "d.txt", "blocked.example\n")
    config = load_config(None, ["safety.domain_lists.0.path=ppfolder://lists/d.txt"])
    assert config.safety.domain_lists[0].path == "ppfolder://lists/d.txt"
    check_resources(config)
    local = resolve_path("ppfolder://lists/d.txt")
    assert local.is_relative_to(tmp_path / "cache") and local.read_text() == "blocked.example\n"
    assert resolve_path("ppfolder://lists/d.txt") == local  # cached
    rules = safety.SafetyRules(config.safety)
    assert rules.check_url("https://www.blocked.example/x").reason == "blocked_domain"
    os.utime(remote, (1, 1))
    assert resolve_path("ppfolder://lists/d.txt") != local  # changed -> fetched again
    with pytest.raises(ConfigError, match="safety.domain_lists.0.path: not found"):
        check_resources(load_config(None, ["safety.domain_lists.0.path=ppfolder://none.txt"]))


# --------------------------------------------------------------------------- demo resources

def test_demo_resources_name_the_stand_ins_a_run_uses(tmp_path: Path) -> None:
    used = demo_resources(load_config())
    assert [r["key"] for r in used] == ["input.paths.0", "safety.domain_lists.0.path",
                                        "decontaminate.benchmarks.0.path"]
    by_key = {r["key"]: r for r in used}
    assert "1 entry" in by_key["safety.domain_lists.0.path"]["description"]
    assert "first 20 of the 1,319" in by_key["decontaminate.benchmarks.0.path"]["description"]
    assert "123 records" in by_key["input.paths.0"]["description"]
    assert all(r["resource"].startswith("bundled:configs/") and r["instead"] for r in used)
    json.dumps(used)  # goes into summary.json as it is
    write(tmp_path / "d.txt", "a.example\n")
    mine = load_config(None, [f"safety.domain_lists.0.path={tmp_path / 'd.txt'}",
                              "decontaminate.enabled=false"], **{"input.paths": [str(tmp_path)]})
    assert demo_resources(mine) == []


def test_bundled_path_refuses_names_outside_the_package() -> None:
    assert bundled_path("configs/default.yaml").is_file()
    for bad in ("../setup.cfg", "/etc/passwd"):
        with pytest.raises(ValueError):
            bundled_path(bad)


def test_yaml_module_is_not_used_unguarded() -> None:
    """Every YAML a user controls goes through safe_yaml (aliases, duplicates, limits)."""
    for path in (PROJECT / "pipeline").rglob("*.py"):
        text = path.read_text()
        assert "yaml.safe_load(" not in text and "yaml.load(" not in text, path
    assert yaml.__version__
