"""What a training job consumes: the committed features table as torch datasets, with the
ontology's text embeddings joined to every shape's parts, and a collate function.

    from schemas.dataset import ShapeStream, ShapeMap, collate_shapes

    stream = ShapeStream("out/features", columns=["points", "point_part", "dino"],
                         ontology="out-ontology", seed=0, rank=rank, world_size=world)
    stream.set_epoch(epoch)
    loader = DataLoader(stream, batch_size=16, num_workers=2, collate_fn=collate_shapes)

``ShapeStream`` (a ``torch.utils.data.IterableDataset``) reads the shard files a committed
version names (``FeatureTable``, never a glob), local or any ``pyarrow.fs`` URI. Its unit
of work is the row group: the row groups of every file are listed from the footers once,
permuted with a generator seeded by ``(seed, epoch)`` (the same permutation in every rank
and worker), and dealt round-robin to the ``world_size * num_workers`` readers (reader
``rank * num_workers + worker``), so each shape comes exactly once per epoch over ranks
and workers. Each reader reads its row groups one at a time (only the requested columns)
and yields as soon as the first is decoded, through a shuffle buffer of
``shuffle_buffer`` shapes seeded by ``(seed, epoch, rank, worker)``. Ranks get whole row
groups, so their shape counts can differ by up to a row group's shapes per reader.

``ShapeMap`` is the map-style dataset: ``dataset[i]`` reads the one row group holding
shape ``i`` (only the requested columns) and keeps it for its neighbours;
``dataset.__getitems__(indices)``, which ``DataLoader`` calls with a whole batch, reads
each row group the batch touches once; ``RowGroupSampler`` orders an epoch row group by
row group, so a shuffled epoch reads each row group about once.

Items (dicts): every requested per-point column as a tensor (``points`` (N, 3) float32,
``point_part`` (N,) int64, ``dino`` (N, D) float16, ...; a column null in a row is absent
from its item), ``center`` (3,) float32 when read, ``shape_id``, ``category`` and the
other scalar columns as they are; ``parts`` (A canonical part names, indexed by
``point_part``), ``part_names_raw`` (A) and ``part_uid`` (A,) int64. With an ontology
(its output folder, ``OUT`` or ``OUT/ontology``): ``part_embeddings`` (A, D) float32, row
``a`` the ``embedding`` of ``parts.parquet`` row ``part_uid[a]``; ``part_embedding_valid``
(A,) bool; ``category_embedding`` (D,) float32 and ``category_uid`` (int, -1 unknown) from
``categories.parquet`` by the canonical category name; ``unresolved_parts`` (int): parts
of the shape the ontology did not resolve (``part_uid`` -1), before the policy:

- ``unresolved="unlabeled"`` (default): such a part is dropped, its points become
  unlabeled (``point_part`` -1) and the remaining parts are renumbered in order;
- ``unresolved="zero"``: it is kept, with a zero embedding and
  ``part_embedding_valid`` False (a loss can mask it or learn its own embedding).

A category the ontology does not know gets a zero ``category_embedding`` and
``category_uid`` -1. Every reader logs one warning per pass with the counts it met, and
``count_unresolved()`` counts them over the whole version from the small ``parts`` and
``category`` columns. The ontology must be the one the table was built with: the
SHA-256 of its alias log is compared with the shards' ``config.ontology``.
"""

from __future__ import annotations

import bisect
import json
import logging
import multiprocessing
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from pyarrow import fs as pafs
from torch.utils.data import Dataset, IterableDataset, Sampler, get_worker_info

from ontology.alias_map import AliasMap
from schemas.features import META_RUN
from schemas.locations import Location, LocationLike
from schemas.reader import batch_to_shapes, shard_files

log = logging.getLogger(__name__)

#: What happens to parts the ontology did not resolve (``part_uid`` -1).
UNRESOLVED_POLICIES = ("unlabeled", "zero")
#: Columns every item carries whatever ``columns`` asks for (small).
IDENTITY_COLUMNS = ("shape_id", "category", "parts")
#: Collated keys of the parts axis, padded to the batch's largest part count.
_PART_KEYS = ("part_uid", "part_embeddings", "part_embedding_valid")


