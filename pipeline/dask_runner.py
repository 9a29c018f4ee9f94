"""``--runner dask``: Beam's DaskRunner with its GroupByKey made correct across processes.

Beam 2.77's DaskRunner (``apache_beam.runners.dask``) has three defects that change results on
a ``dask.distributed`` cluster of several processes; this project handles each:

1. A step's tagged outputs all reach every consumer (``TaggingReceiver`` appends every output to
   one list). Handled by the graph: no stage or shell transform uses ``with_outputs``; steps
   that need two kinds of element emit one stream of ``(kind, value)`` and filter it.
2. Only the last transform's lineage is computed (``run_pipeline`` computes "just the last
   value" of its bag map). Handled by the graph: it has exactly one sink, added last, that
   depends on everything (:func:`pipeline.graph.build_graph`).
3. GroupByKey groups with ``dask.bag.groupby``, which partitions by Python's ``hash`` of the
   key: strings hash differently per process (unless PYTHONHASHSEED agrees) and ``None`` (the
   key of every ``CombineGlobally``) hashes by address in Python 3.11, so one key can form two
   groups (apache/beam#29365, dask/dask#6723). Fixed here: :class:`StableGroupByKey` groups by
   a 64-bit hash of the key's deterministic Beam encoding - an ``int``, which hashes the same
   everywhere - then splits any hash collision back into its keys.

Remaining limits (README "Scale out"): no metrics (timings come from the passes' own
statistics), ``CombineGlobally`` without combiner lifting, side inputs materialised per worker.
"""
from __future__ import annotations

from typing import Any

import xxhash
from apache_beam.coders import FastPrimitivesCoder
from apache_beam.runners.dask import transform_evaluator
from apache_beam.runners.dask.dask_runner import DaskRunner as BeamDaskRunner
from apache_beam.runners.dask.overrides import _GroupByKeyOnly

_KEY_CODER = FastPrimitivesCoder().as_deterministic_coder("dask GroupByKey key")


def stable_key_hash(key: Any) -> int:
    """A process-independent hash of a Beam key (its deterministic encoding)."""
    return xxhash.xxh64_intdigest(_KEY_CODER.encode(key))


def _split_by_key(group: tuple[int, list]) -> list[tuple[Any, list]]:
    """One hash group -> one (key, values) per distinct key, in first-seen order."""
    _, items = group
    by_key: dict[bytes, tuple[Any, list]] = {}
    for key, value in items:
        entry = by_key.setdefault(_KEY_CODER.encode(key), (key, []))
        entry[1].append(transform_evaluator.defenestrate(value))
    return list(by_key.values())


class StableGroupByKey(transform_evaluator.DaskBagOp):
    """GroupByKey over a dask bag, correct whichever process hashes the key."""

    def apply(self, input_bag: Any, side_inputs: Any = None) -> Any:
        return (input_bag
                .groupby(lambda item: stable_key_hash(item[0]))
                .map(_split_by_key)
                .flatten())


class DaskRunner(BeamDaskRunner):
    """Beam's DaskRunner translating GroupByKey with :class:`StableGroupByKey`."""

    def run_pipeline(self, pipeline: Any, options: Any) -> Any:
        translations = transform_evaluator.TRANSLATIONS
        previous = translations[_GroupByKeyOnly]
        translations[_GroupByKeyOnly] = StableGroupByKey  # the visitor reads it while building
        try:
            return super().run_pipeline(pipeline, options)
        finally:
            translations[_GroupByKeyOnly] = previous


RUNNER_PATH = f"{__name__}.DaskRunner"
