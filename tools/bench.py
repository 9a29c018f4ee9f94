"""Benchmark the pipeline: wall and CPU time, per-stage docs/s, peak RSS; the datatrove peer beside it.

Runs ``python -m pipeline run`` as a child process on a bench shard, samples the RSS of the whole
process tree (runner + SDK workers) every 0.1 s, takes the CPU time (user + sys) of the tree
from the OS, and reads per-stage CPU time from ``summary.json`` (``timing.stages``). Two
workloads, both built deterministically and identified by size and content hash in every result:

- HTML (``--n N``): ``../shared/bench/make_shard.py`` (real pages from the pinned pool: the
  extraction eval pages + the Debian python3.11-doc and postgresql-doc-15 manuals, 1,879 pages;
  10 % exact and 15 % near duplicates planted);
- text (``--text N``): ``tools/make_text_shard.py`` (~8 KB JSONL ``text`` documents of real text
  extracted from the same pool, the same planted duplicates).

Several sizes (``--n 2000 10000 50000``) fit the time exponent (log-log slope of wall and of CPU
time against documents) and the peak-memory slope (bytes per document, least squares).
``--compare`` runs the datatrove peer (``tools/datatrove_peer.py``, in its own venv) on the same
shard with the same number of workers right after each run and prints the ratios; ``--floors``
runs ``tools/floors.py`` (single-core library floors) on the shard and prints wall / floors.

    tools/bench --setup-peer                      # once: Debian pool pages, peer venvs, tokenizer
    tools/bench --n 2000 --workers 2 --config configs/bench_peer_stages.yaml --compare --floors
    tools/bench --text 10000 --config configs/bench_peer_text.yaml --compare --floors
    tools/bench --text 2000 10000 50000           # default config; prints the fitted exponent and bytes/doc
    tools/bench --n 2000 --only quality           # one stage alone, on extracted text
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

PROJECT = Path(__file__).resolve().parent.parent
SHARED_BENCH = Path(os.environ.get("SHARED_BENCH", PROJECT.parent / "shared" / "bench"))
RUNS = PROJECT / "bench_runs"
PEER_PYTHON = RUNS / ".venv-dt" / "bin" / "python"
PEER_TOKENIZER = RUNS / "tok" / "llama2" / "tokenizer.json"
sys.path.insert(0, str(PROJECT))

from pipeline.registry import STAGE_MODULES, available_stages  # noqa: E402

STAGES = [name for name, _ in STAGE_MODULES]
TEXT_STAGES = STAGES[STAGES.index("extract") + 1:]
# The pool make_shard.py draws from. Its Debian part comes from two packages; without them the
# pool has 186 pages and the shards differ (and their "distinct" documents overlap).
DEBIAN_PACKAGES = {"python3.11-doc": Path("/usr/share/doc/python3.11/html"),
                   "postgresql-doc-15": Path("/usr/share/doc/postgresql-doc-15/html")}
PINNED_POOL = {"trafilatura_eval": 186, "debian_python3.11_doc": 528,
               "debian_postgresql_doc_15": 1165}


# ----------------------------------------------------------------------------- shards

def _check_pool_sources() -> None:
    missing = [name for name, path in DEBIAN_PACKAGES.items() if not path.is_dir()]
    if missing:
        raise SystemExit(f"the bench page pool needs the Debian packages {', '.join(missing)} "
                         "(run `tools/bench --setup-peer`, which installs them with apt-get)")


def _make_shard(n: int, out: Path, files: int, *extra: str) -> None:
    _check_pool_sources()
    if not PEER_PYTHON.exists():  # make_shard.py pins its own stack; it runs in the peer's venv
        raise SystemExit(f"run `tools/bench --setup-peer` first (builds {PEER_PYTHON})")
    subprocess.run([str(PEER_PYTHON), str(SHARED_BENCH / "make_shard.py"), "--n", str(n),
                    "--out", str(out), "--files", str(files), *extra], check=True)
    pool = json.loads((out / "meta.json").read_text())["pool"]["kept_per_source"]
    if pool != PINNED_POOL:
        print(f"WARNING: the page pool is {pool}, not the pinned {PINNED_POOL}: results are not "
              "comparable with the README's", file=sys.stderr)


def default_files(n: int, workers: int) -> int:
    """Part files of a shard: at least one per worker, and at most ~100k documents per file
    (a pass works file by file)."""
    return max(2, workers, math.ceil(n / 100_000))


def build_html_shard(n: int, workers: int) -> Path:
    """A make_shard.py shard under bench_runs/shards (reused when already built)."""
    out = RUNS / "shards" / f"n{n}"
    if not (out / "meta.json").exists():
        _make_shard(n, out, default_files(n, workers))
    return out


def build_text_shard(n: int, workers: int) -> Path:
    """A tools/make_text_shard.py shard; its text comes from the pool's original pages."""
    out = RUNS / "shards" / f"text-n{n}"
    if not (out / "meta.json").exists():
        pool = RUNS / "shards" / "pool"
        if not (pool / "meta.json").exists():  # every pool page once, as it is
            _make_shard(2000, pool, 1, "--exact", "0", "--near", "0")
        subprocess.run([sys.executable, str(PROJECT / "tools" / "make_text_shard.py"),
                        "--html-shard", str(pool), "--n", str(n), "--out", str(out),
                        "--files", str(default_files(n, workers))], check=True)
    return out


