"""The `plan` and `report` verbs (picked up by pipeline.cli through ``VERBS``).

``plan`` imports only the pure formulas and the report config (no Beam); its defaults are the
report section's. ``report`` rebuilds a finished run's report from its summary.json with other
targets (models, GPUs, utilisation, fit, mix, budget), or puts two runs side by side.
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from pipeline.report.config import ReportConfig, parse_mix
from pipeline.report.formulas import FITS, GPUS, parse_size

_DEFAULTS = ReportConfig()
GPU_CHOICES = sorted(GPUS) + ["custom"]

PLAN_EPILOG = """\
examples:
  python -m pipeline plan --tokens 300B --model 7B --model 70B
  python -m pipeline plan --tokens 1.4T --unique-tokens 500B --model 70B --gpus 1024 --gpu a100 --mfu 0.45
  python -m pipeline plan --tokens 15.6T --model 405B --train-tokens 15.6T --gpus 16384 --hfu 0.5 --recompute
  python -m pipeline plan --tokens 25B --flops 9.26e21              # which model for this budget?
  python -m pipeline plan --tokens 300B --mix en=0.7,zh=0.2,code=0.1 --lang-tokens en=250B,zh=30B,code=20B
Sizes accept K/M/B/T suffixes (125M, 7B, 1.4T) or plain numbers (300000000000, 3e11).
"""
REPORT_EPILOG = """\
examples:
  python -m pipeline report out/run1                          # rebuild report.{json,md,html}
  python -m pipeline report out/run1 --model 13B --gpu b200 --mfu 0.45 --out /tmp/r13b
  python -m pipeline report out/run1 out/run2 --out /tmp/cmp  # two runs side by side
"""


def _size(text: str) -> float:
    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _gpu(text: str) -> str:
    name = text.strip().lower()
    if name not in GPU_CHOICES:
        raise argparse.ArgumentTypeError(
            f"unknown GPU {text!r}; allowed: {', '.join(GPU_CHOICES)} (custom needs --peak-flops)")
    return name


def _fraction(label: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not 0 < value <= 1:
            raise argparse.ArgumentTypeError(f"{label} must be in (0, 1], got {text}")
        return value
    return parse


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind.__name__}: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def _model(text: str) -> str:
    _size(text)
    return text.strip()


def _mix(text: str) -> dict[str, float]:
    try:
        return parse_mix(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _lang_tokens(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        name, sep, size = part.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"{part!r}: expected LANG=TOKENS, e.g. en=250B,zh=30B")
        out[name.strip()] = _size(size)
    return out


def _allow_negative_sizes(parser: argparse.ArgumentParser) -> None:
    # Let "-5B" reach the size parser (and its clear "must be positive" error) instead of
    # argparse reading it as an unknown flag; argparse only recognises plain "-5" by default.
    parser._negative_number_matcher = re.compile(  # noqa: SLF001
        r"^-[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?[kKmMbBgGtTpP]?$")


def _target_args(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """Options shared by plan and report. For report, an option not given keeps the run's value."""
    keep = "" if defaults else " (default: the run's report config)"

    def dflt(value: Any) -> str:
        return f" (default {value})" if defaults else keep

    parser.add_argument("--model", action="append", type=_model, metavar="SIZE",
                        help="target model size, repeatable" + dflt(" ".join(_DEFAULTS.models)))
    parser.add_argument("--train-tokens", type=_size, metavar="D",
                        help="training tokens per model" + (" (default: compute-optimal under --fit)"
                                                            if defaults else keep))
    parser.add_argument("--fit", choices=sorted(FITS),
                        help="compute-optimal fit: approach1 (Hoffmann Table 3), approach3 (as "
                             "printed), epoch_ai (Besiroglu et al. 2024 refit)" + dflt(_DEFAULTS.fit))
    parser.add_argument("--gpus", type=_positive(int), help="number of GPUs" + dflt(_DEFAULTS.gpus))
    parser.add_argument("--gpu", type=_gpu, metavar="NAME",
                        help=f"GPU type: {', '.join(GPU_CHOICES)}" + dflt(_DEFAULTS.gpu))
    parser.add_argument("--peak-flops", type=_size, metavar="FLOPS",
                        help="peak dense FLOP/s per GPU instead of the datasheet's (e.g. 1.2e15); "
                             "required with --gpu custom")
    parser.add_argument("--gpu-memory-gb", type=_positive(float), metavar="GB",
                        help="memory per GPU (for --gpu custom)")
    util = parser.add_mutually_exclusive_group()
    util.add_argument("--mfu", type=_fraction("MFU"),
                      help="model FLOPs utilisation (on 6ND): time = 6ND / (GPUs x peak x MFU)"
                           + dflt(_DEFAULTS.mfu))
    util.add_argument("--hfu", type=_fraction("HFU"),
                      help="hardware FLOPs utilisation: time = 8ND / (GPUs x peak x HFU) with "
                           "--recompute (default), 6ND with --no-recompute")
    parser.add_argument("--recompute", action=argparse.BooleanOptionalAction, default=None,
                        help="activations recomputed in the backward pass (matters with --hfu)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--flops", type=_size, metavar="C",
                        help="fixed compute budget in model FLOPs: which model and how many tokens")
    budget.add_argument("--days", type=_positive(float), metavar="DAYS",
                        help="fixed compute budget as DAYS on --gpus x --gpu at the utilisation")
    parser.add_argument("--mix", type=_mix, metavar="LANG=W,...",
                        help="language mix of the target model, e.g. en=0.7,zh=0.2,code=0.1")
    parser.add_argument("--vocab", type=_positive(int), metavar="V",
                        help="vocabulary size for the non-embedding parameter estimate"
                             + (f" (default {32000:,}, Llama 2)" if defaults
                                else " (default: the run's tokenizer)"))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.model:
        out["models"] = list(args.model)
    for name, key in (("train_tokens", "train_tokens"), ("fit", "fit"), ("gpus", "gpus"),
                      ("gpu", "gpu"), ("peak_flops", "peak_flops"),
                      ("gpu_memory_gb", "gpu_memory_gb"), ("recompute", "recompute"),
                      ("mix", "mix"), ("vocab", "vocab_size")):
        value = getattr(args, name, None)
        if value is not None:
            out[key] = value
    if args.mfu is not None:
        out.update(mfu=args.mfu, hfu=None)
    if args.hfu is not None:
        out["hfu"] = args.hfu
    if args.flops is not None:
        out.update(flops=args.flops, days=None)
    if args.days is not None:
        out.update(days=args.days, flops=None)
    return out


