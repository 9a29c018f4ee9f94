"""The same job on every runner that can run here gives the same bytes: the in-process runner,
2 local worker processes, the portable runner with a separate job service and an EXTERNAL SDK
worker pool (the Fn API a Flink or Spark job server drives), and Dask with a scheduler and two
worker processes. Only file numbers, partitions, decisions and statistics cross a runner's
shuffle, so any difference would be a runner bug, and this test would show it."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.summary import without_timing
from tests.helpers import assert_conserved, run, split_demo



def _digest(output: Path) -> dict[str, str]:
    found = {str(p.relative_to(output)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(output.rglob("*")) if p.is_file() and p.suffix in (".parquet", ".model")}
    summary = without_timing(json.loads((output / "summary.json").read_text()))
    summary["config"]["output"].pop("path")
    found["summary"] = hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, str]]:
    root = tmp_path_factory.mktemp("runners")
    inputs = split_demo(root / "in", parts=3)
    out = run(inputs, root / "in_process")
    assert_conserved(out)
    return inputs, _digest(out)


@pytest.mark.slow
def test_two_local_workers(tmp_path: Path, reference: tuple) -> None:
    inputs, expected = reference
    out = run(inputs, tmp_path / "out", beam_args=["--direct_num_workers", "2",
                                                    "--direct_running_mode", "multi_processing"])
    assert _digest(out) == expected


@pytest.mark.slow
def test_portable_runner_with_external_worker_pool(tmp_path: Path, reference: tuple) -> None:
    inputs, expected = reference
    job_port, pool_port = _free_port(), _free_port()
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    services = [
        subprocess.Popen([sys.executable, "-m", "apache_beam.runners.portability."
                          "local_job_service_main", "--port", str(job_port)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                          "--service_port", str(pool_port)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        _wait_for_port(job_port, services[0])
        _wait_for_port(pool_port, services[1])
        out = run(inputs, tmp_path / "out", beam_args=[
            "--runner", "PortableRunner", "--job_endpoint", f"localhost:{job_port}",
            "--environment_type", "EXTERNAL", "--environment_config", f"localhost:{pool_port}"])
        assert _digest(out) == expected
    finally:
        for service in services:
            service.kill()
            service.wait()


@pytest.mark.slow
def test_dask_scheduler_and_two_worker_processes(tmp_path: Path, reference: tuple) -> None:
    distributed = pytest.importorskip("distributed")
    inputs, expected = reference
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=":0")
    try:
        out = run(inputs, tmp_path / "out", beam_args=[
            "--runner", "dask", "--dask_client_address", cluster.scheduler_address])
        assert _digest(out) == expected
    finally:
        cluster.close()


def test_dask_group_by_key_is_process_independent() -> None:
    """The fix for apache/beam#29365: keys group by a hash that no process changes."""
    pytest.importorskip("distributed")
    from pipeline.dask_runner import _split_by_key, stable_key_hash

    script = ("from pipeline.dask_runner import stable_key_hash; "
              "print([stable_key_hash(k) for k in (None, 'a', ('x', 1), b'k')])")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
            for seed in ("1", "2")}
    assert len(runs) == 1
    assert runs.pop().strip() == str([stable_key_hash(k) for k in (None, "a", ("x", 1), b"k")])
    group = (7, [("a", 1), ("b", 2), ("a", 3)])  # two keys that collided
    assert _split_by_key(group) == [("a", [1, 3]), ("b", [2])]
