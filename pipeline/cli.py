"""Command line: ``python -m pipeline <verb>`` (also installed as ``pretrain-pipeline``).

``run`` takes the pipeline's own flags; every other flag is a Beam pipeline option and passes
through untouched (``--runner DataflowRunner --project ...``), after a check that Beam knows it.
``validate`` and ``run`` check the config, the Beam flags and every file the config names
(:func:`pipeline.resources.check_resources`) before any work; a config error exits 2, Ctrl-C
exits 130 with one line.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable

from pipeline.config import DEMO_INPUT, ConfigError, load_config

EXIT_CONFIG, EXIT_EVIDENCE, EXIT_INTERRUPTED = 2, 3, 130  # 130 = 128 + SIGINT, the shell's convention

EPILOG_RUN = """\
Beam options pass through, e.g.:
  --direct_num_workers 2 --direct_running_mode multi_processing      (local, 2 processes)
  --runner PortableRunner --job_endpoint embed --environment_type LOOPBACK
  --runner DataflowRunner --project P --region R --temp_location gs://B/tmp --setup_file ./setup.py
Without --runner the in-process FnApiRunner is used (nothing is downloaded).
"""


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file, or the name of a bundled one: "
                        "default (the demo, used when omitted), production, zh_web")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set quality.min_words=40 (repeatable)")


def _load(args: argparse.Namespace, **direct: object):
    return load_config(args.config, args.overrides, **direct)


def _checked(args: argparse.Namespace, beam_args: list[str], **direct: object):
    """The config, validated with the Beam flags and every file it names (exit 2 otherwise)."""
    from pipeline.options import beam_options
    from pipeline.resources import check_resources

    config = _load(args, **direct)
    check_resources(config, beam_options(beam_args))
    return config


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("pretrain-pipeline")
    except PackageNotFoundError:
        return "unknown (not installed; run `pip install .`)"


def cmd_run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.run import run_pipeline

    config = _checked(args, beam_args, **{"input.paths": args.input or None,
                                          "output.path": args.output,
                                          "output.overwrite": True if args.overwrite else None})
    if not args.input and list(config.input.paths) == [DEMO_INPUT]:
        print(f"no --input given: running the bundled demo shard ({DEMO_INPUT})", flush=True)
    _note_demo_resources(config)
    summary = run_pipeline(config, beam_args, resume=args.resume, progress=args.progress)
    if summary.get("dry_run"):
        print(f"dry run: job built for {summary['files']} input file(s) through "
              f"{' -> '.join(summary['stages'])}; nothing was submitted or written")
        return 0
    out = config.output.path.rstrip("/")
    cons = summary["conservation"]
    print(f"input records {cons['input']} = kept {cons['kept']} + rejected {cons['rejected']} "
          f"+ dead-lettered {cons['dead_letter']}: {'OK' if cons['holds'] else 'MISMATCH'}")
    for stage in summary["stages"]:
        reasons = ", ".join(f"{r}={v['docs']}" for r, v in stage["reasons"].items())
        print(f"  {stage['stage']:<14} in {stage['docs_in']:>7}  out {stage['docs_out']:>7}"
              f"{'  rejected: ' + reasons if reasons else ''}"
              f"{'  dead: ' + str(stage['dead_letter']) if stage['dead_letter'] else ''}")
    kept = summary.get("kept", {}).get("total", {})
    counted = "tokenize" in {stage["stage"] for stage in summary["stages"]}
    tokens = f"{kept.get('tokens', 0):,} tokens" if counted else "tokens not counted (tokenize off)"
    print(f"kept:            {kept.get('docs', 0):,} documents, {tokens}"
          f", {kept.get('bytes', 0) / 1e6:,.1f} MB of text; "
          f"elapsed {summary['timing']['wall_seconds']:,.1f} s")
    print(f"kept documents:  {out}/kept/")
    print(f"rejected:        {out}/rejected/   dead letters: {out}/dead_letter/")
    print(f"summary:         {out}/summary.json")
    for name in ("report.md", "report.html"):
        if name in summary.get("report_files", []):
            print(f"report:          {out}/{name}")
    return 0 if cons["holds"] else 3


def _note_demo_resources(config: object) -> None:
    """One line when bundled demo lists stand in for real ones (the input shard is announced
    with the input)."""
    from pipeline.resources import demo_resources

    used = [item for item in demo_resources(config) if not item["key"].startswith("input.")]
    if used:
        print("note: demo resources in use: " + "; ".join(
            f"{item['key']} = {item['description']}" for item in used) +
            " (for a real crawl: --config production)", file=sys.stderr)


def cmd_validate(args: argparse.Namespace, beam_args: list[str]) -> int:
    config = _checked(args, beam_args)
    print(json.dumps(config.model_dump(mode="json"), indent=2, sort_keys=True))
    _note_demo_resources(config)
    return 0


Verb = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[..., int], bool]


def _run_args(parser: argparse.ArgumentParser) -> None:
    _add_config_args(parser)
    parser.add_argument("--input", nargs="+", metavar="PATH",
                        help="input files, globs or folders (read recursively), any Beam filesystem "
                             "path (WARC/ARC, JSON Lines/JSON, Parquet; .gz/.zst/.bz2/.xz); "
                             "default: the bundled demo shard")
    parser.add_argument("--output", help="output directory (default: output.path in the config)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace results already in --output (otherwise the run refuses)")
    parser.add_argument("--resume", action="store_true",
                        help="continue a run that was killed or failed: work already done for "
                             "an input file is reused (same config and inputs required)")
    parser.add_argument("--progress", type=float, default=0.5, metavar="SECONDS",
                        help="refresh the live progress line every SECONDS while a local run "
                             "works (0: off; never shown when stderr is not a terminal)")


def verbs() -> list[Verb]:
    """(name, help, add_arguments, handler, takes_beam_args)."""
    found: list[Verb] = [
        ("run", "run the pipeline on a shard or a crawl", _run_args, cmd_run, True),
        ("validate", "check a config and Beam flags, print the resolved config", _add_config_args,
         cmd_validate, True),
    ]
    from pipeline.report.cli import VERBS as REPORT_VERBS  # plan, report

    return found + list(REPORT_VERBS)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Verb]]:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    parser.add_argument("--version", action="version", version=f"pretrain-pipeline {version()}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    table = {}
    for verb in verbs():
        name, help_text, add_arguments, _, takes_beam = verb
        verb_parser = sub.add_parser(name, help=help_text, description=help_text,
                                     epilog=EPILOG_RUN if takes_beam else None,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
        add_arguments(verb_parser)
        table[name] = verb
    return parser, table


def main(argv: list[str] | None = None) -> int:
    parser, table = build_parser()
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _, _, _, handler, takes_beam = table[args.verb]
    if extra and not takes_beam:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from pipeline.errors import EvidenceError

    try:
        return handler(args, extra)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except EvidenceError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_EVIDENCE
    except KeyboardInterrupt:
        _quiet_interrupt()
        print(f"interrupted: {args.verb} stopped by Ctrl-C", file=sys.stderr)
        return EXIT_INTERRUPTED


def _quiet_interrupt() -> None:
    """After Ctrl-C: no more logging from threads Beam is tearing down, and a second Ctrl-C
    during shutdown ends the process without another traceback."""
    import signal

    logging.disable(logging.CRITICAL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
