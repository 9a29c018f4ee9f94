"""Config files: `extends` merges a base file underneath; loops and bad values are named."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config
from tests.conftest import shared_path


def test_extends_merges_sections_and_replaces_lists(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("run: {seed: 7}\noutput: {compression: snappy, path: base}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\noutput: {path: child}\n")
    config = load_config(tmp_path / "child.yaml")
    assert (config.run.seed, config.output.compression, config.output.path) == (7, "snappy", "child")


def test_extends_loop_and_bad_parent_are_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="loops"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: missing.yaml\n")
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).parent.parent / "configs").glob("*.yaml")))
def test_every_bundled_config_validates(name: str) -> None:
    if name in ("benchmarks_all.yaml", "bench_peer_stages.yaml"):
        shared_path("benchmarks")  # they name files under ../shared/data
    load_config(Path(__file__).parent.parent / "configs" / name)