def shard_inputs(shard: Path) -> list[str]:
    parts = sorted(str(p) for p in shard.glob("part-*.jsonl*"))
    if not parts:
        raise SystemExit(f"{shard}: no part-*.jsonl[.gz] files")
    return parts


def content_hash(paths: list[str]) -> dict:
    """Bytes and sha256 of the input files in order (cached beside them by size and mtime)."""
    stats = [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths]
    key = hashlib.sha256(json.dumps(stats).encode()).hexdigest()
    cache = RUNS / "hashes" / f"{key}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    found = {"files": len(paths), "bytes": sum(s for _, s, _ in stats), "sha256": digest.hexdigest()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(found))
    return found


def shard_line(shard: Path, digest: dict) -> str:
    return (f"shard {shard.name}: {digest['files']} file(s), {digest['bytes'] / 1e6:.1f} MB, "
            f"sha256 {digest['sha256'][:16]}")


# ----------------------------------------------------------------------------- running

def stage_overrides(enabled: list[str]) -> list[str]:
    present = [name for name, _ in available_stages()]
    return [f"--set={name}.enabled={'true' if name in enabled else 'false'}" for name in present]


def runner_args(workers: int) -> list[str]:
    if workers <= 1:
        return []
    return ["--direct_num_workers", str(workers), "--direct_running_mode", "multi_processing"]


def tree_rss(proc: psutil.Process, cpu_seen: dict[int, float] | None = None
             ) -> tuple[int, int, int]:
    """(whole tree, the runner process, the largest child) RSS in bytes: where memory sits.
    ``cpu_seen`` gets each member's latest user+sys CPU seconds (by pid)."""
    total = own = largest_child = 0
    for member in [proc, *proc.children(recursive=True)]:
        try:
            rss = member.memory_info().rss
            if cpu_seen is not None:
                times = member.cpu_times()
                cpu_seen[member.pid] = times.user + times.system
        except psutil.Error:
            continue
        total += rss
        if member.pid == proc.pid:
            own = rss
        else:
            largest_child = max(largest_child, rss)
    return total, own, largest_child


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def watch(cmd: list[str], cwd: Path, **popen: object) -> dict:
    """Run ``cmd``; wall seconds, CPU seconds of its whole process tree, peak RSS.

    CPU: the OS's count for reaped descendants, or, when larger, the sum of every member's last
    sampled CPU time (a multiprocessing pool whose workers are never waited for, as datatrove's
    with several workers, is invisible to the first)."""
    cpu_before = children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, **popen)
    ps = psutil.Process(proc.pid)
    peak = peak_runner = peak_child = 0
    cpu_seen: dict[int, float] = {}
    while proc.poll() is None:
        try:
            total, own, child = tree_rss(ps, cpu_seen)
        except psutil.Error:
            break
        peak, peak_runner, peak_child = max(peak, total), max(peak_runner, own), max(peak_child, child)
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    return {"wall_seconds": time.perf_counter() - started,
            "cpu_seconds": max(children_cpu() - cpu_before, sum(cpu_seen.values())),
            "returncode": proc.returncode,
            "peak_rss_bytes": peak, "peak_runner_rss_bytes": peak_runner,
            "peak_worker_rss_bytes": peak_child, "stdout": stdout, "stderr": stderr}


