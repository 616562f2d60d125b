"""Writing shards, the manifest and run files: atomic (temp file, then rename).

Files are written with ``schemas.common.write_atomically`` (the one atomic write, shared
with the Beam-free packages: ``pyarrow.fs``, so local paths and ``gs://`` alike); folders
are probed, listed and cleaned with Beam's ``FileSystems``.

Text that reaches Parquet or JSON here is always valid: invalid text from the inputs (a
lone surrogate in a name, a non-UTF-8 path) is escaped with ``escape_invalid_text``, so a
bad name never takes down the manifest or the run's summary.
"""

from __future__ import annotations

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

from featurizers.names import escape_invalid_text
from schemas.common import write_atomically
from schemas.features import MANIFEST_SCHEMA

LOGGER = logging.getLogger(__name__)

PARQUET_COMPRESSION = "zstd"
SHARD_PREFIX = "part"
MANIFEST_FILE = "_manifest.parquet"


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
    """One row on its way into a shard file, with what its manifest row needs."""

    shape_id: str
    uri: str
    row: Any
    warnings: tuple[str, ...] = ()


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


def shard_name(index: int, count: int) -> str:
    return f"{SHARD_PREFIX}-{index:05d}-of-{count:05d}.parquet"


class WriteShardFile(beam.DoFn):
    """Writes one shard file from ``(shard index, [ShardItem, ...])``.

    ``table_of`` turns a list of rows into an Arrow table of ``schema``; every
    ``rows_per_group`` shapes become one row group. Emits a ``ManifestEntry`` (status ok,
    the item's warnings) per shape written.
    """

    def __init__(
        self,
        folder: str,
        shard_count: int,
        schema: pa.Schema,
        table_of: Callable[[list[Any]], pa.Table],
        rows_per_group: int,
    ):
        self.folder = folder
        self.shard_count = shard_count
        self.schema = schema
        self.table_of = table_of
        self.rows_per_group = rows_per_group

    def process(self, keyed_items: tuple[int, Iterable[ShardItem]]) -> Iterator[ManifestEntry]:
        index, items = keyed_items
        name = shard_name(index, self.shard_count)
        # the order items arrive in depends on the runner and its workers: sort by shape id,
        # so a shard's bytes are the same however many workers produced it
        ordered = sorted(items, key=lambda item: (item.shape_id, item.uri))

        def write(handle) -> None:
            with pq.ParquetWriter(handle, self.schema, compression=PARQUET_COMPRESSION) as writer:
                for start in range(0, len(ordered), self.rows_per_group):
                    group = ordered[start : start + self.rows_per_group]
                    writer.write_table(self.table_of([item.row for item in group]))

        write_atomically(FileSystems.join(self.folder, name), write)
        LOGGER.info("wrote %s (%d shapes)", FileSystems.join(self.folder, name), len(ordered))
        for item in ordered:
            yield ManifestEntry(item.shape_id, item.uri, "ok", shard=name, warnings=item.warnings)


def _manifest_value(value: str | tuple[str, ...]) -> str | list[str]:
    if isinstance(value, str):
        return escape_invalid_text(value)
    return [escape_invalid_text(text) for text in value]


def write_manifest(entries: list[ManifestEntry], folder: str) -> None:
    """Write ``_manifest.parquet`` (sorted by shape id, then uri) into ``folder``."""
    entries = sorted(entries, key=lambda e: (e.shape_id, e.uri))
    table = pa.table(
        {
            name: [_manifest_value(getattr(e, name)) for e in entries]
            for name in MANIFEST_SCHEMA.names
        },
        schema=MANIFEST_SCHEMA,
    )
    write_atomically(
        FileSystems.join(folder, MANIFEST_FILE),
        lambda handle: pq.write_table(table, handle, compression=PARQUET_COMPRESSION),
    )


@dataclass(frozen=True)
class ManifestSummary:
    """What a written manifest says about a run.

    Attributes:
        counts: ``ok``, ``failed`` and ``with_warnings`` (ok shapes with a warning).
        warnings: the warnings of all ok shapes.
        shards: the shard files holding ok shapes, sorted.
        lines: ``failed: ID: ERROR`` per failed input, then ``warning: ID: W1; W2`` per ok
            shape with warnings (what the command prints).
    """

    counts: dict[str, int]
    warnings: int
    shards: list[str]
    lines: list[str]


def summarize_manifest(folder: str) -> ManifestSummary:
    """The ``ManifestSummary`` of ``folder/_manifest.parquet``."""
    import polars as pl

    with FileSystems.open(FileSystems.join(folder, MANIFEST_FILE)) as handle:
        manifest = pl.read_parquet(handle)
    ok = manifest.filter(pl.col("status") == "ok")
    failed = manifest.filter(pl.col("status") == "failed")
    warned = ok.filter(ok["warnings"].list.len() > 0)
    lines = [f"failed: {i}: {e}" for i, e in failed.select("shape_id", "error").iter_rows()]
    for shape_id, warnings in warned.select("shape_id", "warnings").iter_rows():
        lines.append(f"warning: {shape_id}: {'; '.join(warnings)}")
    return ManifestSummary(
        counts={"ok": ok.height, "failed": failed.height, "with_warnings": warned.height},
        warnings=int(ok["warnings"].list.len().sum()),
        shards=sorted(ok["shard"].unique().to_list()),
        lines=lines,
    )


def remove_stale_shards(folder: str, keep: Iterable[str]) -> list[str]:
    """Delete shard files in ``folder`` that this run did not write (an earlier run's)."""
    keep = set(keep)
    pattern = FileSystems.join(folder, f"{SHARD_PREFIX}-*-of-*.parquet")
    stale = [
        meta.path
        for result in FileSystems.match([pattern])
        for meta in result.metadata_list
        if FileSystems.split(meta.path)[1] not in keep
    ]
    if stale:
        FileSystems.delete(stale)
    return stale


def write_json(path: str, document: Mapping) -> None:
    """Write a JSON document atomically (pretty, keys sorted; invalid text, such as a lone
    surrogate, is written as its JSON escape)."""
    data = json.dumps(document, indent=2, sort_keys=True, default=str).encode() + b"\n"
    write_atomically(path, lambda handle: handle.write(data))