class OntologyText:
    """The ontology's text embeddings, row ``i`` of ``parts.parquet`` being ``part_uid`` i.

    Attributes:
        part_embeddings: (P, D) float32, unit norm. part_names, part_categories: P names.
        category_embeddings: (C, D) float32. category_names: C canonical names.
        alias_log_sha256: ``AliasMap.fingerprint`` of ``alias_log.jsonl`` (what feature
            shards record).
    """

    def __init__(self, location: LocationLike, filesystem: pafs.FileSystem | None = None):
        folder = Location.of(location, filesystem)
        if (folder / "ontology").is_dir():
            folder = folder / "ontology"
        self.folder = folder
        parts = self._read("parts.parquet", ["part_uid", "category", "name", "embedding"])
        categories = self._read("categories.parquet", ["category_uid", "name", "embedding"])
        for table, uid in ((parts, "part_uid"), (categories, "category_uid")):
            if table[uid].to_pylist() != list(range(table.num_rows)):
                raise ValueError(f"{folder}: {uid} is not the row index of its table")
        self.part_embeddings = _matrix(parts["embedding"])
        self.part_names = parts["name"].to_pylist()
        self.part_categories = parts["category"].to_pylist()
        self.category_embeddings = _matrix(categories["embedding"])
        self.category_names = categories["name"].to_pylist()
        self._category_uid = {name: uid for uid, name in enumerate(self.category_names)}
        self.alias_log_sha256 = AliasMap.fingerprint(folder)

    def _read(self, name: str, columns: list[str]) -> pa.Table:
        file = self.folder / name
        if not file.is_file():
            raise FileNotFoundError(f"{file}: not an ontology output (run --pipeline ontology)")
        return pq.read_table(file.path, columns=columns, filesystem=file.filesystem)

    @property
    def dim(self) -> int:
        return int(self.part_embeddings.shape[1])

    def category_uid(self, name: str) -> int:
        """The row of a canonical category name in ``categories.parquet``; -1 if unknown."""
        return self._category_uid.get(name, -1)


def _matrix(column: pa.ChunkedArray) -> np.ndarray:
    """A ``fixed_size_list<float32, D>`` column as a (rows, D) float32 array."""
    array = column.combine_chunks()
    width = array.type.list_size
    return array.flatten().to_numpy(zero_copy_only=False).reshape(-1, width).astype(np.float32)


@dataclass(frozen=True)
class RowGroup:
    """One row group of a shard file: the stream's unit of work."""

    file: int  # index into the dataset's files
    group: int  # row group within the file
    rows: int


