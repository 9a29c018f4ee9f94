"""Issue 15: a non-editable install works away from the checkout.

The checkout is copied, built into an sdist and a wheel (setuptools' PEP 517 hooks, offline),
and each is installed with pip into a fresh venv (``--no-deps``: the venv sees this test
environment's site-packages through a .pth file for the dependencies, so nothing is downloaded).
From a folder outside the checkout the installed console script then prints its version,
validates the bundled configs and runs the demo; every bundled file must be in the install,
byte for byte (a file missing from the package data fails here).
"""
from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from pipeline.config import CONFIG_FOLDER

PROJECT = Path(__file__).resolve().parent.parent
# Not shipped on purpose (setup.cfg [options.exclude_package_data]): developer configs naming
# ../shared/data, and list caches written next to lists.
NOT_SHIPPED = {"bench_peer_stages.yaml", "benchmarks_all.yaml"}
IGNORED = shutil.ignore_patterns(".venv", ".git", "out", "build", "dist", "*.egg-info",
                                 "__pycache__", "bench_runs", ".pytest_cache", ".hypothesis")

pytestmark = pytest.mark.slow


def _version() -> str:
    parser = configparser.ConfigParser()
    parser.read(PROJECT / "setup.cfg")
    return parser["metadata"]["version"]


def _bundled_files() -> dict[str, str]:
    """configs/** of the checkout that must ship: relative name -> sha256."""
    root = PROJECT / CONFIG_FOLDER
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in NOT_SHIPPED and p.suffix != ".npz"}


def _run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} -> {result.returncode}\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An sdist and a wheel built from a copy of the working tree (no build isolation)."""
    base = tmp_path_factory.mktemp("packaging")
    source, dist = base / "src", base / "dist"
    shutil.copytree(PROJECT, source, symlinks=True, ignore=IGNORED)
    dist.mkdir()
    built = {}
    for kind in ("sdist", "wheel"):  # one process each, as a build frontend does
        code = f"from setuptools import build_meta as b; import sys; print('built:', b.build_{kind}(sys.argv[1]))"
        out = _run([sys.executable, "-c", code, str(dist)], cwd=source).stdout
        built[kind] = dist / [line.split()[1] for line in out.splitlines()
                              if line.startswith("built: ")][0]
    return built


def _fresh_venv(folder: Path) -> Path:
    """A venv without pip whose interpreter also sees this environment's packages (after its
    own), so the project's dependencies need not be installed again."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                cwd=folder).stdout.strip()
    outer = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "_test_environment.pth").write_text("\n".join(outer) + "\n")
    return python


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_non_editable_install_runs_the_demo_outside_the_checkout(
        kind: str, artefacts: dict[str, Path], tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    # --ignore-installed: never touch this environment's (editable) install seen via the .pth
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
          "--no-deps", "--no-index", "--no-build-isolation", "--ignore-installed",
          "--disable-pip-version-check", str(artefacts[kind])], cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = tmp_path / "venv" / "bin" / "pretrain-pipeline"

    where = json.loads(_run([str(python), "-c", "import json, pipeline, stages; print(json.dumps("
                             "[pipeline.__file__, stages.__file__]))"], cwd=elsewhere).stdout)
    assert all(Path(p).is_relative_to(tmp_path / "venv") for p in where), where
    package = Path(where[0]).parent

    shipped = {name: hashlib.sha256((package / CONFIG_FOLDER / name).read_bytes()).hexdigest()
               for name in _bundled_files() if (package / CONFIG_FOLDER / name).is_file()}
    assert shipped == _bundled_files(), "bundled files missing or different in the install"

    assert _run([str(script), "--version"], cwd=elsewhere).stdout.strip() == \
        f"pretrain-pipeline {_version()}"
    _run([str(script), "validate", "--config", "zh_web"], cwd=elsewhere)
    production = _run([str(script), "validate", "--config", "production"], cwd=elsewhere,
                      check=False)
    assert production.returncode == 2 and "safety.domain_lists.0.path" in production.stderr

    run = _run([str(script), "run", "--output", "out", "--progress", "0"], cwd=elsewhere)
    assert ": OK" in run.stdout, run.stdout
    summary = json.loads((elsewhere / "out" / "summary.json").read_text())
    assert summary["conservation"]["input"] == 123 and summary["conservation"]["holds"]
    assert list((elsewhere / "out" / "kept").glob("*.parquet"))
    assert not (elsewhere / "out" / "_staging").exists()
