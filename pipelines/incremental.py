"""Reruns that do only what is not done: the shard files already in an output are the cache.

Every shard row holds its shape id, ``mesh_sha256`` (the hash of the input's files, taken
before reading them: ``pipelines.sources.fingerprint``) and ``config_hash``. A shape of
this run whose input hash and config hash equal those of a row already written is not
loaded, rendered or featurized again: its manifest row says ``skipped_cached``. Rows
written by a run that was killed before its commit count too, so a resumed run does not
redo them. Files are immutable: a shard whose rows are all still wanted is committed
again as it is; one that also holds rows no longer wanted (a changed input, a shape no
longer among the inputs, a shape whose other copy is chosen) has its wanted rows moved
into a new shard, and stays in the folder only as long as an earlier version names it.

The graph pieces, in order:

- ``list_shard_files`` + ``ReadCachedRows``: every row of every shard in the features
  folder as ``(shape_id, CachedRow)``.
- ``PlanShape``: a shape id with its inputs and cached rows -> the input to featurize
  (main output), a ``RowUse`` per cached row (``USES``), failures (``FAILED``).
- ``ResolveShard``: a shard with the uses of its rows -> the manifest rows of a shard
  kept whole (main output) or the rows to move (``MOVE``).
- ``MoveRows``: reads the rows to move (and their views) back as ``ShardItem``s for the
  shard writer.
- ``assign_shards``: spreads the inputs to featurize over new shards by a hash of their id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.sinks import META_WARNINGS, ManifestEntry, ShardItem
from pipelines.sources import SourceInput
from pipelines.sources.fingerprint import input_sha256
from pipelines.stages import FAILED, ShapeTask, ShardKey
from schemas.common import one_line
from schemas.table import SHARD_FILES, FeatureTable

LOGGER = logging.getLogger(__name__)

#: Tagged outputs.
USES = "uses"
MOVE = "move"


@dataclass(frozen=True)
class CachedRow:
    """One row already written to a shard file of the output.

    Attributes:
        shard: the shard file's name.
        committed: whether the latest committed version names the file (preferred over a
            copy in a file that a killed run left).
        input_sha256, config_hash: what the row was made from.
        shard_rows: rows in the file.
        warnings: the row's warnings as its manifest row had them.
        has_views: whether a views file of the same name exists.
    """

    shard: str
    committed: bool
    input_sha256: str
    config_hash: str
    shard_rows: int
    warnings: tuple[str, ...] = ()
    has_views: bool = False


@dataclass(frozen=True)
class RowUse:
    """What this run does with one cached row: keep it (``wanted``, for ``uri``) or not."""

    shape_id: str
    shard_rows: int
    wanted: bool = False
    uri: str = ""
    warnings: tuple[str, ...] = ()
    input_sha256: str = ""


def list_shard_files(features_dir: str) -> Iterator[tuple[str, bool]]:
    """``(name, committed)`` of every shard file in the features folder, sorted by name."""
    table = FeatureTable(features_dir)
    committed = set(table.shard_names()) if table.latest_version() is not None else set()
    matched = FileSystems.match([FileSystems.join(features_dir, SHARD_FILES)])[0]
    for name in sorted(FileSystems.split(meta.path)[1] for meta in matched.metadata_list):
        yield name, name in committed


class ReadCachedRows(beam.DoFn):
    """``(shard name, committed)`` -> ``(shape_id, CachedRow)`` per row of the file.

    Only the three key columns and the footer are read. A file that cannot be read (it
    should not exist: files are written whole or not at all) is logged and ignored; its
    shapes are featurized again.
    """

    def __init__(self, features_dir: str, views_dir: str):
        self.features_dir = features_dir
        self.views_dir = views_dir

    def process(self, named: tuple[str, bool]) -> Iterator[tuple[str, CachedRow]]:
        name, committed = named
        path = FileSystems.join(self.features_dir, name)
        try:
            with FileSystems.open(path) as handle:
                shard = pq.ParquetFile(handle)
                metadata = shard.metadata.metadata or {}  # the footer's key-value pairs
                keys = shard.read(columns=["shape_id", "mesh_sha256", "config_hash"])
        except Exception as exc:  # any unreadable file: recompute its shapes
            LOGGER.warning("ignoring unreadable shard %s: %s", path, one_line(exc))
            return
        warnings = json.loads(metadata.get(META_WARNINGS, b"{}"))
        has_views = FileSystems.exists(FileSystems.join(self.views_dir, name))
        for shape_id, digest, config_hash in zip(
            *(keys.column(i).to_pylist() for i in range(3)), strict=True
        ):
            yield (
                shape_id,
                CachedRow(
                    name,
                    committed,
                    digest,
                    config_hash,
                    keys.num_rows,
                    tuple(warnings.get(shape_id, ())),
                    has_views,
                ),
            )


class PlanShape(beam.DoFn):
    """Decides, per shape id, whether its input is featurized or its cached row reused.

    Input: ``(shape_id, {"inputs": [SourceInput], "cached": [CachedRow]})``.

    Main output ``(SourceInput, input_sha256)``: an input to featurize. ``USES``:
    ``(shard, RowUse)`` for every cached row (the chosen one wanted: the same input hash
    and config hash, views present when ``emit_views``; a committed copy first, then the
    first file by name). ``FAILED``: ``ManifestEntry`` of inputs sharing one shape id (their
    rows could not be told apart, so none of them runs).
    """

    def __init__(self, config_hash: str, emit_views: bool):
        self.config_hash = config_hash
        self.emit_views = emit_views

    def process(self, grouped: tuple[str, dict]) -> Iterator:
        shape_id, found = grouped
        inputs: list[SourceInput] = sorted(found["inputs"])
        cached = sorted(found["cached"], key=lambda row: (not row.committed, row.shard))
        chosen, digest = None, ""
        if len(inputs) > 1:
            for source_input in inputs:
                yield beam.pvalue.TaggedOutput(
                    FAILED,
                    ManifestEntry(
                        shape_id,
                        source_input.uri,
                        "failed",
                        f"discover: {len(inputs)} inputs share the shape id {shape_id} "
                        "(rename all but one); none of them runs",
                    ),
                )
        elif inputs:
            digest = input_sha256(inputs[0])
            chosen = next((row for row in cached if self.reusable(row, digest)), None)
            if chosen is None:
                yield inputs[0], digest
        for row in cached:
            use = RowUse(shape_id, row.shard_rows)
            if row is chosen:
                use = RowUse(shape_id, row.shard_rows, True, inputs[0].uri, row.warnings, digest)
            yield beam.pvalue.TaggedOutput(USES, (row.shard, use))

    def reusable(self, row: CachedRow, digest: str) -> bool:
        return (
            row.input_sha256 == digest
            and row.config_hash == self.config_hash
            and (row.has_views or not self.emit_views)
        )


def resolve_shard(keyed: tuple[str, list[RowUse]]) -> Iterator:
    """A shard and the uses of its rows -> its ``skipped_cached`` manifest rows when every
    row is wanted (the file is committed again as it is), or ``(shard, wanted uses)``
    tagged ``MOVE`` when only some are; nothing when none is."""
    shard, uses = keyed
    wanted = sorted((use for use in uses if use.wanted), key=lambda use: use.shape_id)
    if not wanted:
        return
    if len(wanted) == wanted[0].shard_rows:
        for use in wanted:
            yield ManifestEntry(
                use.shape_id, use.uri, "skipped_cached", shard=shard, warnings=use.warnings
            )
    else:
        yield beam.pvalue.TaggedOutput(MOVE, (shard, wanted))


class MoveRows(beam.DoFn):
    """``(shard, wanted uses)`` -> ``(ShardKey, ShardItem)`` per wanted row, read back from
    the shard (and its views file), status ``skipped_cached``: the shard writer writes them
    together into a new shard. A shard that cannot be read gives ``FAILED`` manifest rows
    (the shapes are featurized on the next run)."""

    def __init__(self, features_dir: str, views_dir: str):
        self.features_dir = features_dir
        self.views_dir = views_dir

    def process(self, keyed: tuple[str, list[RowUse]]) -> Iterator:
        shard, wanted = keyed
        ids = [use.shape_id for use in wanted]
        try:
            rows = self.read(FileSystems.join(self.features_dir, shard), ids)
            views_path = FileSystems.join(self.views_dir, shard)
            views = self.read(views_path, ids) if FileSystems.exists(views_path) else None
        except Exception as exc:  # an unreadable shard: its shapes fail this run
            reason = f"cache: {shard} unreadable: {one_line(exc)}"
            for use in wanted:
                yield beam.pvalue.TaggedOutput(
                    FAILED, ManifestEntry(use.shape_id, use.uri, "failed", reason)
                )
            return
        key = ShardKey(f"carry/{shard}", len(wanted))
        for use in wanted:
            row = rows.filter(pc.equal(rows["shape_id"], use.shape_id))
            row_views = (
                None if views is None else views.filter(pc.equal(views["shape_id"], use.shape_id))
            )
            yield (
                key,
                ShardItem(
                    use.shape_id,
                    use.uri,
                    row,
                    use.warnings,
                    status="skipped_cached",
                    views=row_views,
                    input_sha256=use.input_sha256,
                ),
            )

    @staticmethod
    def read(path: str, shape_ids: list[str]) -> pa.Table:
        with FileSystems.open(path) as handle:
            return pq.read_table(handle, filters=[("shape_id", "in", shape_ids)])


def shard_bucket(shape_id: str, buckets: int) -> int:
    """The new shard (of ``buckets``) a shape featurized in this run goes to: a stable hash
    of its id, the same in every process and run."""
    digest = hashlib.sha256(shape_id.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "little") % buckets


def tasks_of_bucket(keyed: tuple[int, list[tuple[SourceInput, str]]]) -> list[ShapeTask]:
    """A new shard's inputs (``(SourceInput, input hash)``) -> its tasks, by shape id."""
    bucket, members = keyed
    members = sorted(members)
    key = ShardKey(f"new/{bucket:05d}", len(members))
    return [ShapeTask(key, source_input, digest) for source_input, digest in members]


class AssignShards(beam.PTransform):
    """Inputs to featurize -> ``ShapeTask``s, grouped into about ``shapes_per_shard`` per
    new shard (``ceil(count / shapes_per_shard)`` shards, by ``shard_bucket``). What is
    grouped is the tasks (names and hashes), never rows."""

    def __init__(self, shapes_per_shard: int):
        super().__init__()
        self.shapes_per_shard = shapes_per_shard

    def expand(self, todo: beam.PCollection) -> beam.PCollection:
        count = todo | "Count" >> beam.combiners.Count.Globally()

        def keyed(item: tuple[SourceInput, str], total: int) -> tuple[int, tuple]:
            buckets = max(1, math.ceil(total / self.shapes_per_shard))
            return shard_bucket(item[0].shape_id, buckets), item

        return (
            todo
            | "Bucket" >> beam.Map(keyed, total=beam.pvalue.AsSingleton(count))
            | "GroupTasks" >> beam.GroupByKey()
            | "Tasks" >> beam.FlatMap(tasks_of_bucket)
        )
