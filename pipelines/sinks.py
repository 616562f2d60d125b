"""Writing shards, the manifest and run files: atomic (temp file, then rename).

Files are written with ``schemas.common.write_atomically`` (the one atomic write, shared
with the Beam-free packages: ``pyarrow.fs``, so local paths and ``gs://`` alike); folders
are probed, listed and cleaned with Beam's ``FileSystems``.

Text that reaches Parquet or JSON here is always valid: invalid text from the inputs (a
lone surrogate in a name, a non-UTF-8 path) is escaped with ``escape_invalid_text``, so a
bad name never takes down the manifest or the run's summary.
"""

from __future__ import annotations

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


def _parquet_bytes_writer(
    tables: list[pa.Table], schema: pa.Schema, rows_per_group: int
) -> Callable[[Any], None]:
    def write(handle) -> None:
        with pq.ParquetWriter(handle, schema, compression=PARQUET_COMPRESSION) as writer:
            for table in tables:
                for start in range(0, table.num_rows, rows_per_group):
                    writer.write_table(table.slice(start, rows_per_group))

    return write


def _views_tables(items: list[ShardItem]) -> list[pa.Table]:
    """The views rows of a shard's items: tables read back for moved rows, and one table
    built from the per-view records of rows featurized in this run."""
    tables = [item.views for item in items if isinstance(item.views, pa.Table)]
    records = [
        (escape_invalid_text(item.shape_id), item.part_names, item.views)
        for item in items
        if isinstance(item.views, list) and item.views
    ]
    return [*tables, views_table(records)] if records else tables


class WriteShards(beam.DoFn):
    """Writes each shard as soon as its rows have arrived: rows never wait for the whole
    run, so memory holds a few shards' rows at a time, whatever the corpus size.

    Input: ``(ShardKey, ShardItem)``. A shard is written (``shard_file_name``; rows sorted
    by shape id, so its bytes do not depend on arrival order; its views file of the same
    name under ``views_folder`` when the rows carry views) when ``key.size`` rows have
    arrived; when more than ``MAX_OPEN_SHARDS`` shards are waiting, the one waiting
    longest is written as it is (its other shapes failed, or will come later and form a
    shard of their own); the rest at the end of the bundle. Beam's local runner feeds
    each shard's shapes one after the other, so there every shard is written whole; a
    runner that moves shapes between machines mid-graph (model stages on GPU workers) may
    split a shard into smaller ones.

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

    #: Shards that may wait for rows at once.
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
        self.table_of = table_of
        self.rows_per_group = rows_per_group
        self.config_hash = config_hash

    def start_bundle(self) -> None:
        self.waiting: dict[str, list[ShardItem]] = {}  # in order of first arrival

    def process(self, keyed: tuple[Any, ShardItem]) -> Iterator[ManifestEntry]:
        key, item = keyed
        arrived = self.waiting.setdefault(key.group, [])
        arrived.append(item)
        if len(arrived) >= key.size:
            yield from self.write(self.waiting.pop(key.group))
        while len(self.waiting) > self.MAX_OPEN_SHARDS:
            yield from self.write(self.waiting.pop(next(iter(self.waiting))))

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for group in list(self.waiting):
            for entry in self.write(self.waiting.pop(group)):
                yield WindowedValue(entry, MIN_TIMESTAMP, [GlobalWindow()])

    def write(self, items: list[ShardItem]) -> Iterator[ManifestEntry]:
        items = sorted(items, key=lambda item: (item.shape_id, item.uri))
        name = shard_file_name(self.config_hash, [(i.shape_id, i.input_sha256) for i in items])
        rows = [item.row for item in items]
        moved = isinstance(rows[0], pa.Table)  # cached rows read back from a shard
        tables = [pa.concat_tables(rows).cast(self.schema) if moved else self.table_of(rows)]
        warned = {item.shape_id: list(item.warnings) for item in items if item.warnings}
        schema = self.schema.with_metadata(
            {**(self.schema.metadata or {}), META_WARNINGS: json.dumps(warned).encode()}
        )
        write_atomically(
            FileSystems.join(self.folder, name),
            _parquet_bytes_writer(tables, schema, self.rows_per_group),
        )
        views = _views_tables(items)
        if views:
            write_atomically(
                FileSystems.join(self.views_folder, name),
                _parquet_bytes_writer(views, VIEWS_SCHEMA, 1),
            )
        LOGGER.info("wrote %s (%d shapes)", FileSystems.join(self.folder, name), len(items))
        for item in items:
            yield ManifestEntry(
                item.shape_id, item.uri, item.status, shard=name, warnings=item.warnings
            )


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
