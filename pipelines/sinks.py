"""Writing shards, the manifest and run files: atomic (temp file, then rename).

Files are written with ``schemas.common.write_atomically`` (the one atomic write, shared
with the Beam-free packages: ``pyarrow.fs``, so local paths and ``gs://`` alike); folders
are probed, listed and cleaned with Beam's ``FileSystems``.

Text that reaches Parquet or JSON here is always valid: invalid text from the inputs (a
lone surrogate in a name, a non-UTF-8 path) is escaped with ``escape_invalid_text``, so a
bad name never takes down the manifest or the run's summary.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from featurizers.names import escape_invalid_text
from schemas.common import write_atomically
from schemas.features import MANIFEST_SCHEMA
from schemas.views import VIEWS_SCHEMA, views_table

LOGGER = logging.getLogger(__name__)

PARQUET_COMPRESSION = "zstd"
SHARD_PREFIX = "part"
#: Schema metadata key of a shard file: JSON ``{shape_id: [warning, ...]}`` of its rows with
#: warnings, so a rerun that reuses a row keeps its manifest warnings.
META_WARNINGS = b"partbank.warnings"


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest row: what happened to one input.

    ``warnings``: one-line notes on an ``ok`` shape (a texture that could not be loaded, a
    name that had to be escaped).
    """

    shape_id: str
    uri: str
    status: str
    error: str = ""
    shard: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShardItem:
    """One row on its way into a shard file, with what its manifest row needs.

    Attributes:
        row: a ``ShardRow`` (featurized in this run), or a one-row ``pyarrow.Table`` of the
            shard schema (a cached row moved out of an earlier shard).
        status: its manifest status, ``ok`` or ``skipped_cached``.
        views: its per-view records (``featurizers.views.view_records``), the views
            table rows of a moved row, or None.
        input_sha256: the hash of its input files (part of the shard's name).
    """

    shape_id: str
    uri: str
    row: Any
    warnings: tuple[str, ...] = ()
    status: str = "ok"
    views: list[dict] | None = None
    part_names: tuple[str, ...] = ()
    input_sha256: str = ""


class OutputError(OSError):
    """An output folder that cannot be written; the message is one line naming it."""


def ensure_writable(folder: str) -> None:
    """Check that a run can write into ``folder`` by writing and deleting a probe file.

    Works on any file system Beam knows (local, ``gs://`` with credentials). Local folders
    created for the probe are removed again, so the check leaves nothing behind.

    Raises:
        OutputError: the folder cannot be created or written.
    """
    created = [] if "://" in folder else _missing_folders(folder)
    try:
        probe = FileSystems.join(folder, f".partbank-write-check-{uuid.uuid4().hex}")
        if created:
            os.makedirs(folder)
        with FileSystems.create(probe) as handle:
            handle.write(b"")
        FileSystems.delete([probe])
    except Exception as exc:  # any file system's own error type
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OutputError(f"--output {folder} is not writable: {reason}") from None
    finally:
        for path in created:
            if os.path.isdir(path) and not os.listdir(path):
                os.rmdir(path)


def _missing_folders(folder: str) -> list[str]:
    """The local folders that do not exist yet on the way to ``folder``, deepest first."""
    missing = []
    path = os.path.abspath(folder)
    while not os.path.lexists(path) and path != os.path.dirname(path):
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def shard_file_name(config_hash: str, keys: Iterable[tuple[str, str]]) -> str:
    """The name of the shard file holding ``keys`` (``(shape_id, input hash)`` pairs):
    ``part-<16 hex>.parquet``, a digest of the config hash and the sorted keys.

    Names come from what a file holds, not from a position: adding inputs never renames a
    shard, a rerun that writes the same shapes from the same files writes the same name,
    and a shard holding other shapes or other bytes never takes the name of an existing one.
    """
    digest = hashlib.sha256(config_hash.encode())
    for shape_id, input_sha256 in sorted(keys):
        digest.update(f"\n{shape_id}\t{input_sha256}".encode("utf-8", "surrogateescape"))
    return f"{SHARD_PREFIX}-{digest.hexdigest()[:16]}.parquet"


