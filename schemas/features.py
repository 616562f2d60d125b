"""Feature shard schema (v1), manifest schema, and building shard tables from arrays.

One shard row per shape. Per-point columns are ``list<...>`` with N entries; vectors
are ``fixed_size_list``, so a row converts to a numpy ``(N, D)`` array without a loop.
A per-point column is exactly a list of numbers or of fixed-size lists of numbers
(``is_per_point``); the one other list, ``parts``, holds structs. The feature columns
come from the registered featurizers (``featurizers.catalog``), after the base columns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

SCHEMA_VERSION = 1

#: Schema metadata keys (bytes in Arrow metadata; values are JSON).
META_SCHEMA_VERSION = b"partbank.schema_version"
META_RUN = b"partbank.run"

PART_TYPE = pa.struct([("name_raw", pa.string()), ("name", pa.string()), ("part_uid", pa.int32())])


def _per_point(value_type: pa.DataType, width: int | None = None) -> pa.DataType:
    return pa.list_(pa.list_(value_type, width) if width else value_type)


def is_per_point(column_type: pa.DataType) -> bool:
    """Whether a column holds one value or vector per point: ``list<number>`` or
    ``list<fixed_size_list<number>>``."""
    if not pa.types.is_list(column_type):
        return False
    item = column_type.value_type
    if pa.types.is_fixed_size_list(item):
        item = item.value_type
    return pa.types.is_integer(item) or pa.types.is_floating(item)


#: The per-point columns every shard has; the featurizers' follow them.
BASE_POINT_COLUMNS = ("points", "normals", "face_index", "point_part")


def features_schema(
    feature_fields: Sequence[tuple[str, pa.DataType]] | None = None,
    run_metadata: Mapping | None = None,
) -> pa.Schema:
    """The v1 feature shard schema.

    Args:
        feature_fields: ``(name, type)`` of the featurizers' per-point columns, in order
            (``featurizers.contract.feature_columns``); default: every registered
            featurizer's, with its default settings.
        run_metadata: JSON-able facts about the run stored in the schema metadata under
            ``partbank.run`` (config, ``models``: ``pretrained`` or ``random-init``, ...).
    """
    if feature_fields is None:
        from featurizers.catalog import FEATURIZERS
        from featurizers.contract import feature_columns

        columns = feature_columns(list(FEATURIZERS.values()), (), None)
        feature_fields = [(column.name, column.arrow_type) for column in columns]
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
        *feature_fields,
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
    """One shape's shard row as numpy arrays (N points).

    Attributes:
        points, normals: (N, 3) float32, normalized frame.
        face_index: (N,) int32. point_part: (N,) int16.
        center: (3,) float32. scale: float.
        features: the featurizers' columns by name ((N,) or (N, D) arrays, e.g. ``dino``
            (N, D) float16, ``views_seen`` (N,) uint8, ``rgb`` (N, 3) uint8, ``partfield``
            (N, 448) float16); a column not here is null in the row.
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
    features: Mapping[str, np.ndarray] = field(default_factory=dict)

    def per_point(self, name: str) -> np.ndarray | None:
        """A per-point column's array (None where the row has none)."""
        return getattr(self, name) if name in BASE_POINT_COLUMNS else self.features.get(name)


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
        elif is_per_point(column.type):
            columns[name] = _per_point_column([r.per_point(name) for r in rows], column.type, name)
        else:
            columns[name] = pa.array([getattr(r, name) for r in rows], type=column.type)
    return pa.table(columns, schema=schema)


MANIFEST_STATUSES = ("ok", "failed", "skipped_cached")

#: A run's manifest, one row per input; committed as a version of the features table
#: (``schemas.table``: ``_log/v<version>.parquet``). ``status``: ``ok`` (featurized by this
#: run, its row in ``shard``), ``skipped_cached`` (already committed with the same input
#: bytes and config: not recomputed, its row still in ``shard``, a file an earlier run
#: wrote) or ``failed`` (``error``: one line; ``shard`` empty). ``uri``: the input as read;
#: ``warnings``: one-line notes on a shape that was written. A version holds exactly the
#: shard files its ``ok`` and ``skipped_cached`` rows name.
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
