"""The command line: --version, bundled config names, validate's output, Ctrl-C (issues 14, 15)."""
from __future__ import annotations

import configparser
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli import EXIT_INTERRUPTED, main

PROJECT = Path(__file__).resolve().parent.parent


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    parser = configparser.ConfigParser()
    parser.read(PROJECT / "setup.cfg")
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"pretrain-pipeline {parser['metadata']['version']}"


def test_validate_prints_json_and_names_demo_resources_on_stderr(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", "default"]) == 0
    captured = capsys.readouterr()
    resolved = json.loads(captured.out)
    assert resolved["safety"]["hash_seed"] == 0x5AFE
    assert "safety.domain_lists.0.path = demo domain blocklist" in captured.err
    assert "--config production" in captured.err


def test_unknown_bundled_config_name_lists_the_bundled_ones(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", "prodution"]) == 2
    err = capsys.readouterr().err
    assert "no bundled config of that name" in err and "production" in err and "zh_web" in err


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["--direct_num_workers", "2",
                                          "--direct_running_mode", "multi_processing"]])
def test_ctrl_c_exits_130_with_one_line(workers: list[str], tmp_path: Path) -> None:
    """SIGINT to the whole process group (what a terminal's Ctrl-C does) while the job runs:
    exit 130, one line on stderr, no traceback, no summary.json (nothing looks complete)."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", "--output", str(out), "--progress", "0",
         *workers], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stderr is not None
    first = proc.stderr.readline()  # printed after the config checks, just before the job starts
    assert first.startswith("note: demo resources in use"), first
    time.sleep(1.0)  # inside the job (the demo takes several seconds of CPU)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, rest = proc.communicate(timeout=300)
    lines = [line for line in rest.splitlines() if line.strip()]
    assert proc.returncode == EXIT_INTERRUPTED, (stdout, rest)
    assert lines == ["interrupted: run stopped by Ctrl-C"], rest
    assert "input records" not in stdout and not (out / "summary.json").exists()
