"""Beam pipeline options: pass every Beam flag through untouched, but catch typos early and
never pick a runner that downloads something or loses data.

- No ``--runner``: the in-process FnApiRunner (what DirectRunner falls back to, minus its
  attempt to download Prism).
- ``--runner DirectRunner``: mapped to FnApiRunner for the same reason (logged).
- ``--direct_running_mode multi_threading``: refused; it silently drops elements in Beam 2.77.
- Any flag no registered PipelineOptions class knows is an error naming it.
"""
from __future__ import annotations

import argparse
import importlib
import logging

from apache_beam.options.pipeline_options import (DirectOptions, PipelineOptions,
                                                  StandardOptions, _BeamArgumentParser)

from pipeline.config import ConfigError

LOCAL_RUNNER = "FnApiRunner"
RUNNING_MODES = ("in_memory", "multi_processing")
# Runner option classes live in runner modules; import them so their flags are known.
_OPTION_MODULES = ("apache_beam.runners.portability.flink_runner",
                   "apache_beam.runners.portability.spark_runner")


class _RaisingParser(_BeamArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"Beam option error: {message}")


def _all_option_classes() -> list[type]:
    for module in _OPTION_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    seen: list[type] = []
    stack = list(PipelineOptions.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.append(cls)
            stack.extend(cls.__subclasses__())
    return seen


def check_beam_args(beam_args: list[str]) -> None:
    """Raise ConfigError for flags Beam does not know (Beam itself only logs and drops them)."""
    parser = _RaisingParser(allow_abbrev=False)
    for cls in _all_option_classes():
        try:
            cls._add_argparse_args(parser)
        except argparse.ArgumentError:
            pass  # an option two classes both declare
    _, unknown = parser.parse_known_args(beam_args)
    flags = [arg for arg in unknown if arg.startswith("-")]
    if flags:
        raise ConfigError(f"unknown option(s): {' '.join(flags)} — not a pipeline flag and not a "
                          "Beam pipeline option (see `python -m pipeline run --help` and Beam's "
                          "--help for runner options)")


def beam_options(beam_args: list[str]) -> PipelineOptions:
    """Validated Beam options with a download-free local default runner."""
    check_beam_args(beam_args)
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner in (None, "DirectRunner", "direct", "Direct"):
        if standard.runner:
            logging.info("--runner DirectRunner mapped to %s (no Prism download)", LOCAL_RUNNER)
        standard.runner = LOCAL_RUNNER
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode not in RUNNING_MODES:
        raise ConfigError(f"--direct_running_mode {direct.direct_running_mode}: allowed values are "
                          f"{', '.join(RUNNING_MODES)} (multi_threading loses elements in Beam 2.77)")
    return options


def runner_name(options: PipelineOptions) -> str:
    return str(options.view_as(StandardOptions).runner)
