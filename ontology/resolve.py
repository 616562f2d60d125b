"""One scope (all categories, or the parts of one category) from verdicts to canonical groups."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ontology.candidates import closed_lists
from ontology.canonical import choose_canonical
from ontology.entities import Entity
from ontology.grouping import Held, group_names
from ontology.overrides import OVERRIDE
from ontology.verdicts import MERGE, Judged, strongest_first

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CanonicalGroup:
    """One unified category or part.

    Attributes:
        name: the canonical name (snake_case spelling of ``representative``).
        representative: the variant chosen to name the group.
        members: every variant, sorted by name (``representative`` included).
        embedding: ``(d,)`` float32 unit-norm embedding of ``representative``.
        links: for every other member, the merge verdict that attached it.
    """

    name: str
    representative: Entity
    members: tuple[Entity, ...]
    embedding: np.ndarray
    links: Mapping[str, Judged]

    @property
    def count(self) -> int:
        return sum(member.count for member in self.members)

    @property
    def datasets(self) -> list[str]:
        return sorted({dataset for member in self.members for dataset in member.datasets})

    @property
    def paths(self) -> list[str]:
        return sorted({path for member in self.members for path in member.paths})


@dataclass(frozen=True)
class ResolvedScope:
    """A scope's groups (sorted by name), every verdict, and the merges held back."""

    kind: str
    scope: str
    groups: tuple[CanonicalGroup, ...]
    judged: tuple[Judged, ...]
    held: tuple[Held, ...]

    def canonical_of(self) -> dict[str, str]:
        """Raw member name -> canonical name."""
        return {member.name: group.name for group in self.groups for member in group.members}


def resolve_scope(
    kind: str,
    scope: str,
    entities: Sequence[Entity],
    vectors: np.ndarray,
    judged: Sequence[Judged],
    max_group_size: int,
) -> ResolvedScope:
    """Group ``entities`` (rows of ``vectors``) by ``judged`` and name every group."""
    by_name = {
        entity.name: (entity, vector) for entity, vector in zip(entities, vectors, strict=True)
    }
    lists = dict(zip((e.name for e in entities), closed_lists(entities), strict=True))
    grouping = group_names(
        by_name,
        judged,
        max_group_size,
        lambda x, y: bool(lists[x] & lists[y]),
        {entity.name: entity.key for entity in entities},
    )
    chosen = [j.verdict for j in judged if j.verdict.decision == MERGE and j.verdict.canonical]
    preferred = {v.canonical for v in chosen if v.verifier == OVERRIDE}
    votes = Counter(v.canonical for v in chosen if v.verifier != OVERRIDE)
    groups = []
    taken: set[str] = set()
    for names in grouping.groups:
        members = tuple(by_name[name][0] for name in names)
        representative = choose_canonical(members, preferred, votes)
        name = _unique(representative.canonical_spelling, taken, scope)
        links = [link for link in grouping.links if link.candidate.a.name in names]
        groups.append(
            CanonicalGroup(
                name,
                representative,
                members,
                by_name[representative.name][1],
                {
                    member.name: _attaching_link(member.name, representative.name, links)
                    for member in members
                    if member is not representative
                },
            )
        )
    return ResolvedScope(
        kind, scope, tuple(sorted(groups, key=lambda g: g.name)), tuple(judged), grouping.held
    )


def _attaching_link(member: str, representative: str, links: Sequence[Judged]) -> Judged:
    """The merge attaching ``member``: the one with the representative, else the strongest."""
    incident = [link for link in links if member in link.candidate.names]
    return min(
        incident,
        key=lambda j: (representative not in j.candidate.names, *strongest_first(j.candidate)),
    )


def _unique(name: str, taken: set[str], scope: str) -> str:
    """``name``, or ``name_2``, ``name_3``... when a held merge left two groups spelled alike."""
    unique, number = name, 1
    while unique in taken:
        number += 1
        unique = f"{name}_{number}"
    if unique != name:
        log.warning("scope %r: two groups are both spelled %r; naming one %r", scope, name, unique)
    taken.add(unique)
    return unique
