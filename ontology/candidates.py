"""Candidate duplicate pairs: similar vectors, nearest neighbours, and lexical relations.

``scope_candidates`` unions several ways of finding pairs (its docstring). Similarities
are exact: faiss's brute-force inner-product search over unit-norm vectors, two labels of
one closed label list masked out, each row's strongest others taken in a
stable order (ties by the lower index); the similarity a candidate carries is recomputed
in float64 so that a pair scores the same whichever side found it, and candidates are
sorted strongest first (``ontology.verdicts.strongest_first``) so that ties at the
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
#: Rows of one similarity block.
_BLOCK_ROWS = 1024
#: Largest head-noun group whose subset pairs ``lexical_pairs`` forms.
_MAX_HEAD_GROUP = 200
#: Shortest spelling (letters and spaces) given one-deletion variants.
_MIN_SPELLING_LENGTH = 4
#: A part key shared by more categories than this says nothing about which are alike.
_MAX_SHARING = 50
#: Slack below the threshold for the float32 similarities (rounded to 6 digits).
_SEARCH_SLACK = 1e-6


def _cosine(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.dot(x.astype(np.float64), y.astype(np.float64)))


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

    similar, nearest = similar_and_nearest(vectors, threshold, neighbours, lists)
    add(similar, "range")
    add(nearest, "neighbour")
    add((pair for pair in lexical_pairs(entities) if not apart(*pair)), "lexical")
    if entities and entities[0].kind == CATEGORY:
        add(overlap_pairs(entities), "overlap")
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


def similar_and_nearest(
    vectors: np.ndarray,
    threshold: float,
    k: int,
    lists: Sequence[frozenset[tuple[str, str]]] | None = None,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Each row's similar rows and its ``k`` nearest rows, other than those it shares a
    closed label list with.

    Exact: faiss's brute-force inner-product search (``faiss.knn``) over blocks of
    ``_BLOCK_ROWS`` query rows, fetching enough neighbours that the rows kept apart by a
    shared list can be dropped; similarities rounded to ``SIMILARITY_DIGITS``; each row's
    others in descending similarity, ties by the lower index.

    Args:
        vectors: ``(n, d)`` unit-norm rows.
        threshold: minimum cosine similarity of a similar pair.
        k: nearest neighbours per row.
        lists: per row, its closed label lists (None: no row is kept from another).

    Returns:
        ``(similar, nearest)``, each a list of ``(row, other)`` pairs in row order:
        ``similar`` holds, per row, its others at ``threshold`` or more, at most
        ``SIMILAR_PER_ENTITY`` (the strongest); ``nearest`` its ``k`` strongest others.
    """
    n = len(vectors)
    if n < 2:
        return [], []
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    lists = list(lists) if lists is not None else [frozenset()] * n
    members: dict[tuple[str, str], int] = Counter(source for found in lists for source in found)
    # the most rows a row can be kept from: fetch that many more than it needs, plus itself
    masked = max((sum(members[source] for source in found) for found in lists), default=0)
    taken = min(n - 1, max(k, SIMILAR_PER_ENTITY))
    fetch = min(n, taken + masked + 1)
    similar: list[tuple[int, int]] = []
    nearest: list[tuple[int, int]] = []
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(n, start + _BLOCK_ROWS)
        scores, found = _faiss().knn(x[start:stop], x, fetch, metric=_faiss().METRIC_INNER_PRODUCT)
        scores = np.round(scores, SIMILARITY_DIGITS)
        for offset, row in enumerate(range(start, stop)):
            others = [
                (-float(score), int(j))
                for score, j in zip(scores[offset], found[offset], strict=True)
                if j >= 0 and j != row and not (lists[row] & lists[j])
            ]
            ranked = sorted(others)[:taken]  # strongest first, ties by the lower index
            nearest.extend((row, j) for _, j in ranked[:k])
            similar.extend((row, j) for score, j in ranked if -score >= threshold - _SEARCH_SLACK)
    return similar, nearest


def _faiss() -> ModuleType:
    """faiss, imported quietly: its loader logs at INFO every instruction-set build the
    wheel lacks ("Could not load library with AVX2 support"), which reads like an error."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    import faiss

    return faiss


def lexical_pairs(entities: Sequence[Entity]) -> list[tuple[int, int]]:
    """Index pairs that share a form, a head noun (one's modifiers among the other's) or
    a spelling up to one deleted letter, sorted.

    Forms (``ontology.forms``) include each entity's alternates. Head-noun groups larger
    than ``_MAX_HEAD_GROUP`` are skipped (too generic to pair everything in them).
    """
    context = RuleContext.of(entities)
    blocks: dict[str, list[int]] = {}
    own = []
    for i, entity in enumerate(entities):
        forms = [context.own_form(entity), *context.alternate_forms(entity)]
        own.append(forms[0])
        keys = {f"form:{form.key}" for form in forms}
        keys.add(f"head:{forms[0].head}")
        spelled = " ".join((*forms[0].modifiers, forms[0].head))
        if len(spelled) >= _MIN_SPELLING_LENGTH:  # letters only: numbers name things
            keys.update(
                f"del:{spelled[:c]}{spelled[c + 1 :]}"
                for c in range(len(spelled))
                if spelled[c].isalpha()
            )
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
    least ``MIN_OVERLAP`` and two shared names. Two categories of one closed list (one
    dataset's categories) are not paired. Sorted pairs.
    """
    lists = closed_lists(categories)
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
        if lists[i] & lists[j]:
            continue
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
