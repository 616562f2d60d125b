"""Per-view outputs (``--emit-views``): RGB render, 2D part-label map and camera.

Label maps are the 3D part labels projected through the id buffer: pixel -> visible
triangle (or point) -> its part. They are stored as 16-bit grayscale PNGs holding
``part + 1`` (0: background or unlabeled geometry), RGB renders as 8-bit PNGs.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from featurizers.rendering import Renders
from featurizers.shapes import UNLABELED, ShapeRecord


def element_parts(record: ShapeRecord) -> np.ndarray:
    """Part index of every id-buffer element: (F,) per face, or (P,) per cloud point."""
    if record.cloud is not None:
        return np.asarray(record.cloud.point_part, dtype=np.int16)
    return record.face_part


def label_maps(face_id: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Part label of every pixel.

    Args:
        face_id: (V, S, S) int32 id buffers, -1 for background.
        parts: (F,) part index of every id (``element_parts``).

    Returns:
        (V, S, S) int16 part index, ``UNLABELED`` (-1) on background.
    """
    lookup = np.append(np.asarray(parts, dtype=np.int16), np.int16(UNLABELED))
    return lookup[face_id]  # id -1 picks the appended UNLABELED


def png_bytes(image: np.ndarray) -> bytes:
    """PNG file bytes of an (H, W, 3) uint8 RGB or (H, W) uint16 grayscale image."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def view_records(renders: Renders, parts: np.ndarray) -> list[dict]:
    """One record per view for a ``views/`` table.

    Returns:
        Dicts with ``view`` (int), ``rgb_png`` (bytes), ``label_png`` (bytes, 16-bit,
        part + 1, 0 = none), ``intrinsics`` ((3, 3) float32, pixels), ``extrinsics``
        ((4, 4) float32 world-to-camera, OpenCV axes, normalized frame) and ``image_size``.
    """
    labels = label_maps(renders.face_id, parts)
    rig = renders.rig
    return [
        {
            "view": v,
            "rgb_png": png_bytes(renders.rgb[v]),
            "label_png": png_bytes((labels[v].astype(np.int32) + 1).astype(np.uint16)),
            "intrinsics": rig.intrinsics[v],
            "extrinsics": rig.extrinsics[v],
            "image_size": rig.image_size,
        }
        for v in range(rig.num_views)
    ]
