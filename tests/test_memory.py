"""run.malloc_arenas: validated in config, passed to worker processes through the environment."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.memory import limit_malloc_arenas


def test_arena_cap_reaches_child_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    limit_malloc_arenas(2)
    seen = subprocess.run([sys.executable, "-c", "import os; print(os.environ['MALLOC_ARENA_MAX'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert seen == "2"


def test_zero_leaves_glibc_default_and_user_value_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas(0) is False
    assert "MALLOC_ARENA_MAX" not in os.environ
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    limit_malloc_arenas(2)
    assert os.environ["MALLOC_ARENA_MAX"] == "4"


def test_bad_arena_count_names_the_key() -> None:
    with pytest.raises(ConfigError, match="malloc_arenas"):
        load_config(overrides=["run.malloc_arenas=-1"])
    assert load_config().run.malloc_arenas == 2
