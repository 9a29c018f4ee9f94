"""Connected components of a large edge list as Beam transforms (no single-machine step).

Alternating large-star / small-star (Kiveris et al., "Connected Components in MapReduce and
Beyond", SoCC 2014), unrolled for a bounded number of rounds. Both operations keep every
component's node set and only rewire edges, until each component is a star around its minimum
node. Each operation is one GroupByKey over the edges; a worker holds one node's neighbour set
at a time, never the whole graph.

Convergence is checked, not assumed: a round that changes no edge is a fixpoint, and a graph
that is a fixpoint of both operations is a union of stars centred on each component's minimum.
If ``max_rounds`` runs out first, every node still gets the smallest node of its closed
neighbourhood as label: nodes sharing a label are always in one component, so the result is a
valid clustering that may split a component (never merges two); the stats say how many edges
were still changing in the last round.

Nodes can be any totally ordered, deterministically encodable value (tuples of str, bytes and
ints here), so "minimum" means the same node on every runner.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Iterator

import apache_beam as beam

Edge = tuple[Any, Any]  # (lo, hi) with lo < hi
EDGE, CHANGES = "edge", "changes"


def large_star(node: Hashable, neighbours: Iterable[Hashable]) -> tuple[list[Edge], int]:
    """Connect every strictly larger neighbour of ``node`` to the minimum of its closed
    neighbourhood. Returns (edges, number of edges that differ from the input's)."""
    larger = set()
    smallest = node
    for other in neighbours:
        if other < smallest:
            smallest = other
        if other > node:
            larger.add(other)
    changed = len(larger) if smallest != node else 0
    return [(smallest, other) for other in sorted(larger)], changed


def small_star(node: Hashable, smaller: Iterable[Hashable]) -> tuple[list[Edge], int]:
    """Connect ``node`` and its smaller neighbours to the smallest of them."""
    below = set(smaller)
    if not below:
        return [], 0
    smallest = min(below)
    below.discard(smallest)
    edges = [(smallest, other) for other in sorted(below)] + [(smallest, node)]
    return edges, len(below)


class _StarFn(beam.DoFn):
    """One star operation (``large_star`` or ``small_star``) per node group: ("edge", e) for
    the new edges and ("changes", n) counting edges changed (convergence). One tagged stream,
    not Beam tagged outputs: some runners (Beam's DaskRunner) hand every tagged output to every
    consumer."""

    def __init__(self, star: Callable[..., tuple[list, int]]) -> None:
        self.star = star

    def process(self, item: tuple[Any, Iterable[Any]]) -> Iterator:
        edges, changed = self.star(*item)
        for edge in edges:
            yield EDGE, edge
        if changed:
            yield CHANGES, changed


def _only(kind: str) -> Callable[[tuple[str, Any]], list]:
    return lambda item: [item[1]] if item[0] == kind else []


def _both_directions(edge: Edge) -> Iterator[tuple[Any, Any]]:
    yield edge[0], edge[1]
    yield edge[1], edge[0]


def _to_larger(edge: Edge) -> tuple[Any, Any]:
    return edge[1], edge[0]


def _label_candidates(edge: Edge) -> Iterator[tuple[Any, Any]]:
    """min of a node's closed neighbourhood: the lower end of each edge it is the top of."""
    yield edge[1], edge[0]
    yield edge[0], edge[0]


def _components_stats(by_round: list[tuple[int, int]], max_rounds: int) -> dict[str, Any]:
    """Convergence from (round, edges changed) pairs; a round that changed nothing has none."""
    counted = dict(by_round)
    per_round = [counted.get(number, 0) for number in range(1, max_rounds + 1)]
    converged_at = next((i + 1 for i, c in enumerate(per_round) if c == 0), None)
    return {
        "max_rounds": max_rounds,
        "rounds_run": len(per_round),
        "changes_per_round": per_round,
        "converged": converged_at is not None,
        "rounds_to_converge": converged_at,
        "edges_still_changing": per_round[-1] if per_round else 0,
    }


class ConnectedComponents(beam.PTransform):
    """Edges ``(lo, hi)`` (lo < hi, duplicates allowed) -> ``(node, label)`` for every node on an
    edge, plus a one-dict PCollection of convergence stats (tag ``stats``)."""

    def __init__(self, max_rounds: int) -> None:
        super().__init__()
        self.max_rounds = max_rounds

    def expand(self, edges: beam.PCollection) -> dict[str, beam.PCollection]:
        round_changes = []  # (round, edges changed) per star operation, summed once at the end
        for number in range(1, self.max_rounds + 1):
            name = f"round {number}"
            large = (edges
                     | f"{name}/both directions" >> beam.FlatMap(_both_directions)
                     | f"{name}/by node" >> beam.GroupByKey()
                     | f"{name}/large-star" >> beam.ParDo(_StarFn(large_star)))
            small = (large
                     | f"{name}/large edges" >> beam.FlatMap(_only(EDGE))
                     | f"{name}/to larger" >> beam.Map(_to_larger)
                     | f"{name}/by larger node" >> beam.GroupByKey()
                     | f"{name}/small-star" >> beam.ParDo(_StarFn(small_star)))
            for kind, step in (("large", large), ("small", small)):
                round_changes.append(
                    step | f"{name}/{kind} changes" >> beam.FlatMap(
                        lambda item, r=number: [(r, item[1])] if item[0] == CHANGES else []))
            edges = small | f"{name}/small edges" >> beam.FlatMap(_only(EDGE))
        labels = (edges
                  | "label candidates" >> beam.FlatMap(_label_candidates)
                  | "label" >> beam.CombinePerKey(min))
        # One grouped count, not a side input per round: runners that evaluate side inputs by
        # recomputing their lineage (Dask) would otherwise redo every round once per round.
        stats = (round_changes
                 | "all changes" >> beam.Flatten()
                 | "changes per round" >> beam.CombinePerKey(sum)
                 | "rounds" >> beam.combiners.ToList()
                 | "stats" >> beam.Map(_components_stats, self.max_rounds))
        return {"labels": labels, "stats": stats}
