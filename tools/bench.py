"""Benchmark the pipeline: per-stage time, docs/s, MB/s and peak RSS of the process tree.

Runs ``python -m pipeline run`` as a child process on a shard (built with
``../shared/bench/make_shard.py`` when ``--n`` is given), samples the RSS of the whole process
tree (runner + SDK workers) every 0.1 s, and reads per-stage CPU time from ``summary.json``
(each stage's ``micros`` counter), so a stage's cost shows even inside a fused graph. It can run
the whole pipeline, a prefix (``--until``), a single stage on pre-extracted text (``--only``),
or just read -> write (``--read-write``). ``--compare`` runs the datatrove peer from
``../shared/bench`` on the same shard with the same number of workers and prints the ratio.
Results are appended as JSON lines to ``--results``.

    tools/bench --n 2000 --workers 1                # whole pipeline, 1 process
    tools/bench --n 2000 --workers 2 --compare      # ... 2 processes, and datatrove beside it
    tools/bench --n 2000 --read-write               # reading/writing throughput alone
    tools/bench --n 2000 --only quality             # one stage alone, on extracted text
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import psutil

PROJECT = Path(__file__).resolve().parent.parent
SHARED_BENCH = Path(os.environ.get("SHARED_BENCH", PROJECT.parent / "shared" / "bench"))
RUNS = PROJECT / "bench_runs"
sys.path.insert(0, str(PROJECT))

from pipeline.registry import STAGE_MODULES, available_stages  # noqa: E402

STAGES = [name for name, _ in STAGE_MODULES]
TEXT_STAGES = STAGES[STAGES.index("extract") + 1:]


def build_shard(n: int, files: int) -> Path:
    """A make_shard.py shard under bench_runs/shards (reused when already built)."""
    out = RUNS / "shards" / f"n{n}"
    if not (out / "meta.json").exists():
        # make_shard.py pins its own stack (xxhash 3 API); it runs in the peer's venv.
        python = RUNS / ".venv-dt" / "bin" / "python"
        if not python.exists():
            raise SystemExit(f"run `tools/bench --setup-peer` first (builds {python})")
        subprocess.run([str(python), str(SHARED_BENCH / "make_shard.py"), "--n", str(n),
                        "--out", str(out), "--files", str(files)], check=True)
    return out


def shard_inputs(shard: Path) -> list[str]:
    parts = sorted(str(p) for p in shard.glob("part-*.jsonl*"))
    if not parts:
        raise SystemExit(f"{shard}: no part-*.jsonl[.gz] files")
    return parts


def stage_overrides(enabled: list[str]) -> list[str]:
    present = [name for name, _ in available_stages()]
    return [f"--set={name}.enabled={'true' if name in enabled else 'false'}" for name in present]


def runner_args(workers: int) -> list[str]:
    if workers <= 1:
        return []
    return ["--direct_num_workers", str(workers), "--direct_running_mode", "multi_processing"]


def tree_rss(proc: psutil.Process) -> tuple[int, int, int]:
    """(whole tree, the runner process, the largest child) RSS in bytes: where memory sits."""
    total = own = largest_child = 0
    for member in [proc, *proc.children(recursive=True)]:
        try:
            rss = member.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        if member.pid == proc.pid:
            own = rss
        else:
            largest_child = max(largest_child, rss)
    return total, own, largest_child


def run_pipeline(inputs: list[str], output: Path, overrides: list[str], workers: int,
                 config: str | None) -> dict:
    """Run once; returns wall seconds, peak RSS and the summary."""
    cmd = [sys.executable, "-m", "pipeline", "run", "--input", *inputs, "--output", str(output),
           "--overwrite", *overrides, *runner_args(workers)]
    if config:
        cmd += ["--config", config]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = peak_runner = peak_child = 0
    while proc.poll() is None:
        total, own, child = tree_rss(ps)
        peak, peak_runner, peak_child = max(peak, total), max(peak_runner, own), max(peak_child, child)
        time.sleep(0.1)
    wall = time.perf_counter() - started
    stdout, stderr = proc.communicate()
    if proc.returncode not in (0, 3):
        raise SystemExit(f"pipeline failed ({proc.returncode}):\n{stderr[-4000:]}")
    summary = json.loads((output / "summary.json").read_text())
    return {"wall_seconds": wall, "peak_rss_bytes": peak, "peak_runner_rss_bytes": peak_runner,
            "peak_worker_rss_bytes": peak_child, "summary": summary, "stdout": stdout}


def extracted_text_input(shard: Path, inputs: list[str], workers: int, config: str | None) -> list[str]:
    """Kept Parquet of a read -> extract run, cached: the input for text-only stages."""
    out = RUNS / "extracted" / shard.name
    if not (out / "summary.json").exists():
        run_pipeline(inputs, out, stage_overrides(["extract"]), workers, config)
    return sorted(str(p) for p in (out / "kept").glob("*.parquet"))


def stage_table(result: dict) -> list[dict]:
    summary = result["summary"]
    timing = summary.get("timing", {}).get("stages", {})
    rows = []
    for stage in summary["stages"]:
        name = stage["stage"]
        seconds = (timing.get(name) or {}).get("cpu_seconds") or 0.0
        mb = (stage.get("bytes_in") or 0) / 1e6
        rows.append({"stage": name, "docs_in": stage["docs_in"], "docs_out": stage["docs_out"],
                     "cpu_seconds": seconds, "mb_in": round(mb, 3),
                     "docs_per_second": round(stage["docs_in"] / seconds, 1) if seconds else None,
                     "mb_per_second": round(mb / seconds, 3) if seconds else None})
    return rows


def print_result(label: str, result: dict, rows: list[dict]) -> None:
    docs = result["summary"]["input"]["records"]
    mb = result["summary"]["input"]["bytes"] / 1e6
    wall = result["wall_seconds"]
    print(f"\n== {label}: {docs} docs, {mb:.1f} MB in {wall:.1f} s wall = {docs / wall:.1f} docs/s, "
          f"{mb / wall:.2f} MB/s; peak RSS (process tree) {result['peak_rss_bytes'] / 2**20:.0f} MiB"
          f" (runner {result['peak_runner_rss_bytes'] / 2**20:.0f} MiB, largest worker process "
          f"{result['peak_worker_rss_bytes'] / 2**20:.0f} MiB)")
    print(f"{'stage':<14}{'docs in':>9}{'docs out':>9}{'cpu s':>9}{'docs/s':>10}{'MB/s':>9}")
    for row in rows:
        dps = f"{row['docs_per_second']:.1f}" if row["docs_per_second"] else "-"
        mbs = f"{row['mb_per_second']:.2f}" if row["mb_per_second"] else "-"
        print(f"{row['stage']:<14}{row['docs_in']:>9}{row['docs_out']:>9}{row['cpu_seconds']:>9.2f}"
              f"{dps:>10}{mbs:>9}")
    total_cpu = sum(r["cpu_seconds"] for r in rows)
    print(f"{'sum of stages':<32}{total_cpu:>9.2f}   (wall - stages = Beam, I/O, shuffles, writing: "
          f"{wall - total_cpu:.1f} s)")


def setup_peer() -> None:
    """The peer's pinned environments (datatrove, tokenizer conversion) and its page pool."""
    for name, lock in ((".venv-dt", "requirements-dt.lock.txt"), (".venv-conv", "requirements-conv.lock.txt")):
        venv = RUNS / name
        if not (venv / "bin" / "python").exists():
            subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(SHARED_BENCH / lock)],
                           check=True)
    if not Path("/usr/share/doc/python3.11/html").exists():
        print("optional: apt-get install -y python3.11-doc postgresql-doc-15 (the shard's page pool "
              "then matches ../shared/bench's measured numbers)")


