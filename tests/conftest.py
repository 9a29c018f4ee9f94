"""Shared fixtures: paths to ../shared/data (tests skip cleanly when it is absent)."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SHARED_DATA", PROJECT.parent / "shared" / "data"))

logging.getLogger("apache_beam").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path
