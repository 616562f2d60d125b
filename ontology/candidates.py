"""Candidate duplicate pairs: vectors whose cosine similarity reaches a threshold.

Exact inner-product range search (``faiss.IndexFlatIP``) over unit-norm vectors on the
CPU; GPU indexes have no range search, so when a GPU is present and the set is large,
k-nearest-neighbour search on the GPU followed by the threshold is used instead (a pair
is then missed only if one side has more than ``KNN_NEIGHBOURS`` closer neighbours).
Similarities are recomputed in float64 so that a pair scores the same whichever side
found it, and pairs are sorted by (similarity descending, indices) so that ties at the
threshold are decided the same way every run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from itertools import combinations
from types import ModuleType

import numpy as np

from ontology.entities import Entity
from ontology.verdicts import SIMILARITY_DIGITS, Candidate, strongest_first

#: Vector count from which a present GPU is used (below it the CPU is faster).
GPU_MIN_VECTORS = 20_000
KNN_NEIGHBOURS = 64
#: Slack below the threshold for the float32 search; the float64 check decides.
_SEARCH_SLACK = 1e-5


def _faiss() -> ModuleType:
    """faiss, imported quietly.

    Its loader logs at INFO each instruction-set build the wheel lacks ("Could not load
    library with AVX2 support"), which reads like an error though the portable build loads.
    """
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    import faiss

    return faiss


def neighbours_for(count: int) -> int | None:
    """``KNN_NEIGHBOURS`` when a GPU is present and ``count`` vectors make it worth it."""
    faiss = _faiss()
    return KNN_NEIGHBOURS if count >= GPU_MIN_VECTORS and faiss.get_num_gpus() > 0 else None


def similar_pairs(
    vectors: np.ndarray, threshold: float, neighbours: int | None = None
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, similarity)`` with ``i < j`` and cosine similarity >= ``threshold``.

    Args:
        vectors: ``(n, d)`` unit-norm rows.
        threshold: minimum cosine similarity.
        neighbours: None for exact range search (CPU); k for k-NN search, on every GPU
            when there is one.

    Returns:
        Pairs sorted by similarity (descending, rounded to ``SIMILARITY_DIGITS``), then
        ``i``, then ``j``.
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(x) < 2:
        return []
    if neighbours is None:
        queries, hits = _range_search(x, threshold - _SEARCH_SLACK)
    else:
        queries, hits = _knn_search(x, threshold - _SEARCH_SLACK, neighbours)
    first = np.minimum(queries, hits)
    second = np.maximum(queries, hits)
    pairs = np.unique(np.stack([first, second], axis=1)[first != second], axis=0)
    if len(pairs) == 0:
        return []
    exact = x.astype(np.float64)
    similarity = np.einsum("ij,ij->i", exact[pairs[:, 0]], exact[pairs[:, 1]])
    keep = similarity >= threshold
    pairs, similarity = pairs[keep], similarity[keep]
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -np.round(similarity, SIMILARITY_DIGITS)))
    return [(int(pairs[k, 0]), int(pairs[k, 1]), float(similarity[k])) for k in order]


def _cosine(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.dot(x.astype(np.float64), y.astype(np.float64)))


def _range_search(x: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    faiss = _faiss()
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    limits, _, hits = index.range_search(x, radius)
    queries = np.repeat(np.arange(len(x)), np.diff(limits.astype(np.int64)))
    return queries, hits.astype(np.int64)


def _knn_search(x: np.ndarray, radius: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    faiss = _faiss()
    index = faiss.IndexFlatIP(x.shape[1])
    if faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(x)
    scores, hits = index.search(x, min(k, len(x)))
    queries = np.repeat(np.arange(len(x)), hits.shape[1])
    found = (scores.ravel() >= radius) & (hits.ravel() >= 0)
    return queries[found], hits.ravel()[found].astype(np.int64)


def scope_candidates(
    entities: Sequence[Entity],
    vectors: np.ndarray,
    threshold: float,
    forced_pairs: Iterable[tuple[str, str]] = (),
) -> list[Candidate]:
    """The candidate pairs of one scope.

    Pairs similar at ``threshold``, plus every pair with the same match key (the rules
    merge those whatever their similarity), plus ``forced_pairs`` of names (a person's
    overrides; names not in the scope are skipped). Sorted by similarity, then names.

    Args:
        entities: the scope's entities.
        vectors: ``(len(entities), d)`` unit-norm embeddings, row ``i`` of entity ``i``.
        threshold: minimum cosine similarity of a similar pair.
        forced_pairs: name pairs that are candidates regardless of similarity.
    """
    index_of = {entity.name: i for i, entity in enumerate(entities)}
    pairs = {(i, j) for i, j, _ in similar_pairs(vectors, threshold, neighbours_for(len(vectors)))}
    same_key: dict[str, list[int]] = {}
    for i, entity in enumerate(entities):
        same_key.setdefault(entity.key, []).append(i)
    for indices in same_key.values():
        pairs.update(combinations(indices, 2))
    pairs.update(
        tuple(sorted((index_of[a], index_of[b])))
        for a, b in forced_pairs
        if a in index_of and b in index_of
    )
    candidates = [
        Candidate.of(entities[i], entities[j], _cosine(vectors[i], vectors[j])) for i, j in pairs
    ]
    return sorted(candidates, key=strongest_first)