def run_datatrove(shard: Path, workers: int) -> dict:
    """The peer on the same shard: ../shared/bench/datatrove_pipeline.py in its own venv."""
    python = RUNS / ".venv-dt" / "bin" / "python"
    tokenizer = RUNS / "tok" / "llama2" / "tokenizer.json"
    if not python.exists():
        raise SystemExit(f"datatrove venv missing: python3 -m venv {RUNS}/.venv-dt && "
                         f"{RUNS}/.venv-dt/bin/pip install -r {SHARED_BENCH}/requirements-dt.lock.txt")
    if not tokenizer.exists():
        conv = RUNS / ".venv-conv" / "bin" / "python"
        subprocess.run([str(conv), str(SHARED_BENCH / "convert_tokenizer.py"), "--model",
                        str(SHARED_BENCH.parent / "data/tokenizers/llama2_tokenizer.model"),
                        "--out", str(tokenizer.parent)], check=True)
    results = RUNS / "datatrove_results.jsonl"
    before = results.read_text().count("\n") if results.exists() else 0
    started = time.perf_counter()
    subprocess.run([str(python), str(SHARED_BENCH / "datatrove_pipeline.py"), "--shard", str(shard),
                    "--out", str(RUNS / "dt_work" / f"w{workers}"), "--tasks", str(workers),
                    "--workers", str(workers), "--tokenizer", str(tokenizer),
                    "--results", str(results), "--label", f"{shard.name}-w{workers}"],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    lines = results.read_text().splitlines()[before:]
    return {"wall_seconds": wall, "result": json.loads(lines[-1]) if lines else {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup-peer", action="store_true",
                        help="create the datatrove / converter venvs under bench_runs/ and exit")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--n", type=int, help="build (or reuse) a make_shard.py shard of N docs")
    source.add_argument("--shard", type=Path, help="a shard directory with part-*.jsonl[.gz]")
    source.add_argument("--input", nargs="+", help="any input files/globs (e.g. a hostile corpus)")
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2, 4, 8))
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--until", choices=STAGES, help="run read -> ... -> this stage")
    what.add_argument("--only", choices=STAGES, help="run just this stage (text stages on extracted text)")
    what.add_argument("--read-write", action="store_true", help="no stages: read -> write only")
    parser.add_argument("--config", help="pipeline config (default configs/default.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--compare", action="store_true", help="also run datatrove on the shard")
    parser.add_argument("--results", type=Path, default=RUNS / "bench_results.jsonl")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    if args.setup_peer:
        setup_peer()
        return
    if not (args.n or args.shard or args.input):
        parser.error("one of --n, --shard or --input is required")

    if args.input:
        shard, inputs = Path(args.label or "input"), list(args.input)
    else:
        shard = build_shard(args.n, files=max(2, args.workers)) if args.n else args.shard
        inputs = shard_inputs(shard)
    if args.read_write:
        enabled, mode = [], "read-write"
    elif args.until:
        enabled, mode = STAGES[: STAGES.index(args.until) + 1], f"until-{args.until}"
    elif args.only:
        enabled, mode = [args.only], f"only-{args.only}"
        if args.only in TEXT_STAGES:
            inputs = extracted_text_input(shard, inputs, args.workers, args.config)
    else:
        enabled, mode = None, "full"
    overrides = (stage_overrides(enabled) if enabled is not None else []) + [
        f"--set={item}" for item in args.overrides]
    label = args.label or f"{shard.name}-{mode}-w{args.workers}"
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for repeat in range(args.repeat):
        result = run_pipeline(inputs, RUNS / "out" / label, overrides, args.workers, args.config)
        rows = stage_table(result)
        print_result(f"{label} (run {repeat + 1})", result, rows)
        record = {"label": label, "mode": mode, "workers": args.workers, "shard": str(shard),
                  "docs": result["summary"]["input"]["records"],
                  "input_bytes": result["summary"]["input"]["bytes"],
                  "wall_seconds": round(result["wall_seconds"], 3),
                  "peak_rss_bytes": result["peak_rss_bytes"],
                  "peak_runner_rss_bytes": result["peak_runner_rss_bytes"],
                  "peak_worker_rss_bytes": result["peak_worker_rss_bytes"], "stages": rows,
                  "kept": result["summary"]["conservation"]["kept"],
                  "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                              "platform": platform.platform()},
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if args.compare:
            peer = run_datatrove(shard, args.workers)
            record["datatrove_wall_seconds"] = round(peer["wall_seconds"], 3)
            record["datatrove_kept"] = peer["result"].get("docs_out")
            ratio = peer["wall_seconds"] / result["wall_seconds"]
            record["speedup_vs_datatrove"] = round(ratio, 2)
            print(f"datatrove on the same shard, {args.workers} worker(s): {peer['wall_seconds']:.1f} s "
                  f"-> this pipeline is {ratio:.2f}x its throughput")
        with args.results.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
    print(f"\nresults appended to {args.results}")


if __name__ == "__main__":
    main()
