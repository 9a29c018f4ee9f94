"""Output lifecycle under failure: killed runs, --resume, two writers, bad --output values, a
full disk, missing evidence. The promise: at every instant --output holds the previous complete
output or the new complete one; a resumed run ends byte-identical to an uninterrupted one; a
run never reports what it did not see."""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.errors import EvidenceError
from pipeline.run import run_pipeline
from pipeline.summary import without_timing
from tests.conftest import PROJECT
from tests.helpers import DEMO, run, split_demo



def _cli(inputs: list[str], output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "run", "--input", *inputs, "--output", str(output),
            "--progress", "0", *extra]


def _start(inputs: list[str], output: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(_cli(inputs, output, *extra), cwd=PROJECT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def _private(output: Path) -> Path:
    return output.parent / f".{output.name}.pipeline"


def _kill_when(process: subprocess.Popen, ready, timeout: float = 300) -> bool:
    """SIGKILL the run's process group as soon as ``ready()``; False if it finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if ready():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.005)
    process.wait()
    return False


def _snapshot(output: Path) -> dict[str, str]:
    """Every file under the output (summary.json without its timing), hashed."""
    found = {}
    for path in sorted(output.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.name == "summary.json":
            summary = without_timing(json.loads(data))
            summary["config"]["output"].pop("path", None)
            summary["config"]["input"].pop("paths", None)
            data = json.dumps(summary, sort_keys=True).encode()
        if path.name.startswith("report."):
            continue  # the report embeds the output path
        found[str(path.relative_to(output))] = hashlib.sha256(data).hexdigest()
    return found


def _markers(output: Path, pass_index: int) -> list[Path]:
    return sorted((_private(output) / "work" / f"pass{pass_index}").glob("*.done"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, str]]:
    root = tmp_path_factory.mktemp("reference")
    inputs = split_demo(root / "in", parts=6)
    output = root / "out"
    done = subprocess.run(_cli(inputs, output), cwd=PROJECT, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return inputs, _snapshot(output)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["pass0-started", "pass0-finished", "final-pass-started",
                                   "committing"])
def test_killed_run_resumes_to_identical_output(tmp_path: Path, reference: tuple, point: str) -> None:
    inputs, expected = reference
    output = tmp_path / "out"
    work = _private(output) / "work"
    conditions = {
        "pass0-started": lambda: len(_markers(output, 0)) >= 1,
        "pass0-finished": lambda: len(_markers(output, 0)) == len(inputs),
        "final-pass-started": lambda: len(_markers(output, 2)) >= 1,
        "committing": lambda: (_private(output) / "out" / "summary.json").exists(),
    }
    killed = _kill_when(_start(inputs, output), conditions[point])
    if killed:
        assert not (output / "summary.json").exists()  # nothing that looks complete
        before = {p: p.stat().st_mtime_ns for p in work.rglob("*.done")}
    else:
        before = {}
    done = subprocess.run(_cli(inputs, output, "--resume"), cwd=PROJECT, capture_output=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert _snapshot(output) == expected
    assert not _private(output).exists()
    if killed and point != "committing":
        assert before, "no pass had finished a file when the run was killed"


def test_resume_reuses_finished_files(tmp_path: Path) -> None:
    """Work marked done is not redone: a resumed run leaves the earlier markers untouched."""
    inputs = split_demo(tmp_path / "in", parts=6)
    output = tmp_path / "out"
    assert _kill_when(_start(inputs, output), lambda: len(_markers(output, 0)) >= 2)
    kept = {p: p.stat().st_mtime_ns for p in _markers(output, 0)}
    seen: dict[Path, int] = {}
    process = _start(inputs, output, "--resume")
    while process.poll() is None:  # watch the markers while the resumed run works
        for path in list(kept):
            if path.exists():
                seen[path] = path.stat().st_mtime_ns
        time.sleep(0.01)
    assert process.returncode == 0, process.stderr.read().decode()[-2000:]
    assert seen and all(seen[path] == kept[path] for path in seen)


def test_resume_removes_the_unfinished_files_of_the_killed_run(tmp_path: Path,
                                                               reference: tuple) -> None:
    """A kill mid-write leaves a writer's temporary file beside the results (in kept/, in a
    pass's shards); the resumed run removes them and commits the same output."""
    inputs, expected = reference
    output = tmp_path / "out"
    assert _kill_when(_start(inputs, output), lambda: len(_markers(output, 0)) >= 1)
    private = _private(output)
    planted = [private / "out" / "kept" / ".part-00001-of-00006.parquet.tmp-1-deadbeef",
               private / "work" / "pass0" / ".part-00002.parquet.tmp-1-deadbeef"]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PAR1 half a file")
    done = subprocess.run(_cli(inputs, output, "--resume"), cwd=PROJECT, capture_output=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert _snapshot(output) == expected
    assert not any(path.exists() for path in planted)


def test_only_unfinished_files_are_removed(tmp_path: Path) -> None:
    from pipeline import outputs
    from pipeline.shards import _tmp_name, is_tmp_name

    lease = outputs.acquire(str(tmp_path / "out"), overwrite=False, resume=True)
    try:
        outputs.reset(lease, "fingerprint", resume=False)
        kept = Path(lease.out) / "kept"
        kept.mkdir()
        result = kept / "part-00000-of-00001.parquet"
        unfinished = Path(_tmp_name(str(result)))
        hidden = kept / ".hidden-but-not-a-writer-file"
        for path in (result, unfinished, hidden):
            path.write_bytes(b"x")
        assert is_tmp_name(unfinished.name) and not is_tmp_name(result.name)
        assert outputs.reset(lease, "fingerprint", resume=True)
        assert result.exists() and hidden.exists() and not unfinished.exists()
    finally:
        lease.release()


def test_resume_refuses_changed_config(tmp_path: Path) -> None:
    inputs = split_demo(tmp_path / "in", parts=6)
    output = tmp_path / "out"
    assert _kill_when(_start(inputs, output), lambda: len(_markers(output, 0)) >= 1)
    done = subprocess.run(_cli(inputs, output, "--resume", "--set", "quality.min_words=10"),
                          cwd=PROJECT, capture_output=True, timeout=300)
    assert done.returncode == 2 and b"another config or other input files" in done.stderr


def test_killed_overwrite_keeps_the_previous_complete_output(tmp_path: Path) -> None:
    inputs = split_demo(tmp_path / "in", parts=6)
    output = tmp_path / "out"
    assert subprocess.run(_cli(inputs, output), cwd=PROJECT, capture_output=True,
                          timeout=300).returncode == 0
    before = {p: p.read_bytes() for p in output.rglob("*") if p.is_file()}
    for point in (lambda: len(_markers(output, 0)) >= 1,
                  lambda: (_private(output) / "out" / "summary.json").exists()):
        _kill_when(_start(inputs, output, "--overwrite"), point)
        after = {p: p.read_bytes() for p in output.rglob("*") if p.is_file()}
        assert after == before or json.loads(after[output / "summary.json"])["conservation"]["holds"]


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    inputs = split_demo(tmp_path / "in", parts=6)
    output = tmp_path / "out"
    first = _start(inputs, output)
    lock = _private(output) / "lock"
    deadline = time.monotonic() + 300
    # Freeze the first run while it holds the lock, so a loaded machine cannot let it finish
    # before the second one starts (SIGSTOP; the lock stays held by the stopped process).
    while True:
        assert time.monotonic() < deadline and first.poll() is None, "first run never locked"
        if not lock.exists():
            time.sleep(0.01)
            continue
        first.send_signal(signal.SIGSTOP)
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: the first has not locked yet
            fcntl.flock(fd, fcntl.LOCK_UN)
            held = False
        except BlockingIOError:
            held = True
        finally:
            os.close(fd)
        if held:
            break
        first.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    try:
        second = subprocess.run(_cli(inputs, output, "--overwrite"), cwd=PROJECT,
                                capture_output=True, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    first_out = first.communicate(timeout=600)
    assert first.returncode == 0, first_out[1].decode()[-2000:]
    assert second.returncode == 2 and b"another run is writing it" in second.stderr
    assert json.loads((output / "summary.json").read_text())["conservation"]["holds"]


def test_bad_output_paths_fail_before_work(tmp_path: Path) -> None:
    inputs = split_demo(tmp_path / "in", parts=6)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = {"": "empty path", str(a_file): "existing file", str(tmp_path / "in"): "input"}
    if os.geteuid() == 0:
        cases["/proc/pipeline-out"] = "not writable"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        cases[str(locked / "out")] = "not writable"
    for output, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            run_pipeline(load_config(None, [], **{"input.paths": inputs, "output.path": output}),
                         [])


def test_foreign_files_in_output_are_not_replaced(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    (output / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not pipeline results"):
        run([str(DEMO)], output, ["output.overwrite=true"])
    assert (output / "notes.txt").read_text() == "mine"


def test_full_disk_is_a_clear_error_and_keeps_the_previous_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import shards

    output = tmp_path / "out"
    run([str(DEMO)], output)
    before = {p: p.read_bytes() for p in output.rglob("*") if p.is_file()}
    real = shards.RowWriter.write

    def full(self, row):  # noqa: ANN001
        if self.rows >= 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, row)

    monkeypatch.setattr(shards.RowWriter, "write", full)
    with pytest.raises(ConfigError, match="disk full"):
        run([str(DEMO)], output, ["output.overwrite=true"])
    assert {p: p.read_bytes() for p in output.rglob("*") if p.is_file()} == before
    assert not _private(output).exists()


def test_missing_statistics_fail_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner that skips the sink must not produce "0 = 0 + 0 + 0: OK"."""
    from pipeline import graph

    monkeypatch.setattr(graph, "_write_stats", lambda stats, path: path)
    with pytest.raises(EvidenceError, match="were not written"):
        run([str(DEMO)], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_file_no_pass_counted_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner that drops a file's work: the evidence check names it; nothing is committed."""
    from pipeline import passes

    inputs = split_demo(tmp_path / "in", parts=3)
    real = passes.PassFn.process

    def lossy(self, element, broadcast=None):  # noqa: ANN001
        if element[0] == 1 and self.spec.index == 0:
            return iter(())
        return real(self, element, broadcast)

    monkeypatch.setattr(passes.PassFn, "process", lossy)
    one_pass = [f"{name}.enabled=false" for name in ("dedup", "decontaminate", "tokenize")]
    with pytest.raises(EvidenceError, match="counted 2 of 3 input files"):
        run(inputs, tmp_path / "out", one_pass)
    assert not (tmp_path / "out").exists()


def test_output_under_a_folder_that_does_not_exist_yet_commits_by_exchange(tmp_path: Path) -> None:
    """`--output out/demo` on a fresh clone: `out/` does not exist yet. The run creates it, so the
    private folder goes next to the output (atomic exchange), not inside it (journalled)."""
    from pipeline.outputs import JOURNAL_DIR, PRIVATE_SUFFIX, _private_dir

    output = tmp_path / "new" / "deeper" / "demo"
    private, exchange = _private_dir(str(output))
    assert exchange and private == str(output.parent / f".demo{PRIVATE_SUFFIX}")
    (tmp_path / "file").write_text("x")  # a file where a parent folder should be
    private, exchange = _private_dir(str(tmp_path / "file" / "demo"))
    assert not exchange and private.endswith(JOURNAL_DIR)