class _Shapes:
    """What both datasets share: the committed files and their row groups, the columns to
    read, the ontology join and the unresolved-name policy."""

    def __init__(
        self,
        location: LocationLike,
        columns: Sequence[str] | None,
        ontology: LocationLike | OntologyText | None,
        unresolved: str,
        version: int | None,
        filesystem: pafs.FileSystem | None,
        split: str | None,
        splits: str,
    ):
        if unresolved not in UNRESOLVED_POLICIES:
            raise ValueError(f"unresolved={unresolved!r}: expected one of {UNRESOLVED_POLICIES}")
        self.files, self.version = shard_files(location, filesystem, version)
        self.columns = None if columns is None else _with_identity(columns)
        self.unresolved = unresolved
        with ThreadPoolExecutor(8) as pool:  # footers only; concurrent for remote stores
            self._metadata = list(pool.map(_footer, self.files))
        self.row_groups = [
            RowGroup(f, g, metadata.row_group(g).num_rows)
            for f, metadata in enumerate(self._metadata)
            for g in range(metadata.num_row_groups)
        ]
        self.num_shapes = sum(group.rows for group in self.row_groups)
        self.text = None
        if ontology is not None:
            self.text = ontology if isinstance(ontology, OntologyText) else OntologyText(ontology)
            self._check_ontology()
        self.split = split
        self._splits = None
        if split is not None:
            from schemas.splits import Splits

            self._splits = Splits.load(Location.of(location, filesystem), splits)
            if split not in self._splits.names():
                raise ValueError(f"split {split!r} is not one of {self._splits.names()}")

    def _check_ontology(self) -> None:
        """Refuse an ontology other than the one the shards' part_uids index."""
        for file, metadata in zip(self.files, self._metadata, strict=True):
            run = json.loads((metadata.metadata or {}).get(META_RUN, b"{}"))
            used = run.get("config", {}).get("ontology")
            if used != self.text.alias_log_sha256:
                built = f"alias log {used[:12]}" if used else "no --ontology"
                raise ValueError(
                    f"{file}: built with {built}, not with the ontology in {self.text.folder} "
                    f"(alias log {self.text.alias_log_sha256[:12]}): its part_uids index "
                    "another parts table"
                )

    def read(self, group: RowGroup) -> pa.Table:
        """One row group's requested columns (rows of other splits left out)."""
        file = self.files[group.file]
        parquet = pq.ParquetFile(
            file.path,
            filesystem=file.filesystem,
            metadata=self._metadata[group.file],
            pre_buffer=True,
        )
        table = parquet.read_row_group(group.group, columns=self.columns)
        if self._splits is None:
            return table
        keep = [self._splits.split_of(i) == self.split for i in table["shape_id"].to_pylist()]
        return table.filter(pa.array(keep, pa.bool_()))

    def items(self, table: pa.Table, counts: Counter) -> list[dict[str, Any]]:
        """The items of a decoded table, in row order; ``counts`` adds what was unresolved."""
        return [
            self.item(shape, counts)
            for batch in table.to_batches()
            for shape in batch_to_shapes(batch, writable=True)
        ]

    def item(self, shape: dict[str, Any], counts: Counter) -> dict[str, Any]:
        """One shape's item (see the module docstring) from ``batch_to_shapes``' dict."""
        item: dict[str, Any] = {}
        parts = shape.pop("parts")
        for name, value in shape.items():
            if name == "point_part":
                item[name] = torch.from_numpy(value.astype(np.int64))
            elif isinstance(value, np.ndarray):  # per-point columns (writable views), center
                item[name] = torch.from_numpy(value if value.flags.writeable else value.copy())
            else:
                item[name] = value
        uids = np.array([part["part_uid"] for part in parts], dtype=np.int64)
        if self.text is not None:
            missing = uids < 0
            counts["shapes"] += 1
            counts["parts"] += int(missing.sum())
            counts["shapes_with_unresolved"] += int(missing.any())
            item["unresolved_parts"] = int(missing.sum())
            if missing.any() and self.unresolved == "unlabeled":
                kept = np.flatnonzero(~missing)
                if "point_part" in item:  # index -1 reads the table's last entry: -1
                    renumber = np.full(len(parts) + 1, -1, dtype=np.int64)
                    renumber[kept] = np.arange(len(kept))
                    item["point_part"] = torch.from_numpy(renumber[item["point_part"].numpy()])
                parts, uids = [parts[i] for i in kept], uids[kept]
            valid = uids >= 0
            embeddings = self.text.part_embeddings[np.where(valid, uids, 0)]  # (A, D), a copy
            embeddings[~valid] = 0.0
            item["part_embeddings"] = torch.from_numpy(embeddings)
            item["part_embedding_valid"] = torch.from_numpy(valid)
            category_uid = self.text.category_uid(item["category"])
            counts["categories"] += int(category_uid < 0)
            item["category_uid"] = category_uid
            category = np.zeros(self.text.dim, np.float32)
            if category_uid >= 0:
                category = self.text.category_embeddings[category_uid].copy()
            item["category_embedding"] = torch.from_numpy(category)
        item["parts"] = [part["name"] for part in parts]
        item["part_names_raw"] = [part["name_raw"] for part in parts]
        item["part_uid"] = torch.from_numpy(uids)
        return item

    def report(self, counts: Counter, reader: str) -> None:
        """Log what a pass met that the ontology did not resolve (nothing when all did)."""
        if counts["parts"] or counts["categories"]:
            action = {"unlabeled": "their points unlabeled", "zero": "kept, zero embedding"}
            log.warning(
                "%s: %d of %d shapes had parts the ontology did not resolve (%d parts, %s); "
                "%d shapes of an unknown category (zero category embedding)",
                reader,
                counts["shapes_with_unresolved"],
                counts["shapes"],
                counts["parts"],
                action[self.unresolved],
                counts["categories"],
            )

    def count_unresolved(self) -> Counter:
        """``(category, raw part name)`` -> shapes, over every shape of the version whose
        part the ontology did not resolve; ``(category, None)`` counts shapes of a category
        the ontology does not know. Reads only the ``category`` and ``parts`` columns."""
        found: Counter = Counter()
        for file in self.files:
            table = pq.read_table(
                file.path, columns=["category", "parts"], filesystem=file.filesystem
            )
            rows = zip(table["category"].to_pylist(), table["parts"].to_pylist(), strict=True)
            for category, parts in rows:
                if self.text is not None and self.text.category_uid(category) < 0:
                    found[(category, None)] += 1
                for name in sorted({p["name_raw"] for p in parts if p["part_uid"] < 0}):
                    found[(category, name)] += 1
        return found


