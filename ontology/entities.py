"""The names the ontology unifies: raw categories, and raw part names per unified category.

An ``Entity`` is one distinct raw spelling with everything known about it: the
datasets that use it, how often, where it sits in their hierarchies, and (once a
describer ran) its description. Categories are unified first (all in one scope);
parts are then unified within each unified category (their scope).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from ontology.normalize import (
    canonical_spelling,
    category_key,
    category_prefixes,
    instance_stem,
    match_key,
    name_tokens,
    part_tokens,
)

CATEGORY = "category"
PART = "part"
#: Scope of category entities (parts are scoped by their canonical category).
CATEGORY_SCOPE = ""
#: The label list of a dataset's categories, as named in ``Entity.sources``.
CATEGORY_LIST = "categories"


@dataclass(frozen=True)
class Entity:
    """One raw name to unify.

    Attributes:
        kind: ``"category"`` or ``"part"``.
        scope: ``""`` for categories; a part's canonical category.
        name: the raw spelling, as the datasets write it.
        tokens: normalized tokens (category prefix removed for parts).
        sources: the label lists using the name, sorted: (dataset, raw category) for a
            part, (dataset, ``CATEGORY_LIST``) for a category.
        count: occurrences summed over the vocabularies.
        paths: a part's hierarchy paths (``microwave/body/door/glass``), sorted; empty
            for categories.
        description: one sentence on what it is / what it is for ("" until described).
        description_source: ``"gemini"`` or ``"template"`` ("" until described).
        alternates: other names the entity stands for, sorted: for a part, the hierarchy
            nodes it is the only child of in most of its paths (``spout`` for PartNet's
            ``faucet/.../spout/tube``); for a category, its hierarchy root when named
            otherwise (PartNet ``Vase``'s ``pot``) and the root's only child
            (``StorageFurniture``'s ``cabinet``).
        kinds: for a category, the nodes right below its root when there are several
            (PartNet ``Bottle``: ``jug``, ``normal_bottle``): kinds or parts of it.
        siblings: for a part, the other labels under its parent in its first path.
        members: for a category, the match keys of its parts, sorted.
    """

    kind: str
    scope: str
    name: str
    tokens: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]
    count: int
    paths: tuple[str, ...] = ()
    description: str = ""
    description_source: str = ""
    alternates: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    siblings: tuple[str, ...] = ()
    members: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Match key: equal keys in one scope mean the same name."""
        return match_key(self.tokens)

    @property
    def datasets(self) -> tuple[str, ...]:
        """Datasets using the name, sorted."""
        return tuple(sorted({dataset for dataset, _ in self.sources}))

    @property
    def words(self) -> str:
        """The name as plain words (``bed_headboard`` -> ``bed headboard``).

        A trailing number stays where the entity keeps it (categories, and parts whose
        list shows no instances): ``object007``, ``f16``.
        """
        return " ".join(name_tokens(self.name, self._strips_number))

    @property
    def canonical_spelling(self) -> str:
        return canonical_spelling(self.name, self._strips_number)

    @property
    def _strips_number(self) -> bool:
        """Whether the name's trailing number was dropped as an instance number."""
        whole = name_tokens(self.name, strip_number=False)
        return bool(self.tokens) and bool(whole) and self.tokens[-1] != whole[-1]

    @property
    def ancestor_keys(self) -> frozenset[str]:
        """Match keys of the hierarchy nodes above a part (below its category root)."""
        return frozenset(
            match_key(name_tokens(node)) for path in self.paths for node in path.split("/")[1:-1]
        )

    def parents(self) -> list[str]:
        """Immediate parents of a part in its paths, as words, without the category root."""
        nodes = (path.split("/") for path in self.paths)
        return sorted({" ".join(name_tokens(n[-2])) for n in nodes if len(n) > 2})


def category_entities(vocabulary: pl.DataFrame) -> list[Entity]:
    """One entity per raw category name of a vocabulary table, sorted by name.

    A category's tokens keep a trailing number (``object007``, ``ps5``: a category name
    has no instances).
    """
    rows = (
        vocabulary.group_by("category")
        .agg(
            pl.col("dataset").unique().sort(),
            pl.col("count").sum(),
            pl.col("path").unique().sort(),
            pl.col("part").unique().sort(),
        )
        .sort("category")
    )
    entities = []
    for name, datasets, count, paths, parts in rows.iter_rows():
        tokens = name_tokens(name, strip_number=False)
        prefixes = category_prefixes([name])
        roots = sorted({path.split("/")[0] for path in paths})
        below = sorted({path.split("/")[1] for path in paths if path.count("/") >= 1})
        alternates = [root for root in roots if category_key(root) != match_key(tokens)]
        if len(below) == 1 and below[0] not in parts:
            alternates.append(below[0])
        entities.append(
            Entity(
                CATEGORY,
                CATEGORY_SCOPE,
                name,
                tokens,
                tuple((dataset, CATEGORY_LIST) for dataset in datasets),
                count,
                alternates=tuple(sorted(set(alternates))),
                kinds=tuple(below) if len(below) > 1 else (),
                members=tuple(sorted({match_key(part_tokens(p, prefixes)) for p in parts})),
            )
        )
    return entities


def part_entities(vocabulary: pl.DataFrame, category_of: Mapping[str, str]) -> list[Entity]:
    """One entity per (canonical category, raw part name), sorted.

    ``category_of`` maps every raw category of the table to its canonical category;
    category prefixes are stripped using every alias of that canonical category. A
    trailing number is stripped as an instance number only where a label list shows
    instances (``leg_01`` with ``leg_02`` or ``leg``); elsewhere it names the part
    (``f16``, ``ak47``).
    """
    aliases: dict[str, set[str]] = {}
    for raw, canonical in category_of.items():
        aliases.setdefault(canonical, {canonical}).add(raw)
    prefixes = {canonical: category_prefixes(names) for canonical, names in aliases.items()}
    lists = _label_lists(vocabulary)
    rows = (
        vocabulary.with_columns(pl.col("category").replace_strict(dict(category_of)).alias("scope"))
        .group_by("scope", "part")
        .agg(
            pl.concat_list("dataset", "category").unique(),
            pl.col("count").sum(),
            pl.col("path").unique().sort(),
        )
        .sort("scope", "part")
    )
    entities = []
    for scope, name, sources, count, paths in rows.iter_rows():
        found_in = sorted((dataset, category) for dataset, category in sources)
        instances = any(lists[source].has_instances(name) for source in found_in)
        first = lists[found_in[0]]
        entities.append(
            Entity(
                PART,
                scope,
                name,
                part_tokens(name, prefixes[scope], strip_number=instances),
                tuple(found_in),
                count,
                tuple(paths),
                alternates=_only_child_of(paths, [lists[source] for source in found_in]),
                siblings=first.siblings(paths[0]) if paths else (),
            )
        )
    return entities


@dataclass(frozen=True)
class _LabelList:
    """The part labels of one (dataset, raw category) and their hierarchy.

    Attributes:
        parts: the raw part names.
        children: hierarchy node path -> the names of the nodes right below it.
        stems: instance stem (``leg`` of ``leg_01``) -> the names with it (the bare stem
            included when the list has it).
    """

    parts: frozenset[str]
    children: Mapping[str, tuple[str, ...]]
    stems: Mapping[str, tuple[str, ...]]

    def has_instances(self, name: str) -> bool:
        """Whether ``name`` is one instance of several (``leg_01`` next to ``leg_02``)."""
        stem = instance_stem(name)
        return stem is not None and len(self.stems.get(stem, ())) > 1

    def siblings(self, path: str) -> tuple[str, ...]:
        """The other labels under the parent of ``path`` (at most ``_MAX_SIBLINGS``)."""
        parent, _, leaf = path.rpartition("/")
        others = [name for name in self.children.get(parent, ()) if name != leaf]
        return tuple(others[:_MAX_SIBLINGS])

    def only_child_nodes(self, path: str) -> list[str]:
        """The hierarchy nodes above ``path`` that have it (or its chain) as only child.

        Stops below the category root and at a node that is itself a part label (a
        3DCoMPaT++ coarse part named like its fine part).
        """
        nodes = path.split("/")
        found = []
        for depth in range(len(nodes) - 1, 1, -1):
            parent = "/".join(nodes[:depth])
            if nodes[depth - 1] in self.parts or len(self.children.get(parent, ())) != 1:
                break
            found.append(nodes[depth - 1])
        return found


#: Sibling labels kept per part (for LLM prompts).
_MAX_SIBLINGS = 8


def _label_lists(vocabulary: pl.DataFrame) -> dict[tuple[str, str], _LabelList]:
    """Every (dataset, raw category) label list of a vocabulary table."""
    rows = vocabulary.group_by("dataset", "category").agg(pl.col("part"), pl.col("path"))
    lists = {}
    for dataset, category, parts, paths in rows.iter_rows():
        children: dict[str, set[str]] = {}
        for path in paths:
            nodes = path.split("/")
            for depth in range(1, len(nodes)):
                children.setdefault("/".join(nodes[:depth]), set()).add(nodes[depth])
        stems: dict[str, set[str]] = {}
        for part in parts:
            stem = instance_stem(part)
            if stem is not None:
                stems.setdefault(stem, {stem}).add(part)
        names = frozenset(parts)
        lists[dataset, category] = _LabelList(
            names,
            {node: tuple(sorted(below)) for node, below in children.items()},
            {stem: tuple(sorted(n for n in found if n in names)) for stem, found in stems.items()},
        )
    return lists


def _only_child_of(paths: Sequence[str], lists: Sequence[_LabelList]) -> tuple[str, ...]:
    """Nodes the part is the only child of in more than half of its paths, sorted."""
    votes: Counter[str] = Counter()
    for path in paths:
        parent, _, leaf = path.rpartition("/")
        owners = [owner for owner in lists if leaf in owner.children.get(parent, ())]
        nodes = owners[0].only_child_nodes(path) if owners else []
        votes.update(set(nodes))
    return tuple(sorted(node for node, count in votes.items() if 2 * count > len(paths)))
