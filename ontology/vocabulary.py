"""Readers of the datasets' category/part vocabularies.

Every reader returns a vocabulary table: a polars DataFrame with one row per
(dataset, category, part, path) occurrence and its count (``VOCABULARY_SCHEMA``).
``path`` is the part's place in its dataset's hierarchy, ``/``-separated and starting
with the category (``microwave/body/door/glass``); flat vocabularies use
``category/part``.

Formats (``partnet`` and ``3dcompat`` are bundled: ``--vocab partnet`` with no path reads
the copy in ``ontology/data/vocab/``):

* ``partnet``: a folder of PartNet label lists ``<Cat>.txt`` (lines
  ``<id> <path> <leaf|subcomponents|subtypes>``); leaves are the parts.
* ``3dcompat``: a folder with 3DCoMPaT++ ``classes.json``, ``parts_fine.json``,
  ``fine_seg_classes.json`` and, for paths, ``hier_coarse.json``.
* ``find3d``: a folder searched for Find3D ``label_map.json`` files in
  ``<split>/<classname>_<uid>/``; the count is the number of objects with the part.
* ``generic``: a CSV with header ``dataset,category,part`` and optional ``path`` and
  ``count`` columns.
* ``shards``: a features pipeline output (``OUT`` or ``OUT/features``): the raw part
  names its sources found, per source and raw category, through
  ``featurizers.names.part_name`` (instances ``leg_01``/``leg_2`` are ``leg``; made-up
  names such as ``geometry_0`` or ``17_34ea`` are left out); the count is the number of
  shapes with the part. PartNet leaf paths keep their path.

Bad input raises ``VocabularyError`` naming the file (and line) and the reason.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from featurizers.names import part_name
from schemas.common import one_line
from schemas.locations import Location
from schemas.table import FeatureTable, NoCommittedVersion

VOCABULARY_SCHEMA: dict[str, pl.DataType] = {
    "dataset": pl.String,
    "category": pl.String,
    "part": pl.String,
    "path": pl.String,
    "count": pl.Int64,
}

#: Datasets whose every category has one fixed list of part labels: two different
#: labels of one such list are two different parts.
CLOSED_VOCABULARIES = frozenset({"partnet", "3dcompat"})

#: Vocabularies shipped with the package (``ontology/data/vocab/NAME``, with their licenses):
#: ``--vocab NAME`` without a path reads them.
BUNDLED = ("partnet", "3dcompat")
BUNDLED_DIR = Path(__file__).parent / "data" / "vocab"

_PARTNET_LABEL_LIST = re.compile(r"^[A-Za-z]+\.txt$")
_PARTNET_NODE_TYPES = frozenset({"leaf", "subcomponents", "subtypes"})
_GENERIC_REQUIRED = ("dataset", "category", "part")


class VocabularyError(ValueError):
    """A vocabulary input that cannot be read; the message names the input and reason."""


@dataclass(frozen=True)
class VocabularySpec:
    """One ``--vocab NAME=PATH``: the reader ``name`` applied to ``path``."""

    name: str
    path: str

    @classmethod
    def parse(cls, text: str) -> VocabularySpec:
        """``NAME=PATH``, or a bundled vocabulary's ``NAME`` alone (its copy in the package)."""
        name, sep, path = text.partition("=")
        if name not in READERS:
            raise VocabularyError(
                f"--vocab {text!r}: unknown vocabulary {name!r}; known: {', '.join(READERS)}"
            )
        if not sep and name in BUNDLED:
            return cls(name, str(BUNDLED_DIR / name))
        if not path:
            raise VocabularyError(
                f"--vocab {text!r}: expected NAME=PATH (NAME alone for the bundled "
                f"{' and '.join(BUNDLED)})"
            )
        return cls(name, path)


