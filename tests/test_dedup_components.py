"""Connected components in Beam: exact labels when converged, a valid split when not."""
from __future__ import annotations

import json
import random
from pathlib import Path

import apache_beam as beam

from tests.helpers import WriteSingleJson, star_round
from pipeline.options import beam_options
from stages.components import ConnectedComponents, large_star, small_star


def _components(edges: list[tuple[int, int]]) -> dict[int, int]:
    """Reference: node -> smallest node of its component (union-find)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


def _run(edges: list[tuple[int, int]], max_rounds: int, tmp: Path) -> tuple[dict[int, int], dict]:
    with beam.Pipeline(options=beam_options([])) as pipeline:
        out = (pipeline | beam.Create(edges, reshuffle=False)
               | ConnectedComponents(max_rounds))
        (out["labels"] | beam.combiners.ToList()
         | "labels" >> WriteSingleJson(str(tmp / "labels.json")))
        out["stats"] | "stats" >> WriteSingleJson(str(tmp / "stats.json"))
    labels = {node: label for node, label in json.loads((tmp / "labels.json").read_text())}
    return labels, json.loads((tmp / "stats.json").read_text())


def _graphs() -> list[tuple[int, int]]:
    """Disjoint test graphs in one edge list (offsets keep their nodes apart)."""
    rng = random.Random(9)
    edges: list[tuple[int, int]] = []
    order = list(range(300))
    rng.shuffle(order)  # a long path with random node order: the worst case for label chasing
    edges += [(1000 + order[i], 1000 + order[i + 1]) for i in range(299)]
    edges += [(2000, 2000 + k) for k in range(1, 200)]  # a star around its minimum
    edges += [(3000 + k, 3199) for k in range(199)]  # a star around its maximum
    edges += [(4000 + a, 4000 + b) for a in range(12) for b in range(a + 1, 12)]  # a clique
    for k in range(300):  # random sparse forest + cycles
        edges.append((5000 + rng.randrange(400), 5000 + rng.randrange(400)))
    edges += [(6000 + i, 6000 + i + 1) for i in range(64)]  # a sorted path
    return [(min(a, b), max(a, b)) for a, b in edges if a != b] + [(4001, 4002)]  # + a duplicate


def test_star_operations() -> None:
    assert large_star(5, [2, 7, 9, 7]) == ([(2, 7), (2, 9)], 2)
    assert large_star(2, [5, 7]) == ([(2, 5), (2, 7)], 0)  # already the local minimum
    assert small_star(9, [4, 2, 4]) == ([(2, 4), (2, 9)], 1)
    assert small_star(9, [4]) == ([(4, 9)], 0)


def test_components_match_union_find(tmp_path: Path) -> None:
    edges = _graphs()
    labels, stats = _run(edges, 12, tmp_path)
    assert labels == _components(edges)
    assert stats["converged"] and stats["edges_still_changing"] == 0
    assert stats["rounds_to_converge"] <= 12
    assert stats["rounds_run"] == 12 and len(stats["changes_per_round"]) == 12


def _changes_per_round(edges: list[tuple[int, int]], rounds: int) -> list[int]:
    """Reference: edges changed per round (large-star + small-star), iterated in memory."""
    current, per_round = set(edges), []
    for _ in range(rounds):
        current, changed = star_round(current)
        per_round.append(changed)
    return per_round


def test_change_counts_per_round_match_the_in_memory_rounds(tmp_path: Path) -> None:
    """The counts ride with the edges through both groupings: none may be lost or doubled."""
    edges = _graphs()
    for rounds in (1, 3, 12):
        _, stats = _run(edges, rounds, tmp_path)
        assert stats["changes_per_round"] == _changes_per_round(edges, rounds)


def test_unconverged_rounds_give_a_valid_split(tmp_path: Path) -> None:
    rng = random.Random(2)
    order = list(range(400))
    rng.shuffle(order)
    edges = [(min(order[i], order[i + 1]), max(order[i], order[i + 1])) for i in range(399)]
    labels, stats = _run(edges, 1, tmp_path)
    truth = _components(edges)
    assert not stats["converged"] and stats["edges_still_changing"] > 0
    assert set(labels) == set(truth)  # every node still labelled
    groups: dict[int, set[int]] = {}
    for node, label in labels.items():
        groups.setdefault(label, set()).add(node)
    assert len(groups) > 1  # over-split ...
    for members in groups.values():  # ... but never merging two components
        assert len({truth[m] for m in members}) == 1


def test_empty_graph_converges(tmp_path: Path) -> None:
    labels, stats = _run([], 2, tmp_path)
    assert labels == {} and stats["converged"] and stats["changes_per_round"] == [0, 0]