class ParquetInProgress:
    """A Parquet file written a row group at a time into a temporary file of ``folder``,
    named only when closed: memory holds one row group, not the file.

    The temporary name (``.shard.<32 hex>.tmp``) is one that cleanup recognizes
    (``schemas.table``), so a file a killed worker left behind is deleted after the next
    commit.
    """

    def __init__(self, folder: str, schema: pa.Schema, rows_per_group: int):
        self.folder = folder
        self.rows_per_group = rows_per_group
        self.temporary = FileSystems.join(folder, f".shard.{uuid.uuid4().hex}.tmp")
        self.stream = FileSystems.create(self.temporary)
        self.writer = pq.ParquetWriter(self.stream, schema, compression=PARQUET_COMPRESSION)
        self.waiting: list[Any] = []

    def add(self, rows: list[Any], table_of: Callable[[list[Any]], pa.Table]) -> None:
        """Queue rows; every ``rows_per_group`` of them become a row group (``table_of``
        turns a list of rows into a table)."""
        self.waiting.extend(rows)
        while len(self.waiting) >= self.rows_per_group:
            group = self.waiting[: self.rows_per_group]
            del self.waiting[: self.rows_per_group]
            self.writer.write_table(table_of(group))

    def close(self, name: str, table_of: Callable[[list[Any]], pa.Table], metadata: dict) -> None:
        """Write what is queued, add ``metadata`` to the footer and move the file to
        ``name``."""
        if self.waiting:
            self.writer.write_table(table_of(self.waiting))
            self.waiting = []
        if metadata:
            self.writer.add_key_value_metadata(metadata)
        self.writer.close()
        self.stream.close()
        FileSystems.rename([self.temporary], [FileSystems.join(self.folder, name)])


def _moved_or_built(table_of: Callable[[list[Any]], pa.Table], schema: pa.Schema):
    """Rows -> a table: one-row tables read back from a shard are concatenated (cast to
    ``schema``), ``ShardRow``s are built with ``table_of``."""

    def table(rows: list[Any]) -> pa.Table:
        if isinstance(rows[0], pa.Table):
            return pa.concat_tables(rows).cast(schema)
        return table_of(rows)

    return table


def _views_table(items: list[ShardItem]) -> pa.Table:
    """The views rows of items: tables read back for moved rows, or built from the
    per-view records of rows featurized in this run."""
    tables = [item.views for item in items if isinstance(item.views, pa.Table)]
    records = [
        (escape_invalid_text(item.shape_id), item.part_names, item.views)
        for item in items
        if isinstance(item.views, list) and item.views
    ]
    return pa.concat_tables([*tables, views_table(records)] if records else tables)


class _OpenShard:
    """One shard being written: its rows' file, its views file (opened by the first row
    with views) and the manifest facts of its rows (no arrays)."""

    def __init__(self, writer: WriteShards):
        self.writer = writer
        self.rows = ParquetInProgress(writer.folder, writer.schema, writer.rows_per_group)
        self.views: ParquetInProgress | None = None
        self.items: list[ShardItem] = []

    def add(self, item: ShardItem) -> None:
        writer = self.writer
        self.rows.add([item.row], writer.table_of)
        if item.views is not None and len(item.views):
            if self.views is None:
                self.views = ParquetInProgress(writer.views_folder, VIEWS_SCHEMA, 1)
            self.views.add([item], _views_table)
        self.items.append(dataclasses.replace(item, row=None, views=None))

    def close(self) -> Iterator[ManifestEntry]:
        items, writer = self.items, self.writer
        name = shard_file_name(writer.config_hash, [(i.shape_id, i.input_sha256) for i in items])
        warned = {item.shape_id: list(item.warnings) for item in items if item.warnings}
        self.rows.close(name, writer.table_of, {META_WARNINGS: json.dumps(warned)})
        if self.views is not None:
            self.views.close(name, _views_table, {})
        LOGGER.info("wrote %s (%d shapes)", FileSystems.join(writer.folder, name), len(items))
        for item in items:
            yield ManifestEntry(
                item.shape_id, item.uri, item.status, shard=name, warnings=item.warnings
            )


