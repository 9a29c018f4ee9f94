"""Beam pipeline options: pass every Beam flag through untouched, but catch typos early and
never pick a runner that downloads something or loses data.

- No ``--runner``: the in-process FnApiRunner (what DirectRunner falls back to, minus its
  attempt to download Prism).
- ``--runner DirectRunner``: mapped to FnApiRunner for the same reason (logged).
- ``--runner dask`` (or DaskRunner): the project's DaskRunner, :mod:`pipeline.dask_runner`.
- ``--direct_running_mode multi_threading``: refused; it silently drops elements in Beam 2.77.
- Any flag no registered PipelineOptions class knows is an error naming it, and so is a
  ``--runner`` Beam cannot create (checked by creating it: nothing is submitted).
"""
from __future__ import annotations

import argparse
import importlib
import logging

from apache_beam.options.pipeline_options import (DirectOptions, PipelineOptions,
                                                  PortableOptions, StandardOptions,
                                                  _BeamArgumentParser)

from pipeline.config import ConfigError

LOCAL_RUNNER = "FnApiRunner"
RUNNING_MODES = ("in_memory", "multi_processing")
# Runner option classes live in runner modules; import them so their flags are known.
_OPTION_MODULES = ("apache_beam.runners.portability.flink_runner",
                   "apache_beam.runners.portability.spark_runner")
# Imported only when an argument names dask (importing dask.distributed costs ~0.3 s per run);
# present when the `dask` extra is installed.
_DASK_OPTION_MODULE = "apache_beam.runners.dask.dask_runner"


class _RaisingParser(_BeamArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"Beam option error: {message}")


def _all_option_classes(beam_args: list[str] = ()) -> list[type]:
    wants_dask = any("dask" in arg.lower() for arg in beam_args)
    for module in (*_OPTION_MODULES, *((_DASK_OPTION_MODULE,) if wants_dask else ())):
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
    for cls in _all_option_classes(beam_args):
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
    if str(standard.runner).lower() in DASK_NAMES:
        standard.runner = _dask_runner()
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode not in RUNNING_MODES:
        raise ConfigError(f"--direct_running_mode {direct.direct_running_mode}: allowed values are "
                          f"{', '.join(RUNNING_MODES)} (multi_threading loses elements in Beam 2.77)")
    check_runner(str(standard.runner))
    return options


DASK_NAMES = ("dask", "daskrunner", "apache_beam.runners.dask.dask_runner.daskrunner")


def _dask_runner() -> str:
    """The project's DaskRunner (Beam's, with a process-safe GroupByKey: pipeline/dask_runner.py),
    or a config error saying which extra to install."""
    try:
        from pipeline.dask_runner import RUNNER_PATH
    except ImportError as error:
        raise ConfigError(f"--runner dask: {error}; install the extra: pip install "
                          "'pretrain-pipeline[dask]' (dask and distributed)") from None
    return RUNNER_PATH


def check_runner(name: str) -> None:
    """Create the runner Beam would create (cheap: nothing is submitted), so a misspelt or
    uninstalled runner fails here naming the flag, not after the output folder was prepared."""
    if name == LOCAL_RUNNER:
        return
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(name)
    except (ValueError, ImportError, AttributeError) as error:
        raise ConfigError(f"--runner {name}: Beam cannot create this runner: {error}") from None


def remote_workers(options: PipelineOptions) -> str | None:
    """The runner's name when its workers cannot read this machine's files (Dataflow, or a
    portable runner whose SDK harness runs in DOCKER or PROCESS environments elsewhere);
    None for the local runners and LOOPBACK/EXTERNAL environments."""
    runner = str(options.view_as(StandardOptions).runner or LOCAL_RUNNER)
    if runner in (LOCAL_RUNNER, "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner"):
        return None
    if "dataflow" in runner.lower():
        return runner
    environment = (options.view_as(PortableOptions).environment_type or "DOCKER").upper()
    return runner if environment in ("DOCKER", "PROCESS") else None


def local_workers(options: PipelineOptions) -> int:
    """Worker processes the local runner starts (0 for other runners)."""
    if runner_name(options) != LOCAL_RUNNER:
        return 0
    direct = options.view_as(DirectOptions)
    return direct.direct_num_workers if direct.direct_running_mode == "multi_processing" else 1


def runner_name(options: PipelineOptions) -> str:
    return str(options.view_as(StandardOptions).runner)