def run_pipeline(inputs: list[str], output: Path, overrides: list[str], workers: int,
                 config: str | None, project: Path = PROJECT) -> dict:
    """Run once (``project``: another checkout with its own .venv, e.g. an older commit);
    returns wall and CPU seconds, peak RSS and the summary."""
    python = sys.executable if project == PROJECT else str(project / ".venv" / "bin" / "python")
    cmd = [python, "-m", "pipeline", "run", "--input", *inputs, "--output", str(output),
           "--overwrite", "--progress", "0", *overrides, *runner_args(workers)]
    if config:
        cmd += ["--config", config]
    result = watch(cmd, project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result["returncode"] not in (0, 3):
        raise SystemExit(f"pipeline failed ({result['returncode']}):\n{result['stderr'][-4000:]}")
    result["summary"] = json.loads((output / "summary.json").read_text())
    return result


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


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def print_result(label: str, result: dict, rows: list[dict]) -> None:
    docs = result["summary"]["input"]["records"]
    mb = result["summary"]["input"]["bytes"] / 1e6
    wall, cpu = result["wall_seconds"], result["cpu_seconds"]
    print(f"\n== {label}: {docs} docs, {mb:.1f} MB in {wall:.1f} s wall = {docs / wall:.1f} docs/s, "
          f"{mb / wall:.2f} MB/s; CPU {cpu:.1f} s (user+sys of the process tree) = "
          f"{docs / cpu:.1f} docs/CPU-s; peak RSS (process tree) {mib(result['peak_rss_bytes'])}"
          f" (runner {mib(result['peak_runner_rss_bytes'])}, largest worker process "
          f"{mib(result['peak_worker_rss_bytes'])})")
    # Stage seconds are the time inside the stage's calls (summary.json timing.stages, a
    # perf_counter sum per worker): CPU time while the worker has its core to itself.
    print(f"{'stage':<15}{'docs in':>9}{'docs out':>9}{'stage s':>9}{'docs/s':>10}{'MB/s':>9}")
    for row in rows:
        dps = f"{row['docs_per_second']:.1f}" if row["docs_per_second"] else "-"
        mbs = f"{row['mb_per_second']:.2f}" if row["mb_per_second"] else "-"
        print(f"{row['stage']:<15}{row['docs_in']:>9}{row['docs_out']:>9}{row['cpu_seconds']:>9.2f}"
              f"{dps:>10}{mbs:>9}")
    total_cpu = sum(r["cpu_seconds"] for r in rows)
    print(f"{'sum of stages':<33}{total_cpu:>9.2f}   (CPU - stages = the shell: Beam, reading "
          f"and writing Parquet, key files, start-up: {cpu - total_cpu:.1f} s; with several "
          "workers sharing cores stage time includes waiting)")


def _commit(project: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(project), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# ----------------------------------------------------------------------------- the peer

def setup_peer() -> None:
    """The pinned page pool (Debian manuals), the peer's venvs and its tokenizer JSON."""
    missing = [name for name, path in DEBIAN_PACKAGES.items() if not path.is_dir()]
    if missing:
        print(f"installing {' '.join(missing)} (the bench page pool) with apt-get")
        try:
            subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing],
                           check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            raise SystemExit(f"could not install {' '.join(missing)} ({error}): the bench shards "
                             "need them (their pages are 1,693 of the pool's 1,879). Install them "
                             "as root: apt-get update && apt-get install -y "
                             f"--no-install-recommends {' '.join(missing)}") from error
    for name, lock in ((".venv-dt", "requirements-dt.lock.txt"), (".venv-conv", "requirements-conv.lock.txt")):
        venv = RUNS / name
        if not (venv / "bin" / "python").exists():
            subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(SHARED_BENCH / lock)],
                           check=True)
    if not PEER_TOKENIZER.exists():
        subprocess.run([str(RUNS / ".venv-conv" / "bin" / "python"),
                        str(SHARED_BENCH / "convert_tokenizer.py"), "--model",
                        str(SHARED_BENCH.parent / "data/tokenizers/llama2_tokenizer.model"),
                        "--out", str(PEER_TOKENIZER.parent)], check=True)
    print("peer ready:", PEER_PYTHON, PEER_TOKENIZER)


