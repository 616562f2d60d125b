"""Writing shards, the manifest and run.json: atomic (temp file, then rename)."""

from __future__ import annotations

import itertools
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.features import MANIFEST_SCHEMA

LOGGER = logging.getLogger(__name__)

PARQUET_COMPRESSION = "zstd"
SHARD_PREFIX = "part"
MANIFEST_FILE = "_manifest.parquet"


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest row: what happened to one input."""

    shape_id: str
    uri: str
    status: str
    error: str = ""
    shard: str = ""


def shard_name(index: int, count: int) -> str:
    return f"{SHARD_PREFIX}-{index:05d}-of-{count:05d}.parquet"


def write_atomically(path: str, write: Callable[[Any], None]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``."""
    folder, name = FileSystems.split(path)
    temporary = FileSystems.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    with FileSystems.create(temporary) as handle:
        write(handle)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temporary], [path])


class WriteShardFile(beam.DoFn):
    """Writes one shard file from ``(shard index, [(shape_id, uri, row), ...])``.

    ``table_of`` turns a list of rows into an Arrow table of ``schema``; every
    ``rows_per_group`` shapes become one row group. Emits a ``ManifestEntry`` (status ok)
    per shape written.
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

    def process(
        self, keyed_rows: tuple[int, Iterable[tuple[str, str, Any]]]
    ) -> Iterator[ManifestEntry]:
        index, rows = keyed_rows
        name = shard_name(index, self.shard_count)
        written: list[tuple[str, str]] = []

        def write(handle) -> None:
            with pq.ParquetWriter(handle, self.schema, compression=PARQUET_COMPRESSION) as writer:
                iterator = iter(rows)
                while group := list(itertools.islice(iterator, self.rows_per_group)):
                    writer.write_table(self.table_of([row for _, _, row in group]))
                    written.extend((shape_id, uri) for shape_id, uri, _ in group)

        write_atomically(FileSystems.join(self.folder, name), write)
        LOGGER.info("wrote %s (%d shapes)", FileSystems.join(self.folder, name), len(written))
        for shape_id, uri in written:
            yield ManifestEntry(shape_id, uri, "ok", shard=name)


def write_manifest(entries: list[ManifestEntry], folder: str) -> None:
    """Write ``_manifest.parquet`` (sorted by shape id) into ``folder``."""
    entries = sorted(entries, key=lambda e: e.shape_id)
    table = pa.table(
        {name: [getattr(e, name) for e in entries] for name in MANIFEST_SCHEMA.names},
        schema=MANIFEST_SCHEMA,
    )
    write_atomically(
        FileSystems.join(folder, MANIFEST_FILE),
        lambda handle: pq.write_table(table, handle, compression=PARQUET_COMPRESSION),
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
    """Write a JSON document atomically (pretty, keys sorted)."""
    data = json.dumps(document, indent=2, sort_keys=True, default=str).encode() + b"\n"
    write_atomically(path, lambda handle: handle.write(data))
