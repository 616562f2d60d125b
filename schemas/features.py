"""Feature shard schema (v1), manifest schema, and building shard tables from arrays.

One shard row per shape. Per-point columns are ``list<...>`` with N entries; vectors
are ``fixed_size_list``, so a row converts to a numpy ``(N, D)`` array without a loop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

SCHEMA_VERSION = 1
DEFAULT_DINO_DIM = 768
PARTFIELD_DIM = 448

#: File names of shards inside ``OUT/features/``.
SHARD_GLOB = "part-*-of-*.parquet"

#: Schema metadata keys (bytes in Arrow metadata; values are JSON).
META_SCHEMA_VERSION = b"partbank.schema_version"
META_RUN = b"partbank.run"

PART_TYPE = pa.struct([("name_raw", pa.string()), ("name", pa.string()), ("part_uid", pa.int32())])


def _per_point(value_type: pa.DataType, width: int | None = None) -> pa.DataType:
    return pa.list_(pa.list_(value_type, width) if width else value_type)


def features_schema(
    dino_dim: int = DEFAULT_DINO_DIM, run_metadata: Mapping | None = None
) -> pa.Schema:
    """The v1 feature shard schema.

    Args:
        dino_dim: D of the ``dino`` column (384/768/1024 for DINOv2 small/base/large).
        run_metadata: JSON-able facts about the run stored in the schema metadata under
            ``partbank.run`` (config, ``models``: ``pretrained`` or ``random-init``, ...).
    """
    fields = [
        ("shape_id", pa.string()),
        ("source", pa.string()),
        ("category_raw", pa.string()),
        ("category", pa.string()),
        ("mesh_sha256", pa.string()),
        ("config_hash", pa.string()),
        ("center", pa.list_(pa.float32(), 3)),
        ("scale", pa.float32()),
        ("points", _per_point(pa.float32(), 3)),
        ("normals", _per_point(pa.float32(), 3)),
        ("face_index", _per_point(pa.int32())),
        ("point_part", _per_point(pa.int16())),
        ("parts", pa.list_(PART_TYPE)),
        ("dino", _per_point(pa.float16(), dino_dim)),
        ("views_seen", _per_point(pa.uint8())),
        ("rgb", _per_point(pa.uint8(), 3)),
        ("partfield", _per_point(pa.float16(), PARTFIELD_DIM)),
        ("schema_version", pa.int16()),
    ]
    metadata = {META_SCHEMA_VERSION: str(SCHEMA_VERSION).encode()}
    if run_metadata is not None:
        metadata[META_RUN] = json.dumps(run_metadata, sort_keys=True).encode()
    return pa.schema(fields, metadata=metadata)


@dataclass(frozen=True)
class Part:
    """One part of a shape: raw name, canonical name, row in the ontology parts table."""

    name_raw: str
    name: str
    part_uid: int = -1


@dataclass
class ShardRow:
    """One shape's shard row as numpy arrays (N points; optional columns may be None).

    Attributes:
        points, normals: (N, 3) float32, normalized frame.
        face_index: (N,) int32. point_part: (N,) int16.
        center: (3,) float32. scale: float.
        dino: (N, D) float16. views_seen: (N,) uint8. rgb: (N, 3) uint8.
        partfield: (N, 448) float16.
    """

    shape_id: str
    source: str
    category_raw: str
    category: str
    mesh_sha256: str
    config_hash: str
    center: np.ndarray
    scale: float
    points: np.ndarray
    normals: np.ndarray
    face_index: np.ndarray
    point_part: np.ndarray
    parts: Sequence[Part] = field(default_factory=tuple)
    dino: np.ndarray | None = None
    views_seen: np.ndarray | None = None
    rgb: np.ndarray | None = None
    partfield: np.ndarray | None = None


def _per_point_column(
    arrays: Sequence[np.ndarray | None], column_type: pa.ListType, name: str
) -> pa.Array:
    """A ``list<...>`` column from one (N,) or (N, D) array (or None) per row."""
    present = [a for a in arrays if a is not None]
    item_type = column_type.value_type
    if not present:
        return pa.nulls(len(arrays), column_type)
    lengths = np.array([0 if a is None else len(a) for a in arrays], dtype=np.int32)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    if pa.types.is_fixed_size_list(item_type):
        width, scalar = item_type.list_size, item_type.value_type
        flat = np.concatenate([np.asarray(a).reshape(-1, width) for a in present]).reshape(-1)
        values = pa.FixedSizeListArray.from_arrays(pa.array(flat, type=scalar), type=item_type)
    else:
        flat = np.concatenate([np.asarray(a).reshape(-1) for a in present])
        values = pa.array(flat, type=item_type)
    mask = pa.array([a is None for a in arrays]) if len(present) < len(arrays) else None
    try:
        return pa.ListArray.from_arrays(offsets, values, type=column_type, mask=mask)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"column {name}: {exc}") from exc


def shard_table(rows: Sequence[ShardRow], schema: pa.Schema) -> pa.Table:
    """Build the Arrow table of a group of shard rows (per-point arrays stay numpy-backed)."""
    columns = {}
    for column in schema:
        name = column.name
        if name == "schema_version":
            columns[name] = pa.array(np.full(len(rows), SCHEMA_VERSION, dtype=np.int16))
        elif name == "parts":
            columns[name] = pa.array(
                [[vars(p) for p in row.parts] for row in rows], type=column.type
            )
        elif name == "center":
            flat = np.concatenate([np.asarray(r.center, np.float32) for r in rows])
            columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(flat), 3)
        elif pa.types.is_list(column.type):
            columns[name] = _per_point_column([getattr(r, name) for r in rows], column.type, name)
        else:
            columns[name] = pa.array([getattr(r, name) for r in rows], type=column.type)
    return pa.table(columns, schema=schema)


MANIFEST_STATUSES = ("ok", "failed", "skipped_cached")

MANIFEST_SCHEMA = pa.schema(
    [
        ("shape_id", pa.string()),
        ("uri", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("shard", pa.string()),
        ("warnings", pa.list_(pa.string())),
    ],
    metadata={META_SCHEMA_VERSION: str(SCHEMA_VERSION).encode()},
)
