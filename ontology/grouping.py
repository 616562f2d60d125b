"""Merging verified pairs into groups without chaining.

Union-find over every approved pair lets one borderline merge pull unrelated names
together. Here merges are applied strongest first (a person's overrides, then by
similarity) and a merge is held back when

* ``conflict``: it would put two names judged distinct (or two labels of one closed
  label list) into one group;
* ``oversized``: the group would exceed ``max_group_size`` names (spellings with one
  match key count once);
* ``bridge``: after grouping, it is the one link holding two sub-groups (of two or
  more names each) together; the weakest such link is cut until none is left.

Certain merges (a person's, or names identical after normalization) are never held
as bridges or for size. Held merges go to the review queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ontology.overrides import OVERRIDE
from ontology.verdicts import KEEP_SEPARATE, MERGE, Judged, rounded_similarity, strongest_first

CONFLICT = "conflict"
OVERSIZED = "oversized"
BRIDGE = "bridge"


@dataclass(frozen=True)
class Held:
    """A merge verdict not applied: ``reason`` is conflict, oversized or bridge."""

    judged: Judged
    reason: str
    detail: str


@dataclass(frozen=True)
class Grouping:
    """Groups of names (each sorted; groups sorted) and the merges held back.

    ``links`` are the applied merges, each inside one group.
    """

    groups: tuple[tuple[str, ...], ...]
    links: tuple[Judged, ...]
    held: tuple[Held, ...]


def is_certain(judged: Judged) -> bool:
    """A merge no grouping safeguard may undo: a person's, or identical spellings."""
    candidate = judged.candidate
    return judged.verdict.verifier == OVERRIDE or candidate.a.key == candidate.b.key


def group_names(
    names: Iterable[str],
    judged: Sequence[Judged],
    max_group_size: int,
    apart: Callable[[str, str], bool] | None = None,
    key_of: Mapping[str, str] | None = None,
) -> Grouping:
    """Group ``names`` by the merge verdicts in ``judged`` (see the module docstring).

    ``apart(x, y)`` says whether two names are distinct without a verdict (two labels
    of one closed label list, never paired as candidates); such a pair is a conflict too.
    ``key_of`` maps names to their match keys: a group's size counts distinct keys
    (``leg_01``, ``Leg`` and ``legs`` are one name); without it, names.
    """

    def size(group: frozenset[str]) -> int:
        return len({key_of[name] for name in group}) if key_of is not None else len(group)

    distinct = {frozenset(j.candidate.names) for j in judged if j.verdict.decision == KEEP_SEPARATE}
    merges = sorted(
        (j for j in judged if j.verdict.decision == MERGE),
        key=lambda j: (not is_certain(j), *strongest_first(j.candidate)),
    )
    group_of: dict[str, frozenset[str]] = {name: frozenset([name]) for name in names}
    links: list[Judged] = []
    held: list[Held] = []
    for merge in merges:
        first, second = (group_of[name] for name in merge.candidate.names)
        if first is not second:
            clash = next(
                (
                    (x, y)
                    for x in sorted(first)
                    for y in sorted(second)
                    if frozenset((x, y)) in distinct or (apart is not None and apart(x, y))
                ),
                None,
            )
            if clash is not None:
                held.append(
                    Held(
                        merge,
                        CONFLICT,
                        f"would join {clash[0]!r} and {clash[1]!r}, which were judged distinct",
                    )
                )
                continue
            joined = first | second
            if size(joined) > max_group_size and not is_certain(merge):
                held.append(
                    Held(
                        merge,
                        OVERSIZED,
                        f"would make a group of {size(joined)} names (limit {max_group_size})",
                    )
                )
                continue
            group_of.update(dict.fromkeys(joined, joined))
        links.append(merge)

    groups: list[tuple[str, ...]] = []
    kept: list[Judged] = []
    for group in sorted(set(group_of.values()), key=min):
        parts, part_links, cut = _cut_bridges(
            group, [link for link in links if link.candidate.a.name in group]
        )
        groups.extend(tuple(sorted(part)) for part in parts)
        kept.extend(part_links)
        held.extend(cut)
    return Grouping(tuple(sorted(groups)), tuple(kept), tuple(held))


def _cut_bridges(
    group: frozenset[str], links: list[Judged]
) -> tuple[list[frozenset[str]], list[Judged], list[Held]]:
    """Split ``group`` at its weakest uncertain bridges: (parts, their links, cut links)."""
    bridges = [
        link for link in links if not is_certain(link) and _splits_in_two(group, links, link)
    ]
    if not bridges:
        return [group], links, []
    weakest = min(bridges, key=lambda j: (rounded_similarity(j.candidate), j.candidate.names))
    sides = _sides(group, links, weakest)
    parts: list[frozenset[str]] = []
    kept: list[Judged] = []
    cut = [
        Held(weakest, BRIDGE, f"the only link between {sorted(sides[0])} and {sorted(sides[1])}")
    ]
    for side in sides:
        side_links = [j for j in links if j is not weakest and j.candidate.a.name in side]
        side_parts, side_kept, side_cut = _cut_bridges(side, side_links)
        parts.extend(side_parts)
        kept.extend(side_kept)
        cut.extend(side_cut)
    return parts, kept, cut


def _splits_in_two(group: frozenset[str], links: list[Judged], link: Judged) -> bool:
    """Whether removing ``link`` leaves two parts of two or more names each."""
    sides = _sides(group, links, link)
    return len(sides) == 2 and min(len(side) for side in sides) >= 2


def _sides(
    group: frozenset[str], links: list[Judged], removed: Judged
) -> tuple[frozenset[str], ...]:
    """Connected components of ``group`` under ``links`` without ``removed``."""
    neighbours: dict[str, set[str]] = {name: set() for name in group}
    for link in links:
        if link is not removed:
            a, b = link.candidate.names
            neighbours[a].add(b)
            neighbours[b].add(a)
    components: list[frozenset[str]] = []
    unseen = set(group)
    while unseen:
        stack = [min(unseen)]
        component = set(stack)
        while stack:
            for other in neighbours[stack.pop()] - component:
                component.add(other)
                stack.append(other)
        unseen -= component
        components.append(frozenset(component))
    return tuple(components)
