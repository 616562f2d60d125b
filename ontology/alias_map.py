"""Name resolution for inference and the features pipeline: legacy name -> canonical.

>>> aliases = AliasMap.load("OUT/ontology")        # or the alias_log.jsonl itself,
>>> aliases = AliasMap.load("gs://bucket/OUT")      # or any URI pyarrow's filesystems know
>>> aliases.resolve_category("StorageFurniture")
'storage_furniture'
>>> aliases.resolve("Bed", "bed_headboard")
CanonicalPart(category='bed', part='bed_headboard', part_uid=17)

>>> chair = aliases.parts_of("Chair")                # the candidate part list (parts.parquet)
>>> chair.names[:2], chair.embeddings.shape         # (n, d): d is the embedder's width
(('arm_holistic_frame', 'arm_horizontal_bar'), (45, 768))
>>> chair.prompts()[0]
"chair's arm holistic frame"

Names resolve by their exact raw spelling, the canonical spelling, or any spelling with
the same match key (case, separators, category prefix, instance numbers, plural:
``"Bed Headboard"``, ``"headboard_2"``); PartNet leaf paths (``chair/chair_back/back``)
by their leaf. Lookups are dictionary hits; unknown names raise ``UnknownNameError`` (a
``KeyError``) naming the closest known names.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from ontology.normalize import (
    canonical_spelling,
    category_key,
    category_prefixes,
    match_key,
    name_tokens,
    part_tokens,
)
from schemas.common import one_line
from schemas.locations import Location, LocationLike
from schemas.ontology import CANONICAL, MERGE

ALIAS_LOG = "alias_log.jsonl"
PARTS_TABLE = "parts.parquet"
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


@dataclass(frozen=True)
class PartList:
    """The canonical parts of one category: what closed-vocabulary inference retrieves.

    Attributes:
        category: the canonical category.
        part_uids: rows of ``parts.parquet``, ascending.
        names: canonical part names, one per ``part_uids`` item.
        descriptions: what each part is and is for.
        embeddings: ``(len(names), d)`` float32 unit-norm rows (name + description).
    """

    category: str
    part_uids: tuple[int, ...]
    names: tuple[str, ...]
    descriptions: tuple[str, ...]
    embeddings: np.ndarray

    def prompts(self) -> list[str]:
        """Object-specific part prompts, ``"{object}'s {part}"`` in words, one per part.

        The part's words drop a leading category prefix (``bed_headboard`` in bed:
        ``"bed's headboard"``) unless that would spell two parts alike (3DCoMPaT++ bed's
        ``bed_support`` and ``support``).
        """
        prefixes = category_prefixes([self.category])
        category = " ".join(name_tokens(self.category, strip_number=False))
        whole = [" ".join(name_tokens(name, strip_number=False)) for name in self.names]
        short = [" ".join(part_tokens(name, prefixes, strip_number=False)) for name in self.names]
        taken = Counter(short)
        return [
            f"{category}'s {brief if taken[brief] == 1 else full}"
            for brief, full in zip(short, whole, strict=True)
        ]


class UnknownNameError(KeyError):
    """A name the ontology does not know (or cannot tell apart); says what is close."""

    def __str__(self) -> str:
        return str(self.args[0])


class AliasMap:
    """Every alias resolution of an ontology, indexed for O(1) lookups."""

    def __init__(self, log: pl.DataFrame, parts_table: Location | None = None) -> None:
        """Index an alias log table (columns of ``_COLUMNS``); use ``load`` to read one.

        ``parts_table`` is the ``parts.parquet`` that ``parts_of`` reads (``load``: the
        one next to the log).
        """
        self._parts_table = parts_table
        self._part_lists: dict[str, PartList] | None = None
        self._embedding_dim = 0
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

    @staticmethod
    def fingerprint(path: LocationLike, filesystem: pafs.FileSystem | None = None) -> str:
        """SHA-256 of what an alias log resolves: every record without its ``at`` time, in
        file order. Two ontology runs over the same vocabularies give the same fingerprint
        (their logs differ only in when each record was written), so features shards
        resolved with either are interchangeable (``FeaturesConfig.config_hash``)."""
        log = AliasMap.log_path(path, filesystem)
        digest = hashlib.sha256()
        with log.filesystem.open_input_stream(log.path) as stream:
            for line in io.TextIOWrapper(stream, encoding="utf-8"):
                if line.strip():
                    record = {k: v for k, v in json.loads(line).items() if k != "at"}
                    digest.update(json.dumps(record, sort_keys=True).encode() + b"\n")
        return digest.hexdigest()

    @classmethod
    def load(cls, path: LocationLike, filesystem: pafs.FileSystem | None = None) -> AliasMap:
        """Read an alias log (see ``log_path``); ``ValueError`` if it is not one."""
        log = cls.log_path(path, filesystem)
        folder = log.path.rstrip("/").rsplit("/", 1)[0]
        shown = log.shown.rstrip("/").rsplit("/", 1)[0]
        parts = Location(log.filesystem, f"{folder}/{PARTS_TABLE}", f"{shown}/{PARTS_TABLE}")
        try:
            return cls(pl.read_ndjson(io.BytesIO(log.read_bytes()), schema=_COLUMNS), parts)
        except pl.exceptions.PolarsError as error:
            raise ValueError(f"{log}: not an alias log: {one_line(error)}") from error

    def parts_of(self, category: str) -> PartList:
        """The canonical parts of a category (raw or canonical name), from ``parts.parquet``.

        Raises ``UnknownNameError`` for an unknown category and ``FileNotFoundError``
        when the log has no ``parts.parquet`` next to it.
        """
        canonical = self.resolve_category(category)
        lists = self._read_part_lists()
        if canonical in lists:
            return lists[canonical]
        return PartList(canonical, (), (), (), np.zeros((0, self._embedding_dim), np.float32))

    def write_prompts(self, path: LocationLike, filesystem: pafs.FileSystem | None = None) -> int:
        """Write every category's object-specific part prompts as JSON lines; their count.

        One object per part, categories and parts in ``part_uid`` order: ``category``,
        ``part``, ``part_uid``, ``prompt`` (``"{object}'s {part}"``) and ``description``
        (e.g. for compositional-text segmenters such as PartCATSeg). ``path`` is a local
        path or a URI, or a path inside ``filesystem``.
        """
        lines = [
            json.dumps(
                {
                    "category": part_list.category,
                    "part": name,
                    "part_uid": uid,
                    "prompt": prompt,
                    "description": description,
                },
                ensure_ascii=False,
            )
            for part_list in sorted(self._read_part_lists().values(), key=lambda p: p.part_uids)
            for name, uid, prompt, description in zip(
                part_list.names,
                part_list.part_uids,
                part_list.prompts(),
                part_list.descriptions,
                strict=True,
            )
        ]
        target = Location.of(path, filesystem)
        with target.filesystem.open_output_stream(target.path) as stream:
            stream.write("".join(f"{line}\n" for line in lines).encode())
        return len(lines)

    def _read_part_lists(self) -> dict[str, PartList]:
        """Every category's ``PartList`` (read once)."""
        if self._part_lists is not None:
            return self._part_lists
        if self._parts_table is None or not self._parts_table.is_file():
            raise FileNotFoundError(f"no parts table at {self._parts_table}")
        columns = ["part_uid", "category", "name", "description", "embedding"]
        table = pq.read_table(
            self._parts_table.path, columns=columns, filesystem=self._parts_table.filesystem
        )
        self._embedding_dim = table.schema.field("embedding").type.list_size
        vectors = table.column("embedding").combine_chunks().flatten().to_numpy()
        vectors = vectors.reshape(table.num_rows, self._embedding_dim).astype(np.float32)
        rows: dict[str, list[int]] = {}
        for row, category in enumerate(table.column("category").to_pylist()):
            rows.setdefault(category, []).append(row)
        uids = table.column("part_uid").to_pylist()
        names = table.column("name").to_pylist()
        descriptions = table.column("description").to_pylist()
        self._part_lists = {}
        for category in sorted(rows):
            order = sorted(rows[category], key=lambda row: uids[row])
            self._part_lists[category] = PartList(
                category,
                tuple(uids[row] for row in order),
                tuple(names[row] for row in order),
                tuple(descriptions[row] for row in order),
                vectors[order],
            )
        return self._part_lists

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
