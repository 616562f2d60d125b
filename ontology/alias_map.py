"""Name resolution for inference and the features pipeline: legacy name -> canonical.

>>> aliases = AliasMap.load("OUT/ontology")        # or the alias_log.jsonl itself,
>>> aliases = AliasMap.load("gs://bucket/OUT")      # or any URI pyarrow's filesystems know
>>> aliases.resolve_category("StorageFurniture")
'storage_furniture'
>>> aliases.resolve("Bed", "bed_headboard")
CanonicalPart(category='bed', part='bed_headboard', part_uid=17)

Names resolve by their exact raw spelling, the canonical spelling, or any spelling with
the same match key (case, separators, category prefix, instance numbers, plural:
``"Bed Headboard"``, ``"headboard_2"``); PartNet leaf paths (``chair/chair_back/back``)
by their leaf. Lookups are dictionary hits; unknown names raise ``UnknownNameError`` (a
``KeyError``) naming the closest known names.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Iterable
from typing import NamedTuple

import polars as pl
from pyarrow import fs as pafs

from ontology.normalize import (
    canonical_spelling,
    category_key,
    category_prefixes,
    match_key,
    part_tokens,
)
from schemas.common import one_line
from schemas.locations import Location, LocationLike
from schemas.ontology import CANONICAL, MERGE

ALIAS_LOG = "alias_log.jsonl"
_COLUMNS = {
    "kind": pl.String,
    "category": pl.String,
    "alias": pl.String,
    "canonical": pl.String,
    "key": pl.String,
    "decision": pl.String,
    "part_uid": pl.Int32,
}
_SUGGESTIONS = 5
#: ``part_uid`` of a part name the ontology does not resolve (as in feature shards).
UNRESOLVED_UID = -1


class CanonicalPart(NamedTuple):
    """A resolved part: canonical category and part name, and its row in ``parts.parquet``."""

    category: str
    part: str
    part_uid: int


class UnknownNameError(KeyError):
    """A name the ontology does not know (or cannot tell apart); says what is close."""

    def __str__(self) -> str:
        return str(self.args[0])


class AliasMap:
    """Every alias resolution of an ontology, indexed for O(1) lookups."""

    def __init__(self, log: pl.DataFrame) -> None:
        """Index an alias log table (columns of ``_COLUMNS``); use ``load`` to read one."""
        resolved = log.filter(pl.col("decision").is_in([CANONICAL, MERGE]))
        categories = resolved.filter(pl.col("kind") == "category")
        self._category_by_name: dict[str, str] = {}
        self._category_by_key: dict[str, set[str]] = {}
        aliases: dict[str, set[str]] = {}
        for alias, canonical in categories.select("alias", "canonical").iter_rows():
            for spelling in (alias, canonical):
                self._category_by_name[spelling] = canonical
                self._category_by_key.setdefault(category_key(spelling), set()).add(canonical)
            aliases.setdefault(canonical, set()).add(alias)
        self._prefixes = {
            canonical: category_prefixes(names | {canonical})
            for canonical, names in aliases.items()
        }

        parts = resolved.filter(pl.col("kind") == "part")
        self._part_by_name: dict[tuple[str, str], CanonicalPart] = {}
        self._part_by_key: dict[tuple[str, str], set[CanonicalPart]] = {}
        for category, alias, canonical, key, uid in parts.select(
            "category", "alias", "canonical", "key", "part_uid"
        ).iter_rows():
            part = CanonicalPart(category, canonical, uid)
            self._part_by_name[category, alias] = part
            self._part_by_name[category, canonical] = part
            self._part_by_key.setdefault((category, key), set()).add(part)

    @staticmethod
    def log_path(path: LocationLike, filesystem: pafs.FileSystem | None = None) -> Location:
        """The alias log meant by ``path``: the log, its folder, or the pipeline's output.

        ``path`` is a local path or a URI (``gs://bucket/out``), or a path inside
        ``filesystem``.
        """
        location = Location.of(path, filesystem)
        if location.is_dir():
            nested = location / "ontology" / ALIAS_LOG
            location = nested if nested.exists() else location / ALIAS_LOG
        if not location.is_file():
            raise FileNotFoundError(f"no alias log at {location}")
        return location

    @classmethod
    def load(cls, path: LocationLike, filesystem: pafs.FileSystem | None = None) -> AliasMap:
        """Read an alias log (see ``log_path``); ``ValueError`` if it is not one."""
        log = cls.log_path(path, filesystem)
        try:
            return cls(pl.read_ndjson(io.BytesIO(log.read_bytes()), schema=_COLUMNS))
        except pl.exceptions.PolarsError as error:
            raise ValueError(f"{log}: not an alias log: {one_line(error)}") from error

    def resolve_category(self, name: str) -> str:
        """The canonical category of a raw category name."""
        canonical = self._category_by_name.get(name)
        if canonical is not None:
            return canonical
        matches = self._category_by_key.get(category_key(name), set())
        if len(matches) == 1:
            return next(iter(matches))
        if matches:
            raise UnknownNameError(f"category {name!r} is ambiguous: {sorted(matches)}")
        close = _closest(name, self._category_by_name)
        raise UnknownNameError(f"unknown category {name!r}; closest known: {close}")

    def resolve(self, category: str, name: str) -> CanonicalPart:
        """The canonical part of a raw (category, part name).

        A PartNet leaf path as shards store it (``chair/chair_back/back_support``) resolves
        as a whole name first, then by its leaf (``back_support``).
        """
        canonical_category = self.resolve_category(category)
        try:
            return self._resolve_part(canonical_category, name)
        except UnknownNameError:
            path, slash, leaf = name.rpartition("/")
            if not (slash and path and leaf):
                raise
            return self._resolve_part(canonical_category, leaf)

    def resolve_parts(
        self, category: str, names: Iterable[str]
    ) -> tuple[str, list[CanonicalPart], list[str]]:
        """A shape's category and part names, resolved as far as the ontology knows them.

        Returns ``(category, parts, unresolved)``: the canonical category (the raw one
        if unknown); one ``CanonicalPart`` per name, in order, which for a name that does
        not resolve (every name, when the category does not) is the raw name with
        ``part_uid`` ``UNRESOLVED_UID``; and one message per category or name that did
        not resolve.
        """
        try:
            canonical_category = self.resolve_category(category)
        except UnknownNameError as error:
            raw = [CanonicalPart(category, name, UNRESOLVED_UID) for name in names]
            return category, raw, [str(error)]
        parts, unresolved = [], []
        for name in names:
            try:
                parts.append(self.resolve(category, name))
            except UnknownNameError as error:
                parts.append(CanonicalPart(canonical_category, name, UNRESOLVED_UID))
                unresolved.append(str(error))
        return canonical_category, parts, unresolved

    def _resolve_part(self, canonical_category: str, name: str) -> CanonicalPart:
        part = self._part_by_name.get((canonical_category, name))
        if part is not None:
            return part
        prefixes = self._prefixes.get(canonical_category, ())
        matches: set[CanonicalPart] = set()
        for strip_number in (False, True):  # f16 is a name; leg_2 an instance of leg
            key = match_key(part_tokens(name, prefixes, strip_number))
            matches = self._part_by_key.get((canonical_category, key), set())
            if matches:
                break
        if len(matches) == 1:
            return next(iter(matches))
        if matches:
            names = sorted(match.part for match in matches)
            raise UnknownNameError(
                f"part {name!r} of {canonical_category!r} is ambiguous: it matches {names}"
            )
        close = _closest(
            name, (known for cat, known in self._part_by_name if cat == canonical_category)
        )
        raise UnknownNameError(
            f"unknown part {name!r} in category {canonical_category!r}; closest known: {close}"
        )


def _closest(name: str, known: Iterable[str]) -> list[str]:
    """The known names most like ``name`` (compared in canonical spelling)."""
    by_spelling = {canonical_spelling(k): k for k in sorted(known, reverse=True)}
    close = difflib.get_close_matches(canonical_spelling(name), by_spelling, _SUGGESTIONS, 0.0)
    return [by_spelling[spelling] for spelling in close]