def read_vocabulary(
    spec: VocabularySpec, filesystem: pafs.FileSystem | None = None
) -> pl.DataFrame:
    """The vocabulary table of one input.

    ``spec.path`` is a local path or a URI (``gs://bucket/vocab``), or a path inside
    ``filesystem``.
    """
    source = f"--vocab {spec.name}={spec.path}"
    try:
        location = Location.of(spec.path, filesystem)
        found = location.exists()
    except (OSError, ValueError) as error:
        raise VocabularyError(f"{source}: {one_line(error)}") from error
    if not found:
        raise VocabularyError(f"{source}: no such file or folder")
    try:
        rows = _table(READERS[spec.name](location), source=source)
    except OSError as error:  # a folder that is a file, a listing the filesystem refused
        raise VocabularyError(f"{source}: cannot read: {one_line(error)}") from error
    return vocabulary_table([rows])


def vocabulary_table(tables: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """All occurrences of several inputs, repeated ones summed, sorted."""
    frames = list(tables)
    if not frames:
        return pl.DataFrame(schema=VOCABULARY_SCHEMA)
    keys = [column for column in VOCABULARY_SCHEMA if column != "count"]
    return pl.concat(frames).group_by(keys).agg(pl.col("count").sum()).sort(keys)


def _table(rows: Iterable[tuple[str, str, str, str, int]], source: str) -> pl.DataFrame:
    table = pl.DataFrame(list(rows), schema=VOCABULARY_SCHEMA, orient="row")
    if table.is_empty():
        raise VocabularyError(f"{source}: no parts found")
    return table


def _read_text(path: Location) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise VocabularyError(f"{path}: cannot read: {error}") from error


def _read_json(path: Location) -> object:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise VocabularyError(f"{path}: not valid JSON: {error}") from error


def _partnet_rows(folder: Location) -> Iterator[tuple[str, str, str, str, int]]:
    lists = [p for p in folder.glob("*.txt") if _PARTNET_LABEL_LIST.match(p.name)]
    if not lists:
        raise VocabularyError(f"{folder}: no PartNet label lists (<Cat>.txt)")
    for label_list in lists:
        category = label_list.stem
        for number, line in enumerate(_read_text(label_list).splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 3 or not fields[0].isdigit() or fields[2] not in _PARTNET_NODE_TYPES:
                raise VocabularyError(
                    f"{label_list}:{number}: expected '<id> <path> "
                    f"leaf|subcomponents|subtypes', got {line!r}"
                )
            if fields[2] == "leaf":
                yield "partnet", category, fields[1].rsplit("/", 1)[-1], fields[1], 1


def _3dcompat_rows(folder: Location) -> Iterator[tuple[str, str, str, str, int]]:
    classes = _read_json(folder / "classes.json")
    fine_parts = _read_json(folder / "parts_fine.json")
    seg_file = folder / "fine_seg_classes.json"
    seg_classes = _read_json(seg_file)
    hier_file = folder / "hier_coarse.json"
    coarse_of = _read_json(hier_file) if hier_file.exists() else {}
    if not (isinstance(classes, list) and isinstance(fine_parts, list)):
        raise VocabularyError(f"{folder}: classes.json and parts_fine.json must be lists")
    if not isinstance(seg_classes, dict) or not isinstance(seg_classes.get("seg_classes"), dict):
        raise VocabularyError(f"{seg_file}: expected an object with 'seg_classes'")
    for index, category in enumerate(classes):
        part_indices = seg_classes["seg_classes"].get(str(index))
        if part_indices is None:
            raise VocabularyError(f"{seg_file}: no parts for class {index} ({category})")
        coarse = coarse_of.get(f"{index:02x}", {})
        for part_index in part_indices:
            if not (isinstance(part_index, int) and 0 <= part_index < len(fine_parts)):
                raise VocabularyError(
                    f"{seg_file}: class {index} ({category}) names part {part_index!r}, "
                    f"not an index into parts_fine.json ({len(fine_parts)} parts)"
                )
            part = fine_parts[part_index]
            parent = coarse.get(part, part)
            path = f"{category}/{part}" if parent == part else f"{category}/{parent}/{part}"
            yield "3dcompat", category, part, path, 1


def _find3d_rows(folder: Location) -> Iterator[tuple[str, str, str, str, int]]:
    label_maps = folder.glob("label_map.json", recursive=True)
    if not label_maps:
        raise VocabularyError(f"{folder}: no Find3D label_map.json files")
    for label_map in label_maps:
        category = label_map.parent_name.rsplit("_", 1)[0].replace("_", " ")
        labels = _read_json(label_map)
        if not isinstance(labels, dict) or not all(
            isinstance(name, str) and name.strip() for name in labels.values()
        ):
            raise VocabularyError(f"{label_map}: expected an object of label -> part name")
        for part in sorted(set(labels.values())):
            yield "find3d", category, part, f"{category}/{part}", 1


def _generic_rows(csv_file: Location) -> Iterator[tuple[str, str, str, str, int]]:
    reader = csv.DictReader(io.StringIO(_read_text(csv_file), newline=""))
    try:
        missing = [c for c in _GENERIC_REQUIRED if c not in (reader.fieldnames or ())]
        if missing:
            raise VocabularyError(f"{csv_file}: header lacks column(s) {', '.join(missing)}")
        for row in reader:
            where = f"{csv_file}:{reader.line_num}"
            if None in row or None in row.values():
                raise VocabularyError(f"{where}: expected {len(reader.fieldnames)} fields")
            dataset, category, part = (row[c].strip() for c in _GENERIC_REQUIRED)
            if not (dataset and category and part):
                raise VocabularyError(f"{where}: dataset, category and part must be non-empty")
            count = (row.get("count") or "1").strip()
            if not count.isdigit():
                raise VocabularyError(f"{where}: count {count!r} is not a whole number")
            path = (row.get("path") or "").strip() or f"{category}/{part}"
            yield dataset, category, part, path, int(count)
    except csv.Error as error:
        raise VocabularyError(f"{csv_file}:{reader.line_num}: {error}") from error


def _shard_rows(folder: Location) -> Iterator[tuple[str, str, str, str, int]]:
    shard_dir = folder / "features" if (folder / "features").is_dir() else folder
    try:  # the latest committed version's shards, never files of a half-written run
        shards = FeatureTable(shard_dir).shard_files()
    except NoCommittedVersion as error:
        raise VocabularyError(str(error)) from error
    if not shards:
        raise VocabularyError(f"{shard_dir}: the latest committed version holds no shards")
    try:
        names = (
            pl.concat(_shard_names(shard) for shard in shards)
            .lazy()
            .with_row_index("shape")
            .explode("name_raw")
            .filter(pl.col("category_raw") != "")
            # shards written before names went through part_name may hold instance
            # numbers (leg_2) and made-up names (geometry_0): the same rule applies here
            .with_columns(pl.col("name_raw").map_elements(part_name, return_dtype=pl.String))
            .drop_nulls("name_raw")
            .unique(["shape", "name_raw"])
            .group_by("source", "category_raw", "name_raw")
            .len()
            .sort("source", "category_raw", "name_raw")
            .collect()
        )
    except (pl.exceptions.PolarsError, pa.ArrowException, OSError) as error:
        raise VocabularyError(f"{shard_dir}: unreadable feature shards: {error}") from error
    for source, category, name, count in names.iter_rows():
        part = name.rsplit("/", 1)[-1]
        path = name if "/" in name else f"{category}/{name}"
        yield source, category, part, path, count


def _shard_names(shard: Location) -> pl.DataFrame:
    """``source``, ``category_raw`` and the list of raw part names of every row of a shard."""
    columns = ["source", "category_raw", "parts"]
    table = pq.read_table(shard.path, columns=columns, filesystem=shard.filesystem)
    return pl.DataFrame(pl.from_arrow(table)).select(
        "source",
        "category_raw",
        pl.col("parts").list.eval(pl.element().struct.field("name_raw")).alias("name_raw"),
    )


READERS: dict[str, Callable[[Location], Iterable[tuple[str, str, str, str, int]]]] = {
    "partnet": _partnet_rows,
    "3dcompat": _3dcompat_rows,
    "find3d": _find3d_rows,
    "generic": _generic_rows,
    "shards": _shard_rows,
}
