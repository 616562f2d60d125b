"""Candidate duplicate pairs: similar vectors, nearest neighbours, and lexical relations.

``scope_candidates`` unions several ways of finding pairs (its docstring). Similar
pairs come from exact inner-product range search (``faiss.IndexFlatIP``) over unit-norm
vectors on the CPU; GPU indexes have no range search, so when a GPU is present and the set is large,
k-nearest-neighbour search on the GPU followed by the threshold is used instead (a pair
is then missed only if one side has more than ``KNN_NEIGHBOURS`` closer neighbours).
Similarities are recomputed in float64 so that a pair scores the same whichever side
found it, and pairs are sorted by (similarity descending, indices) so that ties at the
threshold are decided the same way every run.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import combinations
from types import ModuleType

import numpy as np

from ontology.entities import CATEGORY, Entity
from ontology.rules import RuleContext
from ontology.verdicts import FOUND_BY, SIMILARITY_DIGITS, Candidate, strongest_first
from ontology.vocabulary import CLOSED_VOCABULARIES

#: Nearest neighbours paired per entity (besides those similar at the threshold).
NEIGHBOURS = 3
#: Most pairs similar at the threshold kept per entity (its strongest).
SIMILAR_PER_ENTITY = 8
#: Categories paired per category by shared part names, and the least overlap.
OVERLAP_NEIGHBOURS = 2
MIN_OVERLAP = 0.25
#: Rows of one similarity block in ``nearest_pairs``.
_BLOCK_ROWS = 1024
#: Largest head-noun group whose subset pairs ``lexical_pairs`` forms.
_MAX_HEAD_GROUP = 200
#: Shortest spelling (letters and spaces) given one-deletion variants.
_MIN_SPELLING_LENGTH = 4
#: A part key shared by more categories than this says nothing about which are alike.
_MAX_SHARING = 50
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
    neighbours: int = NEIGHBOURS,
) -> list[Candidate]:
    """The candidate pairs of one scope, each with how it was found (``found_by``).

    The union of

    * ``range``: pairs similar at ``threshold``, at most ``SIMILAR_PER_ENTITY`` (the most
      similar) per entity;
    * ``neighbour``: each entity's ``neighbours`` most similar others;
    * ``lexical``: pairs sharing a form (``ontology.forms``, alternates included), a head
      noun with one's modifiers among the other's, or a spelling up to one letter;
    * ``overlap`` (categories): the ``OVERLAP_NEIGHBOURS`` categories sharing the most
      part names, at least ``MIN_OVERLAP`` of the smaller list;
    * ``key``: every pair with the same match key (the rules merge or keep those);
    * ``override``: ``forced_pairs`` of names (a person's overrides; names not in the
      scope are skipped).

    Apart from ``key`` and ``override`` pairs, two labels of one closed label list are
    never paired: the rules keep them apart and grouping never joins them
    (``ontology.grouping``). Sorted by similarity, then names.

    Args:
        entities: the scope's entities.
        vectors: ``(len(entities), d)`` unit-norm embeddings, row ``i`` of entity ``i``.
        threshold: minimum cosine similarity of a similar pair.
        forced_pairs: name pairs that are candidates regardless of similarity.
        neighbours: nearest neighbours paired per entity.
    """
    index_of = {entity.name: i for i, entity in enumerate(entities)}
    lists = closed_lists(entities)
    found: dict[tuple[int, int], set[str]] = {}

    def add(pairs: Iterable[tuple[int, int]], source: str) -> None:
        for i, j in pairs:
            if i != j:
                found.setdefault((min(i, j), max(i, j)), set()).add(source)

    def apart(i: int, j: int) -> bool:
        return bool(lists[i] & lists[j])

    similar = similar_pairs(vectors, threshold, neighbours_for(len(vectors)))
    add(_capped([(i, j, s) for i, j, s in similar if not apart(i, j)]), "range")
    add(nearest_pairs(vectors, neighbours, lists), "neighbour")
    add((pair for pair in lexical_pairs(entities) if not apart(*pair)), "lexical")
    if entities and entities[0].kind == CATEGORY:
        add((pair for pair in overlap_pairs(entities) if not apart(*pair)), "overlap")
    same_key: dict[str, list[int]] = {}
    for i, entity in enumerate(entities):
        same_key.setdefault(entity.key, []).append(i)
    for indices in same_key.values():
        add(combinations(indices, 2), "key")
    add(
        ((index_of[a], index_of[b]) for a, b in forced_pairs if a in index_of and b in index_of),
        "override",
    )
    candidates = [
        Candidate.of(
            entities[i],
            entities[j],
            _cosine(vectors[i], vectors[j]),
            tuple(source for source in FOUND_BY if source in sources),
        )
        for (i, j), sources in found.items()
    ]
    return sorted(candidates, key=strongest_first)


def closed_lists(entities: Sequence[Entity]) -> list[frozenset[tuple[str, str]]]:
    """Per entity, the closed label lists (``CLOSED_VOCABULARIES``) it belongs to."""
    return [
        frozenset(source for source in entity.sources if source[0] in CLOSED_VOCABULARIES)
        for entity in entities
    ]


def _capped(similar: Sequence[tuple[int, int, float]]) -> list[tuple[int, int]]:
    """The similar pairs among the ``SIMILAR_PER_ENTITY`` strongest of either member.

    ``similar`` comes strongest first (``similar_pairs``), so each entity's first pairs
    are its strongest.
    """
    taken: Counter[int] = Counter()
    kept = []
    for i, j, _ in similar:
        if taken[i] < SIMILAR_PER_ENTITY or taken[j] < SIMILAR_PER_ENTITY:
            kept.append((i, j))
        taken[i] += 1
        taken[j] += 1
    return kept


def nearest_pairs(
    vectors: np.ndarray, k: int, lists: Sequence[frozenset[tuple[str, str]]] | None = None
) -> list[tuple[int, int]]:
    """Each row's ``k`` most similar other rows that share no closed label list with it.

    Exact: similarities in blocks of ``_BLOCK_ROWS`` rows (``(block, n)`` float32 at a
    time); ties are broken by the lower index. Returns ``(row, neighbour)`` pairs in row
    order.

    Args:
        vectors: ``(n, d)`` unit-norm rows.
        k: neighbours per row.
        lists: per row, its closed label lists (None: no row is kept from another).
    """
    n = len(vectors)
    if n < 2 or k <= 0:
        return []
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    names = sorted({source for found in lists or [] for source in found})
    column = {source: c for c, source in enumerate(names)}
    member = np.zeros((n, len(names)), np.float32)
    for row, found in enumerate(lists or []):
        for source in found:
            member[row, column[source]] = 1.0
    pairs = []
    for start in range(0, n, _BLOCK_ROWS):
        rows = np.arange(start, min(n, start + _BLOCK_ROWS))
        scores = np.round(x[rows] @ x.T, SIMILARITY_DIGITS)
        scores[np.arange(len(rows)), rows] = -np.inf
        if names:
            scores[(member[rows] @ member.T) > 0] = -np.inf
        for offset, row in enumerate(rows):
            order = np.lexsort((np.arange(n), -scores[offset]))[:k]
            pairs.extend((int(row), int(j)) for j in order if np.isfinite(scores[offset, j]))
    return pairs


def lexical_pairs(entities: Sequence[Entity]) -> list[tuple[int, int]]:
    """Index pairs that share a form, a head noun (one's modifiers among the other's) or
    a spelling up to one deleted letter, sorted.

    Forms (``ontology.forms``) include each entity's alternates and its name without a
    leading repeat of its parent. Head-noun groups larger than ``_MAX_HEAD_GROUP`` are
    skipped (too generic to pair everything in them).
    """
    context = RuleContext.of(entities)
    blocks: dict[str, list[int]] = {}
    own = []
    for i, entity in enumerate(entities):
        forms = [*context.forms(entity), *context.alternate_forms(entity)]
        own.append(forms[0])
        keys = {f"form:{form.key}" for form in forms}
        keys.add(f"head:{forms[0].head}")
        spelled = " ".join((*forms[0].modifiers, forms[0].head))
        if len(spelled) >= _MIN_SPELLING_LENGTH:
            keys.update(f"del:{spelled[:c]}{spelled[c + 1 :]}" for c in range(len(spelled)))
            keys.add(f"del:{spelled}")
        for key in keys:
            blocks.setdefault(key, []).append(i)
    pairs: set[tuple[int, int]] = set()
    for key in sorted(blocks):
        members = blocks[key]
        if key.startswith("head:"):
            if len(members) > _MAX_HEAD_GROUP:
                continue
            pairs.update(
                (i, j)
                for i, j in combinations(members, 2)
                if set(own[i].modifiers) <= set(own[j].modifiers)
                or set(own[j].modifiers) <= set(own[i].modifiers)
            )
        else:
            pairs.update(combinations(members, 2))
    return sorted(pairs)


def overlap_pairs(categories: Sequence[Entity]) -> list[tuple[int, int]]:
    """Each category's ``OVERLAP_NEIGHBOURS`` categories sharing the most part names.

    Overlap is shared part keys over the smaller list's size (``Entity.members``); at
    least ``MIN_OVERLAP`` and two shared names. Sorted pairs.
    """
    having: dict[str, list[int]] = {}
    for i, entity in enumerate(categories):
        for member in entity.members:
            having.setdefault(member, []).append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for rows in having.values():
        if len(rows) <= _MAX_SHARING:
            shared.update(combinations(rows, 2))
    best: dict[int, list[tuple[float, int]]] = {}
    for (i, j), count in shared.items():
        smaller = min(len(categories[i].members), len(categories[j].members))
        score = count / smaller
        if count >= 2 and score >= MIN_OVERLAP:
            best.setdefault(i, []).append((-score, j))
            best.setdefault(j, []).append((-score, i))
    pairs = {
        (min(i, j), max(i, j))
        for i, ranked in best.items()
        for _, j in sorted(ranked)[:OVERLAP_NEIGHBOURS]
    }
    return sorted(pairs)
