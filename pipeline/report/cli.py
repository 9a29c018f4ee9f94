"""The `plan` and `report` verbs (picked up by pipeline.cli through ``VERBS``).

``plan`` imports only the pure formulas and the report config (no Beam) so it answers in well
under a second; its defaults are the report section's.
"""
from __future__ import annotations

import argparse
import re
import sys

from pipeline.report.config import ReportConfig
from pipeline.report.formulas import GPU_PEAK_FLOPS, parse_size

_DEFAULTS = ReportConfig()

PLAN_EPILOG = """\
examples:
  python -m pipeline plan --tokens 300B --model 7B --model 70B
  python -m pipeline plan --tokens 1.4T --unique-tokens 500B --model 70B --gpus 1024 --gpu a100 --mfu 0.45
Sizes accept K/M/B/T suffixes (125M, 7B, 1.4T) or plain numbers (300000000000, 3e11).
"""


def _size(text: str) -> float:
    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _gpu(text: str) -> str:
    name = text.strip().lower()
    if name not in GPU_PEAK_FLOPS:
        raise argparse.ArgumentTypeError(
            f"unknown GPU {text!r}; allowed: {', '.join(sorted(GPU_PEAK_FLOPS))}")
    return name


def _mfu(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"MFU must be in (0, 1], got {text}")
    return value


def _gpus(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"need at least 1 GPU, got {text}")
    return value


def _model(text: str) -> str:
    _size(text)
    return text.strip()


def _plan_args(parser: argparse.ArgumentParser) -> None:
    parser.epilog = PLAN_EPILOG
    # Let "-5B" reach the size parser (and its clear "must be positive" error) instead of
    # argparse reading it as an unknown flag; argparse only recognises plain "-5" by default.
    parser._negative_number_matcher = re.compile(  # noqa: SLF001
        r"^-[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?[kKmMbBgGtTpP]?$")
    parser.add_argument("--tokens", required=True, type=_size, metavar="N",
                        help="tokens in the dataset (what a run's report calls total tokens)")
    parser.add_argument("--unique-tokens", type=_size, metavar="U",
                        help="unique tokens among them (default: --tokens); epochs = needed / U")
    parser.add_argument("--model", action="append", type=_model, metavar="SIZE",
                        help=f"target model size, repeatable (default: {' '.join(_DEFAULTS.models)})")
    parser.add_argument("--train-tokens", type=_size, metavar="D",
                        help="training tokens per model (default: Chinchilla compute-optimal)")
    parser.add_argument("--gpus", type=_gpus, default=_DEFAULTS.gpus,
                        help=f"number of GPUs (default {_DEFAULTS.gpus})")
    parser.add_argument("--gpu", type=_gpu, default=_DEFAULTS.gpu,
                        help=f"GPU type: {', '.join(sorted(GPU_PEAK_FLOPS))} (default {_DEFAULTS.gpu})")
    parser.add_argument("--mfu", type=_mfu, default=_DEFAULTS.mfu,
                        help=f"model FLOP utilisation for the headline time (default {_DEFAULTS.mfu})")
    parser.add_argument("--json", action="store_true", help="print the section as JSON")


def cmd_plan(args: argparse.Namespace, _beam_args: list[str]) -> int:
    import json

    from pipeline.report.budget import budget_section
    from pipeline.report.render_md import budget_md

    unique = args.unique_tokens if args.unique_tokens is not None else args.tokens
    if unique > args.tokens:
        print(f"error: --unique-tokens ({unique:g}) exceeds --tokens ({args.tokens:g})",
              file=sys.stderr)
        return 2
    models = args.model or list(_DEFAULTS.models)
    section = budget_section(unique, models, args.gpu, args.gpus, args.mfu, _DEFAULTS.mfu_range,
                             args.train_tokens, dataset_tokens=args.tokens, tokens_source="given")
    if args.json:
        print(json.dumps(section, indent=2, sort_keys=True))
    else:
        print("\n".join(budget_md(section, title="## Epochs for target models", compute_title="## Compute")).rstrip())
    return 0


def _report_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", help="a run's output directory (holding report.json)")


def cmd_report(args: argparse.Namespace, _beam_args: list[str]) -> int:
    from pipeline.report import rerender

    try:
        written = rerender(args.output)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for name in written:
        print(f"{args.output.rstrip('/')}/{name}")
    return 0


VERBS = [
    ("plan", "token budget for given numbers: epochs, effective data, compute, time, memory",
     _plan_args, cmd_plan, False),
    ("report", "re-render report.md and report.html from <output>/report.json", _report_args,
     cmd_report, False),
]
