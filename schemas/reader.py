"""Reading feature shards: shapes as dicts of numpy arrays, or a torch ``Dataset``.

    from schemas.reader import ShardReader
    reader = ShardReader("output/features")  # the latest committed version; version=N
    reader.version                           # which one was read
    for shape in reader:                     # dicts of numpy arrays
        shape["points"]                      # (N, 3) float32
    dataset = reader.torch_dataset()         # map-style: tensors, and parts split into
                                             # part_names, part_names_raw, part_uid

Per-point columns are converted a record batch at a time (one flatten per column),
never point by point.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from schemas.features import is_per_point
from schemas.locations import Location, LocationLike
from schemas.table import FeatureTable


def shard_files(
    location: LocationLike | Sequence[LocationLike],
    filesystem: pafs.FileSystem | None = None,
    version: int | None = None,
) -> tuple[list[Location], int | None]:
    """The shard files to read, and the table version they are.

    A features folder gives the files its committed ``version`` holds (latest by default;
    ``schemas.table``), never what a glob would find; a shard file, or a list of them, gives
    those files (sorted by path) and version None. Locations are local paths or URIs
    (``gs://``, ``file://``), or paths inside ``filesystem`` when one is given.

    Raises:
        NoCommittedVersion: a folder without that committed version (one line).
        ValueError: a version asked of shard files.
    """
    if isinstance(location, (str, os.PathLike, Location)):
        root = Location.of(location, filesystem)
        if not root.is_file():
            table = FeatureTable(root)
            resolved = table.resolve_version(version)
            return table.shard_files(resolved), resolved
        files = [root]
    else:
        files = sorted((Location.of(p, filesystem) for p in location), key=lambda f: f.path)
    if version is not None:
        raise ValueError(f"{location}: shard files have no version; pass their folder")
    return files, None


def _open(shard: Location) -> pq.ParquetFile:
    return pq.ParquetFile(shard.path, filesystem=shard.filesystem)


def _per_point_arrays(column: pa.ListArray, writable: bool = False) -> list[np.ndarray | None]:
    """Split a ``list<...>`` column into one (N,) or (N, D) array per row (None for nulls);
    ``writable``: views of one writable copy of the column's values (torch tensors share
    them without a warning), else read-only views of the Arrow buffers where possible."""
    if column.null_count == len(column):
        return [None] * len(column)
    offsets = column.offsets.to_numpy()
    flat = column.flatten()
    if pa.types.is_fixed_size_list(flat.type):
        width = flat.type.list_size
        values = flat.flatten().to_numpy(zero_copy_only=False, writable=writable)
        values = values.reshape(-1, width)
    else:
        values = flat.to_numpy(zero_copy_only=False, writable=writable)
    base = offsets[0]
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    return [
        values[offsets[i] - base : offsets[i + 1] - base] if valid[i] else None
        for i in range(len(column))
    ]


def batch_to_shapes(batch: pa.RecordBatch, writable: bool = False) -> list[dict[str, Any]]:
    """The shapes of a record batch as dicts; absent (null) feature columns are left out.
    ``writable``: per-point arrays are views of one writable copy per column."""
    columns: dict[str, list] = {}
    for name in batch.schema.names:
        column = batch.column(name)
        if is_per_point(column.type):  # the schema says which columns are per point
            columns[name] = _per_point_arrays(column, writable)
        elif name == "center":
            columns[name] = list(column.flatten().to_numpy().reshape(-1, 3))
        else:
            columns[name] = column.to_pylist()
    shapes = []
    for i in range(batch.num_rows):
        shape = {name: values[i] for name, values in columns.items() if values[i] is not None}
        shapes.append(shape)
    return shapes


class ShardReader:
    """The shapes of a committed version of a features table, in file and row order.

    Args:
        location: a features folder (its committed shard files are read), one shard file,
            or a list of shard files; local paths or URIs (``gs://bucket/out/features``,
            ``file:///data/out/features``).
        columns: columns to read (default: all).
        filesystem: a pyarrow filesystem the locations are paths in (default: from the
            URI, or the local one).
        version: the committed version of a folder to read (default: the latest).

    Attributes:
        files: the shard files read, sorted.
        version: the version read; None when given shard files.
    """

    def __init__(
        self,
        location: LocationLike | Sequence[LocationLike],
        columns: Sequence[str] | None = None,
        filesystem: pafs.FileSystem | None = None,
        version: int | None = None,
    ):
        self.files, self.version = shard_files(location, filesystem, version)
        self.columns = list(columns) if columns is not None else None
        # (file index, row group, row within group) of every shape
        self._index = []
        for f, path in enumerate(self.files):
            file_metadata = _open(path).metadata
            for g in range(file_metadata.num_row_groups):
                self._index.extend((f, g, r) for r in range(file_metadata.row_group(g).num_rows))
        self._cached_group: tuple[tuple[int, int], list[dict[str, Any]]] | None = None

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for path in self.files:
            for batch in _open(path).iter_batches(columns=self.columns):
                yield from batch_to_shapes(batch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One shape by position; the last row group read is kept for its neighbours."""
        file_index, group, row = self._index[index]
        if self._cached_group is None or self._cached_group[0] != (file_index, group):
            table = _open(self.files[file_index]).read_row_group(group, columns=self.columns)
            shapes = [shape for batch in table.to_batches() for shape in batch_to_shapes(batch)]
            self._cached_group = ((file_index, group), shapes)
        return self._cached_group[1][row]

    def torch_dataset(self) -> ShapeDataset:
        return ShapeDataset(self)


class ShapeDataset:
    """A map-style ``torch.utils.data.Dataset`` over a ``ShardReader``.

    Items are dicts: per-point columns as tensors (``points`` (N, 3) float32,
    ``point_part`` (N,) int64, ``dino`` (N, D) float16, ...), ``center`` (3,) float32; the
    shard's ``parts`` column split into ``part_names`` (P canonical names, or raw without an
    ontology), ``part_names_raw`` (P names as the source spells them) and ``part_uid`` (P,)
    int64 (-1 where unresolved), indexed by ``point_part``; the other columns as they are.
    """

    def __init__(self, reader: ShardReader):
        import torch  # the one place schemas/ needs torch

        self._torch = torch
        self.reader = reader

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> dict[str, Any]:
        torch = self._torch
        shape = self.reader[index]
        item: dict[str, Any] = {}
        for name, value in shape.items():
            if name == "point_part":
                item[name] = torch.from_numpy(value.astype(np.int64))
            elif isinstance(value, np.ndarray):  # per-point columns and center
                item[name] = torch.from_numpy(np.array(value))  # copy: Arrow buffers are read-only
            elif name == "parts":
                item["part_names"] = [part["name"] for part in value]
                item["part_names_raw"] = [part["name_raw"] for part in value]
                item["part_uid"] = torch.tensor(
                    [part["part_uid"] for part in value], dtype=torch.int64
                )
            else:
                item[name] = value
        return item
