"""Per-view table (``--emit-views``): renders, 2D part-label maps and cameras.

``OUT/views/part-*.parquet``, one row per (shape, view), sharded like the feature shards.
Images are PNG bytes: ``rgb_png`` (S x S x 3, 8 bit) and ``label_png`` (S x S, 16 bit,
value = index into the shape's ``parts`` + 1, 0 = background or unlabeled). A normalized
point ``x`` projects to pixel ``K @ (E @ [x, 1])[:3]`` (divide by z; OpenCV axes, row 0 at
the top), with ``K = intrinsics`` (3 x 3, row-major) and ``E = extrinsics`` (4 x 4).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from schemas.features import META_SCHEMA_VERSION, SCHEMA_VERSION

VIEWS_SCHEMA = pa.schema(
    [
        ("shape_id", pa.string()),
        ("view", pa.int16()),
        ("image_size", pa.int32()),
        ("rgb_png", pa.binary()),
        ("label_png", pa.binary()),
        ("intrinsics", pa.list_(pa.float32(), 9)),
        ("extrinsics", pa.list_(pa.float32(), 16)),
        ("parts", pa.list_(pa.string())),
    ],
    metadata={META_SCHEMA_VERSION: str(SCHEMA_VERSION).encode()},
)


def views_table(shapes: Sequence[tuple[str, Sequence[str], Sequence[dict]]]) -> pa.Table:
    """The table of (shape id, part names, view records) groups (``featurizers.views``)."""
    rows = [(shape_id, parts, record) for shape_id, parts, records in shapes for record in records]

    def matrices(key: str, width: int) -> pa.Array:
        flat = np.concatenate([np.asarray(r[key], np.float32).reshape(-1) for _, _, r in rows])
        return pa.FixedSizeListArray.from_arrays(pa.array(flat), width)

    return pa.table(
        {
            "shape_id": [shape_id for shape_id, _, _ in rows],
            "view": pa.array([r["view"] for _, _, r in rows], pa.int16()),
            "image_size": pa.array([r["image_size"] for _, _, r in rows], pa.int32()),
            "rgb_png": pa.array([r["rgb_png"] for _, _, r in rows], pa.binary()),
            "label_png": pa.array([r["label_png"] for _, _, r in rows], pa.binary()),
            "intrinsics": matrices("intrinsics", 9),
            "extrinsics": matrices("extrinsics", 16),
            "parts": [list(parts) for _, parts, _ in rows],
        },
        schema=VIEWS_SCHEMA,
    )