def _with_identity(columns: Sequence[str]) -> list[str]:
    return list(IDENTITY_COLUMNS) + [name for name in columns if name not in IDENTITY_COLUMNS]


def _footer(file: Location) -> pq.FileMetaData:
    return pq.ParquetFile(file.path, filesystem=file.filesystem).metadata


class ShapeStream(IterableDataset):
    """The shapes of a committed version, streamed (see the module docstring).

    Args:
        location: a features folder (``OUT/features``; local path or URI) or shard files.
        columns: columns to read (default: all); ``shape_id``, ``category`` and ``parts``
            are always read.
        ontology: the ontology output the table was built with (``OUT``/``OUT/ontology``
            or an ``OntologyText``): adds the text embeddings.
        seed: seeds the epoch's row-group permutation and the shuffle buffers.
        rank, world_size: this process's distributed rank and the number of ranks.
        shuffle: False reads row groups and rows in file order (split the same way).
        version: the committed version (default: the latest).
        unresolved: ``"unlabeled"`` or ``"zero"``: what parts without ``part_uid`` become.
        shuffle_buffer: shapes held to shuffle rows across row groups (memory: that many
            decoded shapes per reader).
        split, splits: keep only the shapes of ``split`` in the stored split ``splits``
            (``schemas.splits``).
        filesystem: a pyarrow filesystem ``location`` is a path in.
    """

    def __init__(
        self,
        location: LocationLike,
        columns: Sequence[str] | None = None,
        ontology: LocationLike | OntologyText | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        *,
        version: int | None = None,
        unresolved: str = "unlabeled",
        shuffle_buffer: int = 16,
        split: str | None = None,
        splits: str = "default",
        filesystem: pafs.FileSystem | None = None,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        super().__init__()
        self.shapes = _Shapes(
            location, columns, ontology, unresolved, version, filesystem, split, splits
        )
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.shuffle, self.shuffle_buffer = shuffle, max(1, shuffle_buffer)
        # shared with DataLoader workers, persistent ones included (inherited when they start)
        self._epoch = multiprocessing.RawValue("q", 0)

    @property
    def files(self) -> list[Location]:
        return self.shapes.files

    @property
    def version(self) -> int | None:
        return self.shapes.version

    @property
    def num_shapes(self) -> int:
        """Shapes in the version (every split, every rank)."""
        return self.shapes.num_shapes

    @property
    def text_dim(self) -> int | None:
        """D of the ontology's embeddings (None without an ontology)."""
        return None if self.shapes.text is None else self.shapes.text.dim

    @property
    def epoch(self) -> int:
        return self._epoch.value

    def set_epoch(self, epoch: int) -> None:
        """Call before each epoch (in every rank): another epoch, another order. Reaches
        the DataLoader's workers, also ``persistent_workers``."""
        self._epoch.value = epoch

    def row_groups_for(
        self, worker: int = 0, num_workers: int = 1, epoch: int | None = None
    ) -> list[RowGroup]:
        """The row groups one reader (this rank, ``worker`` of ``num_workers``) reads in
        ``epoch`` (default: the current one), in order."""
        groups = list(self.shapes.row_groups)
        if self.shuffle:
            seeds = [self.seed, self.epoch if epoch is None else epoch]
            order = np.random.default_rng(seeds).permutation(len(groups))
            groups = [groups[i] for i in order]
        readers = self.world_size * num_workers
        return groups[self.rank * num_workers + worker :: readers]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info else (0, 1)
        epoch = self.epoch
        groups = self.row_groups_for(worker, num_workers, epoch)
        counts: Counter = Counter()
        items = (
            item for group in groups for item in self.shapes.items(self.shapes.read(group), counts)
        )
        if self.shuffle:
            rng = np.random.default_rng([self.seed, epoch, self.rank, worker])
            items = _shuffled(items, self.shuffle_buffer, rng)
        yield from items
        reader = f"ShapeStream epoch {epoch} rank {self.rank} worker {worker}"
        self.shapes.report(counts, reader)

    def count_unresolved(self) -> Counter:
        return self.shapes.count_unresolved()


def _shuffled(items: Iterator, size: int, rng: np.random.Generator) -> Iterator:
    """``items`` through a buffer of ``size``: each arrival swaps out a random held item."""
    buffer: list = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        slot = int(rng.integers(size))
        buffer[slot], item = item, buffer[slot]
        yield item
    for slot in rng.permutation(len(buffer)):
        yield buffer[slot]


class ShapeMap(Dataset):
    """The shapes of a committed version by position (file order, then row order).

    Takes ``ShapeStream``'s arguments other than the ordering ones. Without a ``split``,
    position ``i`` is the ``i``-th row of the version; with one, the ``i``-th row of that
    split (finding them reads the ``shape_id`` column once).
    """

    def __init__(
        self,
        location: LocationLike,
        columns: Sequence[str] | None = None,
        ontology: LocationLike | OntologyText | None = None,
        *,
        version: int | None = None,
        unresolved: str = "unlabeled",
        split: str | None = None,
        splits: str = "default",
        filesystem: pafs.FileSystem | None = None,
    ):
        self.shapes = _Shapes(
            location, columns, ontology, unresolved, version, filesystem, None, splits
        )
        # the rows of each row group this dataset serves, and where each group starts
        self._rows = [list(range(group.rows)) for group in self.shapes.row_groups]
        if split is not None:
            from schemas.splits import Splits

            stored = Splits.load(Location.of(location, filesystem), splits)
            for g, group in enumerate(self.shapes.row_groups):
                file = self.shapes.files[group.file]
                ids = _group_ids(file, self.shapes._metadata[group.file], group.group)
                self._rows[g] = [r for r, i in enumerate(ids) if stored.split_of(i) == split]
        self._starts = np.cumsum([0] + [len(rows) for rows in self._rows]).tolist()
        self._cached: tuple[int, pa.Table] | None = None

    def __len__(self) -> int:
        return self._starts[-1]

    def _locate(self, index: int) -> tuple[int, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} shapes")
        index %= len(self)
        group = bisect.bisect_right(self._starts, index) - 1
        return group, self._rows[group][index - self._starts[group]]

    def _group(self, group: int) -> pa.Table:
        if self._cached is None or self._cached[0] != group:
            self._cached = (group, self.shapes.read(self.shapes.row_groups[group]))
        return self._cached[1]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Several shapes, in the order asked, reading each row group they lie in once."""
        located = [self._locate(index) for index in indices]
        items: dict[tuple[int, int], dict[str, Any]] = {}
        counts: Counter = Counter()
        for group in sorted({g for g, _ in located}):
            rows = sorted({r for g, r in located if g == group})
            table = self._group(group)
            if rows != list(range(table.num_rows)):  # a take copies the rows' values
                table = table.take(pa.array(rows, pa.int64()))
            decoded = self.shapes.items(table, counts)
            items.update(((group, r), it) for r, it in zip(rows, decoded, strict=True))
        self.shapes.report(counts, "ShapeMap")
        return [dict(items[key]) for key in located]

    def count_unresolved(self) -> Counter:
        return self.shapes.count_unresolved()


class RowGroupSampler(Sampler[int]):
    """A ``ShapeMap``'s positions row group by row group, for ``DataLoader(sampler=...)``.

    Row groups come in an order permuted by ``(seed, epoch)`` (``set_epoch``), the rows of
    each shuffled within it, so a batch holds whole row groups and reads each of them once
    (a row group split by a batch boundary is read by both batches). A plain
    ``shuffle=True`` spreads a row group's rows over up to that many batches, each reading
    it again. Single process; ``ShapeStream`` splits work across ranks.
    """

    def __init__(self, dataset: ShapeMap, seed: int = 0, shuffle: bool = True):
        self.dataset, self.seed, self.shuffle, self.epoch = dataset, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        starts, rows = self.dataset._starts, self.dataset._rows
        groups = np.arange(len(rows))
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.shuffle:
            groups = rng.permutation(groups)
        for group in groups:
            positions = starts[group] + np.arange(len(rows[group]))
            yield from (rng.permutation(positions) if self.shuffle else positions).tolist()


def _group_ids(file: Location, metadata: pq.FileMetaData, group: int) -> list[str]:
    parquet = pq.ParquetFile(file.path, filesystem=file.filesystem, metadata=metadata)
    return parquet.read_row_group(group, columns=["shape_id"])["shape_id"].to_pylist()


def collate_shapes(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A batch of B items as the tensors a set-matching loss needs.

    Returns:
        Every tensor column stacked: ``points`` (B, N, 3), ``point_part`` (B, N) int64,
        ``dino`` (B, N, D), ``category_embedding`` (B, D), ...; ``category_uid`` (B,)
        int64 with an ontology. The parts axis padded to A = the batch's largest part
        count: ``part_mask`` (B, A, N) bool (point n is in part a; needs ``point_part``),
        ``part_valid`` (B, A) bool (a real part), ``part_uid`` (B, A) int64 (-1 padding),
        ``part_embeddings`` (B, A, D) float32 (zero padding) and ``part_embedding_valid``
        (B, A) bool with an ontology. Everything else (``shape_id``, ``category``,
        ``parts``, ``part_names_raw``, ...) as lists of B.

    Raises:
        ValueError: a column present in some items only, or of different shapes (points
            counts differ), naming the column and two shape ids.
    """
    if not items:
        raise ValueError("collate_shapes: an empty batch")
    batch: dict[str, Any] = {}
    counts = [len(item["parts"]) for item in items]
    width = max(counts)
    batch["part_valid"] = torch.arange(width)[None, :] < torch.tensor(counts)[:, None]
    for key in items[0]:
        values = [item.get(key) for item in items]
        if any(value is None for value in values):
            missing = items[values.index(None)]["shape_id"]
            raise ValueError(f"collate_shapes: {key!r} is in {items[0]['shape_id']}, not {missing}")
        if key in _PART_KEYS:
            fill = -1 if key == "part_uid" else 0
            padded = values[0].new_full((len(items), width, *values[0].shape[1:]), fill)
            for row, value in enumerate(values):
                padded[row, : len(value)] = value
            batch[key] = padded
        elif isinstance(values[0], torch.Tensor):
            shapes = {tuple(value.shape) for value in values}
            if len(shapes) > 1:
                odd = next(i for i, v in enumerate(values) if v.shape != values[0].shape)
                raise ValueError(
                    f"collate_shapes: {key!r} is {tuple(values[0].shape)} in "
                    f"{items[0]['shape_id']} but {tuple(values[odd].shape)} in "
                    f"{items[odd]['shape_id']}"
                )
            batch[key] = torch.stack(values)
        elif key in ("category_uid", "unresolved_parts"):
            batch[key] = torch.tensor(values, dtype=torch.int64)
        else:
            batch[key] = values
    if "point_part" in batch:
        parts = torch.arange(width)[None, :, None]
        batch["part_mask"] = batch["point_part"][:, None, :] == parts
    return batch