def _config(base: dict[str, Any], overrides: dict[str, Any]) -> ReportConfig | str:
    """A ReportConfig, or the validation error as one line per problem."""
    from pydantic import ValidationError

    try:
        return ReportConfig(**{**base, **overrides})
    except ValidationError as error:
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'report'}: "
                         f"{e['msg'].removeprefix('Value error, ')}" for e in error.errors())


def _plan_args(parser: argparse.ArgumentParser) -> None:
    parser.epilog = PLAN_EPILOG
    _allow_negative_sizes(parser)
    parser.add_argument("--tokens", required=True, type=_size, metavar="N",
                        help="tokens in the dataset (what a run's report calls kept tokens)")
    parser.add_argument("--unique-tokens", type=_size, metavar="U",
                        help="unique tokens among them (default: all of --tokens); "
                             "epochs = training tokens / U")
    _target_args(parser, defaults=True)
    parser.add_argument("--lang-tokens", type=_lang_tokens, metavar="LANG=U,...",
                        help="unique tokens per language, for --mix (e.g. en=250B,zh=30B)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")


def cmd_plan(args: argparse.Namespace, _beam_args: list[str]) -> int:
    import json

    from pipeline.report.budget import plan_report
    from pipeline.report.render_md import plan_markdown

    config = _config({}, _overrides(args))
    if isinstance(config, str):
        print(f"error: {config}", file=sys.stderr)
        return 2
    try:
        plan = plan_report(args.tokens, args.unique_tokens, config, args.lang_tokens, args.vocab)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(plan, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        print(plan_markdown(plan).rstrip())
    return 0


def _report_args(parser: argparse.ArgumentParser) -> None:
    parser.epilog = REPORT_EPILOG
    _allow_negative_sizes(parser)
    parser.add_argument("output", help="a finished run's output directory (holding summary.json)")
    parser.add_argument("other", nargs="?", metavar="OUTPUT_B",
                        help="a second run: print both side by side (funnel, tokens, budget, config)")
    parser.add_argument("--out", metavar="DIR",
                        help="write the report (or compare.{md,html,json}) here instead of into "
                             "the run's output")
    _target_args(parser, defaults=False)


def cmd_report(args: argparse.Namespace, _beam_args: list[str]) -> int:
    from pipeline.report import read_summary, rebuild

    overrides = _overrides(args)
    try:
        summary = read_summary(args.output)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stored = {k: v for k, v in ((summary.get("config") or {}).get("report") or {}).items()
              if k in ReportConfig.model_fields}
    config = _config(stored, overrides)
    if isinstance(config, str):
        print(f"error: {config}", file=sys.stderr)
        return 2
    if args.other is None:
        written = rebuild(args.output, overrides, args.out)
        for name in written:
            print(f"{(args.out or args.output).rstrip('/')}/{name}")
        return 0
    return _compare(args, summary, config)


def _compare(args: argparse.Namespace, summary_a: dict, config: ReportConfig) -> int:
    import json

    from apache_beam.io.filesystems import FileSystems

    from pipeline.report import build_for_output, read_summary, _write
    from pipeline.report.compare import compare_data, compare_html, compare_markdown

    try:
        summary_b = read_summary(args.other)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    a = build_for_output(summary_a, config, args.output.rstrip("/"))
    b = build_for_output(summary_b, config, args.other.rstrip("/"))
    data = compare_data(a, b, summary_a, summary_b, args.output, args.other)
    text = compare_markdown(data)
    if not args.out:
        print(text.rstrip())
        return 0
    target = args.out.rstrip("/")
    if not FileSystems.exists(target):
        FileSystems.mkdirs(target)
    _write(FileSystems.join(target, "compare.json"),
           json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
    _write(FileSystems.join(target, "compare.md"), text)
    _write(FileSystems.join(target, "compare.html"), compare_html(data))
    for name in ("compare.json", "compare.md", "compare.html"):
        print(f"{target}/{name}")
    return 0


VERBS = [
    ("plan", "token budget for given numbers: epochs, effective data, compute, time, memory, "
             "and the inverse questions", _plan_args, cmd_plan, False),
    ("report", "rebuild a finished run's report from summary.json (other models, GPUs, "
               "utilisation...), or compare two runs", _report_args, cmd_report, False),
]
