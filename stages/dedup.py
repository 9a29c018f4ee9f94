"""dedup: exact duplicates, then MinHash-LSH near duplicates, decided over keys only.

The recipe (Gopher order: exact first, then near; docs/dedup.md has the costs). Documents never
cross a shuffle: the stage is two-pass (:class:`stages.base.TwoPass`).

1. ``prepare`` (per document, in the per-file pass): normalise the text, hash it to a 128-bit
   *text key* (the exact-duplicate key), shingle it, MinHash it, cut band keys; write one
   ``exact`` record (rank, where the document is) and one ``bands`` record per band to key
   files (:mod:`pipeline.keys`).
2. Near: LSH buckets with two or more texts (read per key partition, never shuffled) yield
   candidate pairs - every pair in a small bucket, a star to the bucket's minimum in a large
   one, so no bucket is quadratic.
3. Verification: only the documents in candidate pairs are read back; a pair is kept if the
   two texts' Jaccard (exact over shingles, or the signature estimate) clears ``threshold``.
4. Connected components over verified pairs (stages/components.py); node order *is* the
   survivor order, so the cluster minimum is the best text of the cluster.
5. Exact: each text key with two or more documents, or in a cluster, decides its documents
   (:func:`decide_group`): its best document survives exact dedup and is removed as a near
   duplicate if another text survives its cluster. Decisions go back to their documents'
   files; ``apply`` drops or keeps each document in the next pass.

Keys are text keys (content hashes) and node refs ``(rank..., id, text key)``, so two different
documents with the same id are never merged, and identical ones always are.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterable, Iterator, Literal, NamedTuple, Sequence

import apache_beam as beam
import numpy as np
import xxhash
from pydantic import Field, model_validator

from stages import languages
from stages import minhash
from stages.base import Channel, DecideInputs, Decisions, DocRef, RunContext, Stage, TwoPass
from stages.components import ConnectedComponents
from stages.record import Doc, Drop
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
    char_shingle_langs: tuple[str, ...] = tuple(sorted(languages.CHAR_SHINGLE_LANGUAGES))
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


class Preparer:
    """Per-worker state for step 1 (the MinHash permutations)."""

    def __init__(self, config: Config, seed: int) -> None:
        self.config = config
        self.spec = config.shingle_spec()
        self.bands, self.rows = config.banding()
        self.hasher = minhash.MinHasher(config.num_perm, seed) if config.near else None
        self.char_langs = config.char_langs()

    def _units(self, doc: Doc) -> tuple[bool, np.ndarray]:
        char_mode = uses_char_shingles(doc.lang, self.char_langs)
        return char_mode, minhash.normalized_units(doc.text or "", char_mode, self.config.map_digits)

    def prepare(self, doc: Doc) -> Prepared:
        config = self.config
        rank = rank_of(doc, config.survivor)
        char_mode, units = self._units(doc)
        if not config.exact:  # every record is its own node; only byte-identical records merge
            extra = b"record\0" + repr(rank).encode("utf-8", "surrogatepass")
        elif config.exact_include_url:
            extra = b"url\0" + canonical_url(doc.url).encode("utf-8", "surrogatepass")
        else:
            extra = b""
        node = minhash.content_digest(units, char_mode, extra)
        bands = None
        if self.hasher is not None:
            shingles = minhash.shingle_hashes(units, char_mode, self.spec)
            if shingles.size:
                bands = minhash.band_keys(self.hasher.signature(shingles), self.bands, self.rows)
        return Prepared(node, rank, bands)

    def payload(self, doc: Doc) -> bytes:
        """What verification compares for a candidate pair's document: computed again from its
        text, only for the few documents in candidate pairs (not carried for every document)."""
        char_mode, units = self._units(doc)
        shingles = minhash.shingle_hashes(units, char_mode, self.spec)
        if self.config.verify == "signature":
            return minhash.signature_payload(self.hasher.signature(shingles))
        return minhash.shingle_payload(shingles)


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


def decide_group(node: bytes, members: Sequence[tuple[tuple, Any]], cluster: Cluster | None,
                 rule: str, threshold: float) -> Iterator[tuple[Any, Drop | None, dict]]:
    """(handle, drop or None, meta) for every document of one text key.

    ``members`` are (rank, handle) pairs, ``rank`` from :func:`doc_rank`. The best document by
    ``rule`` survives exact dedup; it is then removed as a near duplicate if its node is in a
    cluster whose survivor is another node. Every document gets ``meta``: the cluster that
    decided it, the survivor it was removed in favour of (itself if kept) and the document
    kept for the whole cluster.
    """
    if not members:
        return
    best_index = min(range(len(members)), key=lambda index: members[index][0])
    best = members[best_index][0]
    count = len(members)
    exact_id = best[_PRIMARY[rule]]
    near_removed = cluster is not None and cluster.survivor[-1] != node
    kept_id = ref_id(cluster.survivor, rule) if near_removed else exact_id
    info: dict[str, Any] = {"exact_group": node.hex(), "exact_group_size": count,
                            "near_cluster": cluster.survivor[-1].hex() if cluster else None,
                            "near_cluster_size": cluster.size if cluster else None,
                            "kept": kept_id}
    for index, (rank, handle) in enumerate(members):
        doc_id = rank[_PRIMARY[rule]]
        if index == best_index:  # the first document of the best rank
            if near_removed:
                survivor = kept_id
                drop: Drop | None = Drop(NEAR, f"near copy of {survivor} (cluster of "
                                               f"{cluster.size} texts, Jaccard >= {threshold})")
                label = f"near:{info['near_cluster']}"
            else:
                survivor, drop = doc_id, None
                label = f"near:{info['near_cluster']}" if cluster else f"exact:{node.hex()}"
        else:
            survivor = exact_id
            drop = Drop(EXACT, f"exact copy of {survivor} ({count} documents with this "
                               "normalised text)")
            label = f"exact:{node.hex()}"
        yield handle, drop, {**info, "cluster": label, "survivor": survivor}


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


def bucket_nodes(members: Iterable[tuple[tuple, DocRef]]) -> list[tuple[tuple, DocRef]]:
    """One LSH bucket's documents -> one (node ref, document) per text: every copy of a text
    shares all its band keys, so all of them are in the bucket, and the minimum is the same
    text-wide choice in every bucket (the text's best document and a fixed copy to read)."""
    best: dict[bytes, tuple[tuple, DocRef]] = {}
    for item in members:
        node = item[0][-1]
        if node not in best or item < best[node]:
            best[node] = item
    return sorted(best.values())


# ---------------------------------------------------------------- two-pass shell -----------

CHANNELS = (Channel("exact", "grouped", key_bytes=16), Channel("bands", "grouped", key_bytes=10))


def make_prepare(config: Config, context: RunContext) -> Callable[[Doc, DocRef], list]:
    """Per worker: documents -> one exact-key record and one record per LSH band."""
    preparer = Preparer(config, context.seed)
    rule = config.survivor

    def prepare(doc: Doc, ref: DocRef) -> list[tuple[str, bytes, Any]]:
        if doc.text is None:  # nothing to compare (extract off and an HTML record)
            return []
        prepared = preparer.prepare(doc)
        ref = tuple(ref)  # a plain tuple: part of Beam keys downstream (deterministic coding)
        nbytes = len(doc.text.encode("utf-8", "surrogatepass"))
        out: list[tuple[str, bytes, Any]] = [("exact", prepared.node,
                                              (prepared.rank, ref, nbytes))]
        if prepared.bands:
            nref = node_ref(prepared.rank, rule, prepared.node)
            out.extend(("bands", key, (nref, ref)) for key in prepared.bands)
        return out

    return prepare


def _candidates(item: tuple[bytes, list, Any], clique_max: int) -> Iterator:
    _, members, _ = item
    return bucket_edges(bucket_nodes(members), clique_max)


def _edge_ends(edge: tuple) -> Iterator[tuple[tuple[int, int], tuple[bytes, tuple]]]:
    """A candidate edge's two gather requests: (doc ref, (edge key, (side, node)))."""
    key = xxhash.xxh3_128_digest(repr(edge).encode("utf-8"))
    yield tuple(edge[0][1]), (key, (0, edge[0][0]))
    yield tuple(edge[1][1]), (key, (1, edge[1][0]))


def _payload_fn(config: Config, seed: int) -> Callable[[Doc], bytes]:
    """What verification compares, per document (MinHash state built once per worker)."""
    return Preparer(config, seed).payload


def _verified(item: tuple[bytes, list, Any], mode: str,
              threshold: float) -> Iterator[tuple[bytes, bytes]]:
    """An edge's gathered halves ((side, node), payload) -> (lo node, hi node) when similar."""
    _, halves, _ = item
    sides: dict[int, tuple[bytes, bytes]] = {}
    for (side, node), payload in halves:
        sides.setdefault(side, (node, payload))
    if len(sides) < 2:
        return
    similarity = (minhash.estimated_jaccard if mode == "signature"
                  else minhash.exact_jaccard)(sides[0][1], sides[1][1])
    if similarity >= threshold:
        yield sides[0][0], sides[1][0]


def _decide_exact(item: tuple[bytes, list, list | None], rule: str, threshold: float
                  ) -> Iterator[tuple[str, Any]]:
    """One text key's group -> ("d", (DocRef, (drop, meta))) per document, one ("s", NodeStats)
    and one ("c", (cluster key, documents)); a single output keeps Dask's runner correct."""
    node, members, extras = item
    cluster = extras[0] if extras else None
    stats = [len(members), 0, 0, 0, 0]
    sizes = {ref: nbytes for _, ref, nbytes in members}
    for ref, drop, meta in decide_group(node, [(rank, ref) for rank, ref, _ in members],
                                        cluster, rule, threshold):
        if drop is not None:
            column = 1 if drop.reason == EXACT else 3
            stats[column] += 1
            stats[column + 1] += sizes[ref]
        yield "d", (tuple(ref), (drop, meta))
    yield "s", NodeStats(*stats)
    yield "c", (cluster.survivor[-1] if cluster is not None else node, len(members))


class _StatsFn(beam.CombineFn):
    """NodeStats of the decided groups -> removals and group sizes (singletons come from the
    channel's size histogram: they are never materialised)."""

    def create_accumulator(self) -> list:
        return [0, 0, 0, 0, 0]

    def add_input(self, acc: list, stats: NodeStats) -> list:
        return [a + b for a, b in zip(acc, stats)]

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        out = self.create_accumulator()
        for acc in accs:
            out = [a + b for a, b in zip(out, acc)]
        return out

    def extract_output(self, acc: list) -> dict[str, Any]:
        return {"exact": {"docs_removed": acc[1], "bytes_removed": acc[2]},
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


class _OnlyFn(beam.CombineFn):
    """A part that is one value (None when absent); two values are a wiring error."""

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, value: Any) -> list:
        acc.append(value)
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        return [value for acc in accs for value in acc]

    def extract_output(self, acc: list) -> Any:
        if len(acc) > 1:
            raise ValueError(f"a single-valued report part got {len(acc)} values")
        return acc[0] if acc else None


class _ReportPartsFn(beam.CombineFn):
    """(part name, value) -> {part name: that part's combined value}, each part by its own
    CombineFn; a part with no input gets its CombineFn's empty value (0, {}, None)."""

    def __init__(self) -> None:
        self.parts: dict[str, beam.CombineFn] = {
            "prepared": _OnlyFn(), "group_sizes": _OnlyFn(), "components": _OnlyFn(),
            "stats": _StatsFn(), "cluster_docs": _HistogramFn(), "near_sizes": _HistogramFn(),
            "clustered_singletons": beam.combiners.CountCombineFn(),
            "candidates": beam.combiners.CountCombineFn(),
            "verified": beam.combiners.CountCombineFn()}

    def create_accumulator(self) -> dict[str, Any]:
        return {name: fn.create_accumulator() for name, fn in self.parts.items()}

    def add_input(self, acc: dict[str, Any], item: tuple[str, Any]) -> dict[str, Any]:
        name, value = item
        acc[name] = self.parts[name].add_input(acc[name], value)
        return acc

    def merge_accumulators(self, accs: Iterable[dict[str, Any]]) -> dict[str, Any]:
        accs = list(accs)
        return {name: fn.merge_accumulators([acc[name] for acc in accs])
                for name, fn in self.parts.items()}

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        return {name: fn.extract_output(acc[name]) for name, fn in self.parts.items()}


def _node_parts(kv: tuple[str, Any]) -> Iterator[tuple[str, Any]]:
    """Report parts of a decided group's node statistics (``"s"`` items)."""
    if kv[0] == "s":
        yield "stats", kv[1]
        if kv[1].docs == 1:
            yield "clustered_singletons", kv[1]


def histogram(counts: Counter | dict) -> dict[str, int]:
    """{size: count} with string keys (JSON) in numeric order."""
    return {str(size): counts[size] for size in sorted(counts) if counts[size]}


def static_report(config: Config) -> dict[str, Any]:
    bands, rows = config.banding()
    return {
        "enabled": {"exact": config.exact, "near": config.near},
        "survivor_rule": config.survivor,
        "num_perm": config.num_perm,
        "bands": bands,
        "rows": rows,
        "threshold": config.threshold,
        "s_curve_threshold": round((1 / bands) ** (1 / rows), 4),
        "p_candidate_at_threshold": round(
            minhash.candidate_probability(config.threshold, bands, rows), 6),
        "verify": config.verify,
        "shingles": {"word_ngram": config.word_ngram, "char_ngram": config.char_ngram,
                     "char_shingle_langs": list(config.char_shingle_langs),
                     "map_digits": config.map_digits,
                     "exact_include_url": config.exact_include_url},
        "s_curve": minhash.s_curve(bands, rows),
    }


def build_report(prepared: dict[str, int], static: dict[str, Any], stats: dict[str, Any],
                 group_sizes: dict[int, int], cluster_docs: dict[str, int],
                 clustered_singletons: int, near_sizes: dict, candidates: int, verified: int,
                 components: dict | None) -> dict[str, Any]:
    """The one-dict ``minhash`` report; key names are documented in docs/dedup.md."""
    with_text = prepared.get("exact", 0)
    sizes = Counter({int(size): count for size, count in group_sizes.items()})
    clusters = Counter({int(size): count for size, count in cluster_docs.items()})
    clusters[1] += sizes.get(1, 0) - clustered_singletons  # texts alone in their cluster
    return {
        **static,
        "docs_in": prepared.get("docs", 0),
        "docs_without_text": prepared.get("docs", 0) - with_text,
        "exact": {**stats["exact"], "groups": sum(n for size, n in sizes.items() if size > 1)},
        "near": dict(stats["near"], clusters=sum(near_sizes.values())),
        "exact_group_sizes": histogram(sizes),
        "near_cluster_sizes": near_sizes,
        "cluster_sizes": histogram(clusters),
        "candidate_edges": {"before_verification": candidates, "after_verification": verified},
        "components": components,
    }


def decide(config: Config, context: RunContext, inputs: DecideInputs) -> Decisions:
    """Steps 2-5 over keys only: LSH buckets -> candidate pairs -> verified pairs -> clusters;
    then every text key's group decides its documents (with its node's cluster, if any)."""
    after = inputs.after
    rule, threshold = config.survivor, config.threshold
    if config.near:
        buckets = inputs.groups["bands"](min_size=2, label="buckets")
        candidates = (buckets
                      | "candidate pairs" >> beam.FlatMap(_candidates, config.clique_bucket_max)
                      | "distinct candidates" >> beam.Distinct())
        if config.verify == "none":
            verified = candidates | "unverified" >> beam.Map(lambda e: (e[0][0], e[1][0]))
        else:
            # Each end's payload goes, with its edge's key, through key files (never through
            # the runner's memory); an edge's two halves meet in one partition.
            halves = inputs.gather(candidates | "edge ends" >> beam.FlatMap(_edge_ends),
                                   "pairs", partial(_payload_fn, config, context.seed))
            verified = halves | "verify" >> beam.FlatMap(_verified, config.verify, threshold)
        components = verified | "components" >> ConnectedComponents(config.max_rounds)
        by_label = (components["labels"]
                    | "by label" >> beam.KvSwap()
                    | "group clusters" >> beam.GroupByKey())
        clusters = by_label | "cluster members" >> beam.FlatMap(cluster_members)
        near_parts = [
            by_label | "cluster size" >> beam.Map(
                lambda item: ("near_sizes", sum(1 for _ in item[1]))),
            candidates | "count candidates" >> beam.Map(lambda _: ("candidates", 1)),
            verified | "count verified" >> beam.Map(lambda _: ("verified", 1)),
            components["stats"] | "label components" >> beam.Map(
                lambda value: ("components", value)),
        ]
    else:
        clusters, near_parts = None, []
    groups = inputs.groups["exact"](min_size=2, extra=clusters, label="text groups")
    decided = groups | "decide groups" >> beam.FlatMap(_decide_exact, rule, threshold)
    per_doc = decided | "decisions" >> beam.FlatMap(lambda kv: [kv[1]] if kv[0] == "d" else [])
    cluster_docs = (decided
                    | "cluster docs" >> beam.FlatMap(lambda kv: [kv[1]] if kv[0] == "c" else [])
                    | "docs per cluster" >> beam.CombinePerKey(sum)
                    | "cluster doc counts" >> beam.Map(lambda kv: ("cluster_docs", kv[1])))
    # Every part of the report through one combine (a CombineFn per part, _ReportPartsFn):
    # one global combine costs Beam ~9 transforms to build, and there were eight. No side
    # inputs either, which some runners (Dask) evaluate by recomputing each one's lineage.
    report = ([after | "label prepared" >> beam.Map(lambda value: ("prepared", value)),
               inputs.groups["exact:sizes"]() | "label group sizes" >> beam.Map(
                   lambda value: ("group_sizes", value)),
               decided | "node stats" >> beam.FlatMap(_node_parts),
               cluster_docs, *near_parts]
              | "report parts" >> beam.Flatten()
              | "report parts combined" >> beam.CombineGlobally(_ReportPartsFn())
              | "report" >> beam.Map(lambda p, static=static_report(config): build_report(
                  p["prepared"], static, p["stats"], p["group_sizes"], p["cluster_docs"],
                  p["clustered_singletons"], p["near_sizes"], p["candidates"], p["verified"],
                  p["components"])))
    return Decisions(per_doc=per_doc, reports={"minhash": report})


def make_apply(config: Config, context: RunContext, broadcast: Any = None
               ) -> Callable[[Doc, Any], Doc | Drop]:
    """The apply core: a document's decision (None: a text nobody else has) -> kept or dropped,
    with ``meta["dedup"]`` on every document of a group."""

    def apply(doc: Doc, decision: tuple[Drop | None, dict] | None) -> Doc | Drop:
        if decision is None:
            return doc
        drop, info = decision
        doc.meta = {**doc.meta, "dedup": info}
        return drop if drop is not None else doc

    return apply


SPEC = Stage(name=STAGE, reasons=(EXACT, NEAR), make_core=make_apply,
             reads=frozenset({"id", "source", "url", "date", "text", "lang"}),
             writes=frozenset({"meta"}),
             two_pass=TwoPass(channels=CHANNELS, make_prepare=make_prepare, decide=decide))