def run_datatrove(shard: Path, workers: int, text: bool) -> dict:
    """The peer on the same shard (tools/datatrove_peer.py in its own venv)."""
    if not PEER_PYTHON.exists() or not PEER_TOKENIZER.exists():
        raise SystemExit("the datatrove peer is not set up: run `tools/bench --setup-peer`")
    results = RUNS / "datatrove_results.jsonl"
    before = results.read_text().count("\n") if results.exists() else 0
    cmd = [str(PEER_PYTHON), str(PROJECT / "tools" / "datatrove_peer.py"), "--shard", str(shard),
           "--out", str(RUNS / "dt_work" / f"w{workers}"), "--tasks", str(workers),
           "--workers", str(workers), "--tokenizer", str(PEER_TOKENIZER),
           "--results", str(results), "--label", f"{shard.name}-w{workers}",
           *(["--text"] if text else [])]
    run = watch(cmd, PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if run["returncode"] != 0:
        raise SystemExit(f"datatrove failed ({run['returncode']}):\n{run['stderr'][-4000:]}")
    lines = results.read_text().splitlines()[before:]
    run["result"] = json.loads(lines[-1]) if lines else {}
    return run


def run_floors(shard: Path, config: str | None, text: bool, pipeline_seconds: float) -> dict:
    cmd = [sys.executable, str(PROJECT / "tools" / "floors.py"), "--shard", str(shard), "--json",
           "--pipeline-seconds", f"{pipeline_seconds:.3f}"]
    if config:
        cmd += ["--config", config]
    out = subprocess.run(cmd, cwd=PROJECT, check=True, capture_output=True, text=True).stdout
    print(out.rsplit("\n", 2)[0])
    return json.loads(out.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- fits

def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and intercept."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


def print_fits(records: list[dict]) -> dict:
    """Over runs at several N: time exponents (log-log) and peak memory per document."""
    if len({r["docs"] for r in records}) < 2:
        return {}
    docs = [r["docs"] for r in records]
    logs = [math.log(d) for d in docs]
    wall_exp, _ = fit_line(logs, [math.log(r["wall_seconds"]) for r in records])
    cpu_exp, _ = fit_line(logs, [math.log(r["cpu_seconds"]) for r in records])
    per_doc, base = fit_line(docs, [r["peak_rss_bytes"] for r in records])
    # Between the two largest sizes: what each further document retains once fixed buffers
    # (row groups, key-file buffers, one key partition) are full - the number that says how far
    # a local run goes.
    by_size = {r["docs"]: r for r in records}  # with --repeat, the last run of each size
    top = [by_size[n] for n in sorted(by_size)[-2:]]
    marginal = ((top[1]["peak_rss_bytes"] - top[0]["peak_rss_bytes"])
                / (top[1]["docs"] - top[0]["docs"]))
    fits = {"docs": docs, "time_exponent_wall": round(wall_exp, 3),
            "time_exponent_cpu": round(cpu_exp, 3), "peak_rss_bytes_per_doc": round(per_doc),
            "peak_rss_intercept_bytes": round(base),
            "peak_rss_bytes_per_doc_between_largest": round(marginal)}
    print(f"\nfit over N = {', '.join(f'{d:,}' for d in docs)}: time ~ N^{wall_exp:.3f} (wall), "
          f"N^{cpu_exp:.3f} (CPU); peak RSS = {mib(base)} + {per_doc:,.0f} bytes/doc "
          f"(least squares); {marginal:,.0f} bytes/doc from {top[0]['docs']:,} to "
          f"{top[1]['docs']:,} docs")
    return fits


# ----------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup-peer", action="store_true",
                        help="install the pool's Debian packages, the datatrove / converter venvs "
                             "under bench_runs/ and the peer's tokenizer, then exit")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--n", type=int, nargs="+", help="HTML shard(s) of N docs (make_shard.py)")
    source.add_argument("--text", type=int, nargs="+", help="text shard(s) of N ~8 KB docs "
                        "(tools/make_text_shard.py)")
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
    parser.add_argument("--floors", action="store_true",
                        help="also run tools/floors.py on the shard: wall / sum of library floors")
    parser.add_argument("--project", type=Path, default=PROJECT,
                        help="run the pipeline of another checkout (its .venv), e.g. `git worktree "
                             "add /tmp/old 0f2bbc0` for a before/after in one sitting")
    parser.add_argument("--results", type=Path, default=RUNS / "bench_results.jsonl")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    if args.setup_peer:
        setup_peer()
        return
    if not (args.n or args.text or args.shard or args.input):
        parser.error("one of --n, --text, --shard or --input is required")

    text = bool(args.text)
    if args.input:
        shards = [(Path(args.label or "input"), list(args.input))]
    elif args.shard:
        text = (args.shard / "meta.json").exists() and "text_mb" in json.loads(
            (args.shard / "meta.json").read_text())
        shards = [(args.shard, shard_inputs(args.shard))]
    else:
        build = build_text_shard if text else build_html_shard
        shards = [(shard, shard_inputs(shard))
                  for shard in (build(n, args.workers) for n in (args.text or args.n))]
    if args.read_write:
        enabled, mode = [], "read-write"
    elif args.until:
        enabled, mode = STAGES[: STAGES.index(args.until) + 1], f"until-{args.until}"
    elif args.only:
        enabled, mode = [args.only], f"only-{args.only}"
    else:
        enabled, mode = None, "full"
    overrides = (stage_overrides(enabled) if enabled is not None else []) + [
        f"--set={item}" for item in args.overrides]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    records = []
    for shard, inputs in shards:
        if args.only in TEXT_STAGES and not text:
            inputs = extracted_text_input(shard, inputs, args.workers, args.config)
        digest = content_hash(inputs)
        label = args.label or f"{shard.name}-{mode}-w{args.workers}"
        for repeat in range(args.repeat):
            result = run_pipeline(inputs, RUNS / "out" / label, overrides, args.workers, args.config,
                                  args.project.resolve())
            rows = stage_table(result)
            print(f"\n{shard_line(shard, digest)}")
            print_result(f"{label} (run {repeat + 1})", result, rows)
            record = {"label": label, "mode": mode, "project": str(args.project.resolve()),
                      "commit": _commit(args.project), "workload": "text" if text else "html",
                      "workers": args.workers, "config": args.config, "shard": str(shard),
                      "shard_bytes": digest["bytes"], "shard_sha256": digest["sha256"],
                      "docs": result["summary"]["input"]["records"],
                      "input_bytes": result["summary"]["input"]["bytes"],
                      "wall_seconds": round(result["wall_seconds"], 3),
                      "cpu_seconds": round(result["cpu_seconds"], 3),
                      "peak_rss_bytes": result["peak_rss_bytes"],
                      "peak_runner_rss_bytes": result["peak_runner_rss_bytes"],
                      "peak_worker_rss_bytes": result["peak_worker_rss_bytes"], "stages": rows,
                      "kept": result["summary"]["conservation"]["kept"],
                      "load_average": os.getloadavg(),
                      "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                  "platform": platform.platform()},
                      "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
            if args.compare:
                peer = run_datatrove(shard, args.workers, text)
                record.update({"datatrove_wall_seconds": round(peer["wall_seconds"], 3),
                               "datatrove_cpu_seconds": round(peer["cpu_seconds"], 3),
                               "datatrove_peak_rss_bytes": peer["peak_rss_bytes"],
                               "datatrove_kept": peer["result"].get("docs_out")})
                ratio = peer["wall_seconds"] / result["wall_seconds"]
                cpu_ratio = peer["cpu_seconds"] / result["cpu_seconds"]
                record["speedup_vs_datatrove"] = round(ratio, 2)
                record["cpu_speedup_vs_datatrove"] = round(cpu_ratio, 2)
                print(f"datatrove on the same shard, {args.workers} worker(s): "
                      f"{peer['wall_seconds']:.1f} s wall, CPU {peer['cpu_seconds']:.1f} s, kept "
                      f"{peer['result'].get('docs_out')} -> this pipeline is {ratio:.2f}x its "
                      f"throughput (wall), {cpu_ratio:.2f}x (CPU)")
            if args.floors:
                floors = run_floors(shard, args.config, text, result["wall_seconds"])
                record["floors_seconds"] = floors["sum"]
                record["floors"] = floors["floors"]
                record["wall_over_floors"] = round(result["wall_seconds"] / floors["sum"], 3)
                record["cpu_over_floors"] = round(result["cpu_seconds"] / floors["sum"], 3)
                print(f"pipeline / sum of floors: wall {record['wall_over_floors']:.2f}x, "
                      f"CPU {record['cpu_over_floors']:.2f}x")
            records.append(record)
            with args.results.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
    fits = print_fits(records)
    if fits:
        with args.results.open("a") as handle:
            handle.write(json.dumps({"fit": fits, "label": args.label or mode,
                                     "workers": args.workers, "config": args.config}) + "\n")
    print(f"\nresults appended to {args.results}")


if __name__ == "__main__":
    main()