class WriteShards(beam.DoFn):
    """Writes shards as their rows arrive, a row group at a time: memory holds a few row
    groups, whatever the corpus or shard size.

    Input: ``(ShardKey, ShardItem)``. Each shard's rows go to a temporary file as they come
    (``ParquetInProgress``); when ``key.size`` rows have arrived the file is closed and
    named by its content (``shard_file_name``), with its views file of the same name under
    ``views_folder`` when the rows carry views. When more than ``MAX_OPEN_SHARDS`` shards
    are open, the one open longest is closed as it is (its other shapes failed, or come
    later and form a shard of their own); the rest at the end of the bundle. Beam's local
    runner feeds each shard's shapes one after the other, in shape-id order, so there
    every shard is written whole and in that order; a runner that moves shapes between
    machines mid-graph (model stages on GPU workers) may split a shard into smaller ones.

    Output: one ``ManifestEntry`` per row written: the item's status (``ok``, or for rows
    moved from an earlier shard ``skipped_cached``) and the shard's name.

    Args:
        folder: the features folder.
        views_folder: where views files go.
        schema: the shard schema (with this run's metadata).
        table_of: rows (``ShardRow``) -> Arrow table of ``schema``.
        rows_per_group: shapes per Parquet row group.
        config_hash: the run's config hash (part of the file names).
    """

    #: Shards that may be open at once.
    MAX_OPEN_SHARDS = 4

    def __init__(
        self,
        folder: str,
        views_folder: str,
        schema: pa.Schema,
        table_of: Callable[[list[Any]], pa.Table],
        rows_per_group: int,
        config_hash: str,
    ):
        self.folder = folder
        self.views_folder = views_folder
        self.schema = schema
        self.table_of = _moved_or_built(table_of, schema)
        self.rows_per_group = rows_per_group
        self.config_hash = config_hash

    def start_bundle(self) -> None:
        self.open: dict[str, _OpenShard] = {}  # in order of opening

    def process(self, keyed: tuple[Any, ShardItem]) -> Iterator[ManifestEntry]:
        key, item = keyed
        shard = self.open.get(key.group)
        if shard is None:
            shard = self.open[key.group] = _OpenShard(self)
        shard.add(item)
        if len(shard.items) >= key.size:
            yield from self.open.pop(key.group).close()
        while len(self.open) > self.MAX_OPEN_SHARDS:
            yield from self.open.pop(next(iter(self.open))).close()

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for group in list(self.open):
            for entry in self.open.pop(group).close():
                yield WindowedValue(entry, MIN_TIMESTAMP, [GlobalWindow()])


def _manifest_value(value: str | tuple[str, ...]) -> str | list[str]:
    if isinstance(value, str):
        return escape_invalid_text(value)
    return [escape_invalid_text(text) for text in value]


def manifest_table(entries: Iterable[ManifestEntry]) -> pa.Table:
    """The manifest of a run: one row per input, sorted by shape id, then uri."""
    entries = sorted(entries, key=lambda e: (e.shape_id, e.uri))
    return pa.table(
        {
            name: [_manifest_value(getattr(e, name)) for e in entries]
            for name in MANIFEST_SCHEMA.names
        },
        schema=MANIFEST_SCHEMA,
    )


@dataclass(frozen=True)
class ManifestSummary:
    """What a run's manifest says.

    Attributes:
        counts: ``ok`` (written by this run), ``skipped_cached`` (already in the output),
            ``failed`` and ``with_warnings`` (ok or cached shapes with a warning).
        warnings: the warnings of all ok and cached shapes.
        shards: the shard files holding ok and cached shapes, sorted.
        lines: ``failed: ID: ERROR`` per failed input, then ``warning: ID: W1; W2`` per
            shape with warnings (what the command prints).
    """

    counts: dict[str, int]
    warnings: int
    shards: list[str]
    lines: list[str]


def summarize_manifest(manifest: pa.Table) -> ManifestSummary:
    """The ``ManifestSummary`` of a manifest table."""
    import polars as pl

    frame = pl.from_arrow(manifest)
    kept = frame.filter(pl.col("status").is_in(["ok", "skipped_cached"]))
    failed = frame.filter(pl.col("status") == "failed")
    warned = kept.filter(kept["warnings"].list.len() > 0)
    lines = [f"failed: {i}: {e}" for i, e in failed.select("shape_id", "error").iter_rows()]
    for shape_id, warnings in warned.select("shape_id", "warnings").iter_rows():
        lines.append(f"warning: {shape_id}: {'; '.join(warnings)}")
    return ManifestSummary(
        counts={
            "ok": frame.filter(pl.col("status") == "ok").height,
            "skipped_cached": frame.filter(pl.col("status") == "skipped_cached").height,
            "failed": failed.height,
            "with_warnings": warned.height,
        },
        warnings=int(kept["warnings"].list.len().sum()),
        shards=sorted(kept["shard"].unique().to_list()),
        lines=lines,
    )


def write_json(path: str, document: Mapping) -> None:
    """Write a JSON document atomically (pretty, keys sorted; invalid text, such as a lone
    surrogate, is written as its JSON escape)."""
    data = json.dumps(document, indent=2, sort_keys=True, default=str).encode() + b"\n"
    write_atomically(path, lambda handle: handle.write(data))
