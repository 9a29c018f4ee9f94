"""Command line: ``python -m pipeline <verb>`` (also installed as ``pretrain-pipeline``).

``run`` takes the pipeline's own flags; every other flag is a Beam pipeline option and passes
through untouched (``--runner DataflowRunner --project ...``), after a check that Beam knows it.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable

from pipeline.config import DEMO_INPUT, ConfigError, load_config

EPILOG_RUN = """\
Beam options pass through, e.g.:
  --direct_num_workers 2 --direct_running_mode multi_processing      (local, 2 processes)
  --runner PortableRunner --job_endpoint embed --environment_type LOOPBACK
  --runner DataflowRunner --project P --region R --temp_location gs://B/tmp --setup_file ./setup.py
Without --runner the in-process FnApiRunner is used (nothing is downloaded).
"""


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config (default: configs/default.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set quality.min_words=40 (repeatable)")


def _load(args: argparse.Namespace, **direct: object):
    return load_config(args.config, args.overrides, **direct)


def cmd_run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.run import run_pipeline
    from stages.progress import enable

    if args.progress > 0:
        enable(args.progress)
    config = _load(args, **{"input.paths": args.input or None, "output.path": args.output,
                            "output.overwrite": True if args.overwrite else None})
    if not args.input and list(config.input.paths) == [DEMO_INPUT]:
        print(f"no --input given: running the bundled demo shard ({DEMO_INPUT})", flush=True)
    summary = run_pipeline(config, beam_args)
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
    print(f"kept documents:  {out}/kept/")
    print(f"rejected:        {out}/rejected/   dead letters: {out}/dead_letter/")
    print(f"summary:         {out}/summary.json")
    for name in ("report.md", "report.html"):
        if name in summary.get("report_files", []):
            print(f"report:          {out}/{name}")
    return 0 if cons["holds"] else 3


def cmd_validate(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.options import beam_options

    config = _load(args)
    beam_options(beam_args)
    print(json.dumps(config.model_dump(mode="json"), indent=2, sort_keys=True))
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
    parser.add_argument("--progress", type=float, default=10.0, metavar="SECONDS",
                        help="print documents per stage every SECONDS during local runs (0: off)")


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
    try:
        return handler(args, extra)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
