"""dedup: exact duplicates, then MinHash-LSH near duplicates, clustered in Beam.

The recipe (Gopher order: exact first, then near; docs/dedup.md has the costs):

1. ``prepare`` (per document, fused with the previous stage): normalise the text, hash it to a
   128-bit *text key* (the exact-duplicate key), shingle it, MinHash it, cut band keys.
2. Exact: documents sharing a text key are one *node*; the node's best document by the survivor
   rule is chosen twice from the same total order - once in a combiner (for clustering), once
   at the end (for the decision) - so both agree without another join.
3. Near: each node's band keys are grouped; a bucket yields candidate edges (every pair in a
   small bucket, a star to the bucket's minimum in a large one, so no bucket is quadratic).
4. Verification: an edge is kept only if the two nodes' Jaccard (signature estimate, or exact
   over shingles) clears ``threshold``.
5. Connected components over verified edges (stages/components.py), then one GroupByKey per
   cluster picks the survivor node: node order *is* the survivor order, so the cluster minimum
   is the best document of the cluster.
6. Join: documents (keyed by text key) meet their node's cluster in one GroupByKey (streamed,
   see ``TaggedGroup``); this is the only shuffle that carries text.

Shuffled keys are text keys (content hashes) and node refs ``(rank..., id, text key)``, so two
different documents with the same id are never merged, and identical ones always are.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Literal, NamedTuple

import apache_beam as beam
import xxhash
from apache_beam.pvalue import TaggedOutput
from pydantic import Field, model_validator

from stages import minhash
from stages.base import (DEAD_LETTER, KEPT, REJECTED, StageCounters, StageOutputs, Tagged,
                         TaggedGroup, make_rejected)
from stages.components import ConnectedComponents
from stages.progress import PROGRESS
from stages.record import DeadLetter, Doc, Drop
from stages.settings import StageSection
from stages.urls import canonical_url

STAGE = "dedup"
EXACT, NEAR = "exact_duplicate", "near_duplicate"
SurvivorRule = Literal["longest", "earliest_date", "smallest_id"]
# How many leading rank fields come before the id, per rule (see doc_rank).
_PRIMARY = {"longest": 1, "earliest_date": 2, "smallest_id": 0}


class Config(StageSection):
    # Exact dedup: documents with the same normalised text (see docs/dedup.md) are one group.
    exact: bool = True
    # Also require the same normalised URL for an exact match (keeps identical text under
    # different URLs apart; near dedup, if on, still merges them as near duplicates).
    exact_include_url: bool = False
    # Near dedup with MinHash LSH.
    near: bool = True
    # Which document of a group survives; ties -> smaller id, then source, url, date, text hash.
    survivor: SurvivorRule = "longest"
    # Word n-grams over normalised text (lowercase, punctuation/whitespace folded, digits -> 0).
    word_ngram: int = Field(default=5, ge=1, le=64)
    # Character n-grams for languages written without spaces.
    char_ngram: int = Field(default=5, ge=1, le=64)
    # doc.lang values (primary subtag, case-insensitive) that get character shingles.
    char_shingle_langs: tuple[str, ...] = ("zh", "ja", "ko")
    map_digits: bool = True
    num_perm: int = Field(default=128, ge=8, le=1024)
    # Jaccard at or above which two texts are near duplicates.
    threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    # LSH banding; leave both unset to derive them from threshold and min_candidate_probability.
    bands: int | None = Field(default=None, ge=1)
    rows: int | None = Field(default=None, ge=1)
    # Derived banding makes P(candidate | J = threshold) at least this.
    min_candidate_probability: float = Field(default=0.98, gt=0.0, lt=1.0)
    # shingles: exact Jaccard over 32-bit shingle fingerprints (ships each text's shingle set
    # once); signature: MinHash estimate (ships 4 bytes x num_perm, noisier near the threshold);
    # none: every LSH candidate is an edge. Measured trade-off in docs/dedup.md.
    verify: Literal["shingles", "signature", "none"] = "shingles"
    # Buckets up to this size emit every pair; larger buckets a star to the bucket minimum.
    clique_bucket_max: int = Field(default=8, ge=2, le=1000)
    # Connected-components rounds (large-star + small-star each); see docs/dedup.md.
    max_rounds: int = Field(default=12, ge=1, le=100)

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both dedup.bands and dedup.rows, or neither (derived)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"dedup.bands * dedup.rows = {self.bands * self.rows} exceeds "
                             f"dedup.num_perm = {self.num_perm}")
        if not (self.exact or self.near):
            raise ValueError("dedup.exact and dedup.near are both false: set dedup.enabled: false")
        return self

    def banding(self) -> tuple[int, int]:
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return minhash.derive_bands_rows(self.threshold, self.num_perm,
                                         self.min_candidate_probability)

    def char_langs(self) -> frozenset[str]:
        return frozenset(code.lower() for code in self.char_shingle_langs)

    def shingle_spec(self) -> minhash.ShingleSpec:
        return minhash.ShingleSpec(self.word_ngram, self.char_ngram, self.map_digits)


# ---------------------------------------------------------------- pure rules (no Beam) ----

def uses_char_shingles(lang: str | None, char_langs: frozenset[str]) -> bool:
    """``zh``, ``zh-Hant``, ``ja_JP`` ... match by primary subtag (``char_langs`` lowercase)."""
    if not lang:
        return False
    return lang.replace("_", "-").split("-", 1)[0].lower() in char_langs


def doc_rank(rule: str, doc_id: str, source: str, url: str, date: str | None, nbytes: int,
             text_hash: int) -> tuple:
    """Survivor order (smaller is better): the rule's key, then id, source, url, date and a
    hash of the raw text, so only byte-identical records can tie - and then either is fine."""
    if rule == "longest":
        primary: tuple = (-nbytes,)
    elif rule == "earliest_date":
        primary = (0, date) if date else (1, "")  # undated documents lose to dated ones
    else:
        primary = ()
    return primary + (doc_id, source, url, date or "", text_hash)


def node_ref(rank: tuple, rule: str, node: bytes) -> tuple:
    """A node (one normalised text) as clustering sees it: its best document's rule key and id,
    then the text key. Ordering nodes by this makes the cluster minimum the cluster survivor."""
    return rank[: _PRIMARY[rule] + 1] + (node,)


def ref_id(ref: tuple, rule: str) -> str:
    return ref[_PRIMARY[rule]]


class Prepared(NamedTuple):
    node: bytes                 # text key: 16-byte digest of the normalised text (+ URL)
    rank: tuple                 # doc_rank of this document
    bands: list[bytes] | None   # LSH band keys (None: near dedup off or no shingles)
    payload: bytes | None       # what verification compares (None: verify none / no shingles)


class Preparer:
    """Per-worker state for step 1 (the MinHash permutations)."""

    def __init__(self, config: Config, seed: int) -> None:
        self.config = config
        self.spec = config.shingle_spec()
        self.bands, self.rows = config.banding()
        self.hasher = minhash.MinHasher(config.num_perm, seed) if config.near else None
        self.char_langs = config.char_langs()

    def prepare(self, doc: Doc) -> Prepared:
        config = self.config
        text = doc.text or ""
        rank = rank_of(doc, config.survivor)
        char_mode = uses_char_shingles(doc.lang, self.char_langs)
        units = minhash.normalized_units(text, char_mode, config.map_digits)
        if not config.exact:  # every record is its own node; only byte-identical records merge
            extra = b"record\0" + repr(rank).encode("utf-8", "surrogatepass")
        elif config.exact_include_url:
            extra = b"url\0" + canonical_url(doc.url).encode("utf-8", "surrogatepass")
        else:
            extra = b""
        node = minhash.content_digest(units, char_mode, extra)
        bands = payload = None
        if self.hasher is not None:
            shingles = minhash.shingle_hashes(units, char_mode, self.spec)
            if shingles.size:
                signature = self.hasher.signature(shingles)
                bands = minhash.band_keys(signature, self.bands, self.rows)
                if config.verify == "signature":
                    payload = minhash.signature_payload(signature)
                elif config.verify == "shingles":
                    payload = minhash.shingle_payload(shingles)
        return Prepared(node, rank, bands, payload)


def bucket_edges(members: Iterable[tuple], clique_max: int) -> Iterator[tuple[tuple, tuple]]:
    """Candidate edges (lo, hi) of one LSH bucket: all pairs up to ``clique_max`` members (so
    one odd member cannot hide a true pair behind a failed verification), else a star to the
    minimum - linear in the bucket, two passes over a re-iterable group."""
    head: list[tuple] = []
    smallest = None
    size = 0
    for ref in members:
        size += 1
        if size <= clique_max:
            head.append(ref)
        if smallest is None or ref < smallest:
            smallest = ref
    if size < 2:
        return
    if size <= clique_max:
        head.sort()
        for i, lo in enumerate(head):
            for hi in head[i + 1:]:
                yield lo, hi
        return
    for ref in members:
        if ref != smallest:
            yield smallest, ref


@dataclass(frozen=True)
class Cluster:
    """A node's near-duplicate cluster: the survivor node's ref and the number of texts."""

    survivor: tuple
    size: int


class Decision(NamedTuple):
    doc: Doc
    drop: Drop | None


class NodeStats(NamedTuple):
    docs: int
    exact_removed: int
    exact_bytes: int
    near_removed: int
    near_bytes: int


def rank_of(doc: Doc, rule: str) -> tuple:
    raw = (doc.text or "").encode("utf-8", "surrogatepass")
    return doc_rank(rule, doc.id, doc.source, doc.url, doc.date, len(raw),
                    xxhash.xxh3_64_intdigest(raw))


def decide_node(node: bytes, docs: Iterable[Doc], cluster: Cluster | None, rule: str,
                threshold: float) -> Iterator[Decision]:
    """Decisions for all documents of one text key, streamed (two passes over ``docs``, which
    must be re-iterable in the same order - a GroupByKey result is).

    The best document by ``rule`` survives exact dedup; it is then removed as a near duplicate
    if its node is in a cluster whose survivor is another node. Every document of a group of
    two or more gets ``meta["dedup"]``: the cluster that decided it, the survivor it was
    removed in favour of (itself if kept) and the document kept for the whole cluster.
    """
    best: tuple | None = None
    best_index = count = 0
    for index, doc in enumerate(docs):
        count += 1
        rank = rank_of(doc, rule)
        if best is None or rank < best:
            best, best_index = rank, index
    if best is None:
        return
    exact_id = best[_PRIMARY[rule]]
    near_removed = cluster is not None and cluster.survivor[-1] != node
    kept_id = ref_id(cluster.survivor, rule) if near_removed else exact_id
    info: dict[str, Any] = {"exact_group": node.hex(), "exact_group_size": count,
                            "near_cluster": cluster.survivor[-1].hex() if cluster else None,
                            "near_cluster_size": cluster.size if cluster else None,
                            "kept": kept_id}
    grouped = count > 1 or cluster is not None
    for index, doc in enumerate(docs):
        if index == best_index:  # the first document of the best rank (pass 1's strict <)
            if near_removed:
                survivor = kept_id
                drop: Drop | None = Drop(NEAR, f"near copy of {survivor} (cluster of "
                                               f"{cluster.size} texts, Jaccard >= {threshold})")
                label = f"near:{info['near_cluster']}"
            else:
                survivor, drop = doc.id, None
                label = f"near:{info['near_cluster']}" if cluster else f"exact:{node.hex()}"
        else:
            survivor = exact_id
            drop = Drop(EXACT, f"exact copy of {survivor} ({count} documents with this "
                               "normalised text)")
            label = f"exact:{node.hex()}"
        if grouped:
            meta = dict(doc.meta)
            meta["dedup"] = {**info, "cluster": label, "survivor": survivor}
            doc = doc.replace(meta=meta)
        yield Decision(doc, drop)


def cluster_members(item: tuple[tuple, Iterable[tuple]]) -> Iterator[tuple[bytes, Cluster]]:
    """One label group -> (text key, Cluster) per member; the survivor is the group minimum
    (equal to the label once components converged; still a member if they did not)."""
    _, members = item
    smallest, size = None, 0
    for ref in members:
        size += 1
        if smallest is None or ref < smallest:
            smallest = ref
    cluster = Cluster(smallest, size)
    for ref in members:
        yield ref[-1], cluster


# ---------------------------------------------------------------- Beam shell ---------------

NODES, PAYLOADS, NO_TEXT, STATS, CLUSTER_DOCS = "nodes", "payloads", "no_text", "stats", "cluster_docs"


class _PrepareFn(beam.DoFn):
    def __init__(self, config: Config, seed: int) -> None:
        self.config, self.seed = config, seed
        self.counters = StageCounters(STAGE)
        self.preparer: Preparer | None = None

    def setup(self) -> None:
        self.preparer = Preparer(self.config, self.seed)

    def process(self, doc: Doc) -> Iterator:
        start = time.perf_counter()
        PROGRESS.tick(STAGE)
        size = doc.size()
        self.counters.inc("docs_in")
        self.counters.inc("bytes_in", size)
        if doc.text is None:  # nothing to compare (extract off and an HTML record): pass through
            self.counters.inc("no_text")
            self.counters.inc("docs_out")
            self.counters.inc("bytes_out", size)
            yield TaggedOutput(NO_TEXT, doc)
            return
        try:
            prepared = self.preparer.prepare(doc)  # type: ignore[union-attr]
        except Exception as error:  # noqa: BLE001 - one bad document never fails the run
            self.counters.inc("dead_letter")
            yield TaggedOutput(DEAD_LETTER, DeadLetter.of(
                doc.source, STAGE, error, (doc.text or "").encode("utf-8", "replace"), doc.id))
            return
        finally:
            self.counters.inc("micros", int((time.perf_counter() - start) * 1e6))
        yield prepared.node, doc
        if prepared.bands:
            yield TaggedOutput(NODES, (prepared.node, (prepared.rank, prepared.bands)))
        if prepared.payload is not None:
            yield TaggedOutput(PAYLOADS, (prepared.node, prepared.payload))


def _band_elements(item: tuple[bytes, tuple[tuple, list[bytes]]], rule: str) -> Iterator:
    node, (rank, bands) = item
    ref = node_ref(rank, rule, node)
    for key in bands:
        yield key, ref


def _bucket_edges(item: tuple[bytes, Iterable[tuple]], clique_max: int) -> Iterator:
    return bucket_edges(item[1], clique_max)


def _edge_ends(edge: tuple[tuple, tuple]) -> Iterator:
    yield edge[0][-1], (edge, 0)
    yield edge[1][-1], (edge, 1)


def _edge_halves(item: tuple[bytes, Iterable[tuple[str, Any]]]) -> Iterator:
    """At a node: its payload (every copy of the text carries the same one) to each edge it
    is an end of."""
    _, group = item
    payload = next(iter(Tagged(group, "payload")), None)
    if payload is None:
        return
    for edge, side in Tagged(group, "edge"):
        yield edge, (side, payload)


class _VerifyFn(beam.DoFn):
    def __init__(self, mode: str, threshold: float) -> None:
        self.mode, self.threshold = mode, threshold
        self.counters = StageCounters(STAGE)

    def process(self, item: tuple[tuple, Iterable[tuple[int, bytes]]]) -> Iterator:
        edge, halves = item
        sides: dict[int, bytes] = {}
        for side, payload in halves:
            sides.setdefault(side, payload)
        if len(sides) < 2:
            return
        similarity = (minhash.estimated_jaccard if self.mode == "signature"
                      else minhash.exact_jaccard)(sides[0], sides[1])
        if similarity >= self.threshold:
            self.counters.inc("verified_edges")
            yield edge
        else:
            self.counters.inc("rejected_edges")


class _FinalizeFn(beam.DoFn):
    def __init__(self, rule: str, threshold: float) -> None:
        self.rule, self.threshold = rule, threshold
        self.counters = StageCounters(STAGE)

    def process(self, item: tuple[bytes, Iterable[tuple[str, Any]]]) -> Iterator:
        node, group = item
        docs = Tagged(group, "doc")
        started = time.perf_counter()
        cluster = next(iter(Tagged(group, "cluster")), None)
        decisions = decide_node(node, docs, cluster, self.rule, self.threshold)
        stats = [0, 0, 0, 0, 0]
        spent, done = 0.0, 0
        while True:  # the clock stops at each yield: fused downstream stages run inside it
            try:
                doc, drop = next(decisions)
            except StopIteration:
                break
            except Exception as error:  # noqa: BLE001 - dead-letter the rest, keep the run going
                for index, doc in enumerate(docs):
                    if index >= done:
                        done += 1
                        self.counters.inc("dead_letter")
                        yield TaggedOutput(DEAD_LETTER, DeadLetter.of(
                            doc.source, STAGE, error, (doc.text or "").encode("utf-8", "replace"),
                            doc.id))
                break
            finally:
                spent += time.perf_counter() - started
            done += 1
            size = doc.size()
            if drop is None:
                self.counters.inc("docs_out")
                self.counters.inc("bytes_out", size)
                output: Any = doc
            else:
                column = 1 if drop.reason == EXACT else 3
                stats[column] += 1
                stats[column + 1] += size
                self.counters.inc("rejected")
                self.counters.inc(drop.reason)
                output = TaggedOutput(REJECTED, make_rejected(doc, STAGE, drop))
            yield output
            started = time.perf_counter()
        stats[0] = done
        self.counters.inc("micros", int(spent * 1e6))
        yield TaggedOutput(STATS, NodeStats(*stats))
        cluster_key = cluster.survivor[-1] if cluster is not None else node
        yield TaggedOutput(CLUSTER_DOCS, (cluster_key, done))


class _StatsFn(beam.CombineFn):
    """NodeStats -> exact/near removals and the exact group size distribution."""

    def create_accumulator(self) -> list:
        return [Counter(), 0, 0, 0, 0]

    def add_input(self, acc: list, stats: NodeStats) -> list:
        acc[0][stats.docs] += 1
        for i in range(1, 5):
            acc[i] += stats[i]
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        out = self.create_accumulator()
        for acc in accs:
            out[0].update(acc[0])
            for i in range(1, 5):
                out[i] += acc[i]
        return out

    def extract_output(self, acc: list) -> dict[str, Any]:
        sizes: Counter = acc[0]
        return {"docs": sum(size * n for size, n in sizes.items()),
                "exact_group_sizes": histogram(sizes),
                "exact": {"docs_removed": acc[1], "bytes_removed": acc[2],
                          "groups": sum(n for size, n in sizes.items() if size > 1)},
                "near": {"docs_removed": acc[3], "bytes_removed": acc[4]}}


class _HistogramFn(beam.CombineFn):
    """ints -> {size: count}."""

    def create_accumulator(self) -> Counter:
        return Counter()

    def add_input(self, acc: Counter, value: int) -> Counter:
        acc[value] += 1
        return acc

    def merge_accumulators(self, accs: Iterable[Counter]) -> Counter:
        out: Counter = Counter()
        for acc in accs:
            out.update(acc)
        return out

    def extract_output(self, acc: Counter) -> dict[str, int]:
        return histogram(acc)


def histogram(counts: Counter) -> dict[str, int]:
    """{size: count} with string keys (JSON) in numeric order."""
    return {str(size): counts[size] for size in sorted(counts)}


def build_report(_: Any, static: dict[str, Any], stats: dict[str, Any], cluster_sizes: dict,
                 near_sizes: dict, candidates: int, verified: int, components: dict | None,
                 no_text: int) -> dict[str, Any]:
    """The one-dict ``minhash`` report; key names are documented in docs/dedup.md."""
    near = dict(stats["near"], clusters=sum(near_sizes.values()))
    return {
        **static,
        "docs_in": stats["docs"] + no_text,
        "docs_without_text": no_text,
        "exact": stats["exact"],
        "near": near,
        "exact_group_sizes": stats["exact_group_sizes"],
        "near_cluster_sizes": near_sizes,
        "cluster_sizes": cluster_sizes,
        "candidate_edges": {"before_verification": candidates, "after_verification": verified},
        "components": components,
    }


class Stage(beam.PTransform):
    def __init__(self, config: Config, context: Any) -> None:
        super().__init__()
        self.config = config
        self.seed = int(context.seed)
        self.bands, self.rows = config.banding()

    def static_report(self) -> dict[str, Any]:
        config = self.config
        return {
            "enabled": {"exact": config.exact, "near": config.near},
            "survivor_rule": config.survivor,
            "num_perm": config.num_perm,
            "bands": self.bands,
            "rows": self.rows,
            "threshold": config.threshold,
            "s_curve_threshold": round((1 / self.bands) ** (1 / self.rows), 4),
            "p_candidate_at_threshold": round(
                minhash.candidate_probability(config.threshold, self.bands, self.rows), 6),
            "verify": config.verify,
            "shingles": {"word_ngram": config.word_ngram, "char_ngram": config.char_ngram,
                         "char_shingle_langs": list(config.char_shingle_langs),
                         "map_digits": config.map_digits,
                         "exact_include_url": config.exact_include_url},
            "s_curve": minhash.s_curve(self.bands, self.rows),
        }

    def _near(self, prepared: Any) -> dict[str, beam.PCollection]:
        """Steps 3-5: band keys -> candidate edges -> verified edges -> clusters per text key."""
        config = self.config
        candidates = (prepared[NODES]
                      | "best doc per text" >> beam.CombinePerKey(min)
                      | "band keys" >> beam.FlatMap(_band_elements, config.survivor)
                      | "group bands" >> beam.GroupByKey()
                      | "bucket edges" >> beam.FlatMap(_bucket_edges, config.clique_bucket_max)
                      | "distinct candidates" >> beam.Distinct())
        verified = candidates
        if config.verify != "none":
            ends = candidates | "edge ends" >> beam.FlatMap(_edge_ends)
            verified = ({"payload": prepared[PAYLOADS], "edge": ends}
                        | "payloads to edges" >> TaggedGroup()
                        | "edge halves" >> beam.FlatMap(_edge_halves)
                        | "group halves" >> beam.GroupByKey()
                        | "verify" >> beam.ParDo(_VerifyFn(config.verify, config.threshold)))
        components = verified | "components" >> ConnectedComponents(config.max_rounds)
        clusters = (components["labels"]
                    | "by label" >> beam.KvSwap()
                    | "group clusters" >> beam.GroupByKey())
        return {
            "cluster": clusters | "cluster members" >> beam.FlatMap(cluster_members),
            "candidates": candidates | "count candidates" >> beam.combiners.Count.Globally(),
            "verified": verified | "count verified" >> beam.combiners.Count.Globally(),
            "near_sizes": (clusters
                           | "cluster size" >> beam.Map(lambda item: sum(1 for _ in item[1]))
                           | "near cluster sizes" >> beam.CombineGlobally(_HistogramFn())),
            "components": components["stats"],
        }

    def expand(self, docs: beam.PCollection) -> StageOutputs:
        config = self.config
        pipeline = docs.pipeline
        prepared = docs | "prepare" >> beam.ParDo(_PrepareFn(config, self.seed)).with_outputs(
            NODES, PAYLOADS, NO_TEXT, DEAD_LETTER, main="docs")
        joined: dict[str, beam.PCollection] = {"doc": prepared.docs}
        if config.near:
            near = self._near(prepared)
            joined["cluster"] = near["cluster"]
        else:
            near = {name: pipeline | f"no {name}" >> beam.Create([value]) for name, value in
                    (("candidates", 0), ("verified", 0), ("near_sizes", {}), ("components", None))}
        final = (joined
                 | "join decisions" >> TaggedGroup()
                 | "decide" >> beam.ParDo(_FinalizeFn(config.survivor, config.threshold))
                 .with_outputs(REJECTED, DEAD_LETTER, STATS, CLUSTER_DOCS, main=KEPT))
        kept = (final[KEPT], prepared[NO_TEXT]) | "kept" >> beam.Flatten()
        dead = (prepared[DEAD_LETTER], final[DEAD_LETTER]) | "dead letters" >> beam.Flatten()
        stats = final[STATS] | "node stats" >> beam.CombineGlobally(_StatsFn())
        cluster_sizes = (final[CLUSTER_DOCS]
                         | "docs per cluster" >> beam.CombinePerKey(sum)
                         | "cluster docs" >> beam.Values()
                         | "cluster sizes" >> beam.CombineGlobally(_HistogramFn()))
        no_text = prepared[NO_TEXT] | "count no text" >> beam.combiners.Count.Globally()
        side = beam.pvalue.AsSingleton
        report = (pipeline
                  | "report seed" >> beam.Create([None])
                  | "report" >> beam.Map(build_report, self.static_report(), side(stats),
                                         side(cluster_sizes), side(near["near_sizes"]),
                                         side(near["candidates"]), side(near["verified"]),
                                         side(near["components"]), side(no_text)))
        return StageOutputs(kept, final[REJECTED], dead, {"minhash": report})
