"""Killed runs: a run killed at any point leaves either the previous complete output or a
directory without summary.json, never a half-written output that looks complete."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT

DEMO = PROJECT / "configs" / "demo" / "demo_shard.jsonl.gz"


def _start(output: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--input", str(DEMO),
                             "--output", str(output), *extra], cwd=PROJECT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _kill_mid_run(process: subprocess.Popen, output: Path, timeout: float = 120) -> None:
    """SIGKILL the whole process group once the job is writing into _staging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if any((output / "_staging").rglob("*")):
            break
        time.sleep(0.02)
    if process.poll() is not None:
        pytest.fail("the run finished before it could be killed; use a larger input")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _snapshot(output: Path) -> dict[str, bytes]:
    return {str(p.relative_to(output)): p.read_bytes() for p in sorted(output.rglob("*"))
            if p.is_file() and "_staging" not in p.parts}


def test_killed_fresh_run_does_not_look_complete(tmp_path: Path) -> None:
    output = tmp_path / "out"
    _kill_mid_run(_start(output), output)
    assert not (output / "summary.json").exists()
    assert not list(output.glob("kept/*.parquet"))
    # The next run into the same directory needs no --overwrite (nothing complete is there).
    assert subprocess.run([sys.executable, "-m", "pipeline", "run", "--input", str(DEMO),
                           "--output", str(output)], cwd=PROJECT, capture_output=True,
                          timeout=300).returncode == 0
    assert (output / "summary.json").exists()


def test_killed_overwrite_keeps_the_previous_complete_output(tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert subprocess.run([sys.executable, "-m", "pipeline", "run", "--input", str(DEMO),
                           "--output", str(output)], cwd=PROJECT, capture_output=True,
                          timeout=300).returncode == 0
    before = _snapshot(output)
    assert "summary.json" in before and any(k.startswith("kept/") for k in before)
    _kill_mid_run(_start(output, "--overwrite"), output)
    assert _snapshot(output) == before
