"""The names the ontology unifies: raw categories, and raw part names per unified category.

An ``Entity`` is one distinct raw spelling with everything known about it: the
datasets that use it, how often, where it sits in their hierarchies, and (once a
describer ran) its description. Categories are unified first (all in one scope);
parts are then unified within each unified category (their scope).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from ontology.normalize import (
    canonical_spelling,
    category_prefixes,
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
        """The name as plain words (``bed_headboard`` -> ``bed headboard``)."""
        return " ".join(name_tokens(self.name))

    @property
    def canonical_spelling(self) -> str:
        return canonical_spelling(self.name)

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
    """One entity per raw category name of a vocabulary table, sorted by name."""
    rows = (
        vocabulary.group_by("category")
        .agg(pl.col("dataset").unique().sort(), pl.col("count").sum())
        .sort("category")
    )
    return [
        Entity(
            CATEGORY,
            CATEGORY_SCOPE,
            name,
            name_tokens(name),
            tuple((dataset, CATEGORY_LIST) for dataset in datasets),
            count,
        )
        for name, datasets, count in rows.iter_rows()
    ]


def part_entities(vocabulary: pl.DataFrame, category_of: Mapping[str, str]) -> list[Entity]:
    """One entity per (canonical category, raw part name), sorted.

    ``category_of`` maps every raw category of the table to its canonical category;
    category prefixes are stripped using every alias of that canonical category.
    """
    aliases: dict[str, set[str]] = {}
    for raw, canonical in category_of.items():
        aliases.setdefault(canonical, {canonical}).add(raw)
    prefixes = {canonical: category_prefixes(names) for canonical, names in aliases.items()}
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
    return [
        Entity(
            PART,
            scope,
            name,
            part_tokens(name, prefixes[scope]),
            tuple(sorted((dataset, category) for dataset, category in sources)),
            count,
            tuple(paths),
        )
        for scope, name, sources, count, paths in rows.iter_rows()
    ]
