"""Inputs as upstream PartField prepares them: its normalized frame and the encoder's points.

PartField's frame: ``xyz_pf = (xyz - center) * 1.8 / longest_side``, where ``center`` is the
centre of the bounding box and ``longest_side`` its longest side, so the shape spans
[-0.9, 0.9] along its longest axis. partbank's frame uses the same box with
``xyz_norm = (xyz - center) / longest_side`` (the shape spans [-0.5, 0.5]), hence
``xyz_pf = 1.8 * xyz_norm``.
"""

from __future__ import annotations

import numpy as np
import trimesh

from featurizers.partfield.config import DEFAULT_PARTFIELD_POINTS

#: Length of the longest bounding-box side in PartField's frame.
EXTENT = 1.8


def partfield_frame(xyz: np.ndarray) -> tuple[np.ndarray, float]:
    """PartField's frame of a shape, as upstream computes it: bounding-box centre and the
    scale factor into PartField's frame (not partbank's ``unit_cube_frame``).

    Args:
        xyz: (V, 3) mesh vertices (or cloud points) in any frame.

    Returns:
        ``(center, factor)``: (3,) float64 bbox centre and the float factor such that
        ``(xyz - center) * factor`` is in PartField's frame.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    longest = float((hi - lo).max())
    if not longest > 0:
        raise ValueError("cannot normalize a shape whose bounding box has no extent")
    return (lo + hi) / 2, EXTENT / longest


def normalize_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of ``mesh`` moved into PartField's frame (from its vertex bounding box)."""
    center, factor = partfield_frame(mesh.vertices)
    vertices = (np.asarray(mesh.vertices, dtype=np.float64) - center) * factor
    return trimesh.Trimesh(vertices=vertices, faces=np.asarray(mesh.faces), process=False)


def sample_points(
    mesh: trimesh.Trimesh, num_points: int = DEFAULT_PARTFIELD_POINTS, seed: int | None = 0
) -> np.ndarray:
    """The encoder's input: area-weighted surface samples of the normalized mesh.

    Args:
        mesh: the shape's triangle mesh, in any frame.
        num_points: number of samples P (upstream: 100,000).
        seed: sampling seed (``None``: nondeterministic).

    Returns:
        (P, 3) float32 points in PartField's frame.
    """
    points, _ = trimesh.sample.sample_surface(normalize_mesh(mesh), num_points, seed=seed)
    return np.asarray(points, dtype=np.float32)


def from_partbank_frame(xyz_norm: np.ndarray) -> np.ndarray:
    """(N, 3) points in partbank's normalized frame -> (N, 3) float32 in PartField's frame.

    Both frames are centred on the same bounding box (the mesh's vertices for meshes, the
    cloud's points for point clouds); only the scale differs.
    """
    return np.asarray(xyz_norm, dtype=np.float32) * np.float32(EXTENT)


def encoder_points(
    surface: trimesh.Trimesh | np.ndarray,
    center: np.ndarray,
    scale: float,
    partfield_points: int = DEFAULT_PARTFIELD_POINTS,
    seed: int | None = 0,
) -> np.ndarray:
    """The encoder's input for a shape normalized by partbank's ``(center, scale)``.

    Uses partbank's bounding box so that ``from_partbank_frame`` maps the shape's sampled
    points exactly into the same frame.

    Args:
        surface: the shape's triangle mesh (sampled area-weighted, ``partfield_points``
            samples)
            or its (P, 3) point cloud (used whole), in source units.
        center: (3,) bbox center; scale: longest bbox side (partbank's ``unit_cube_frame``).

    Returns:
        (P, 3) float32 points in PartField's frame.
    """
    if isinstance(surface, trimesh.Trimesh):
        points, _ = trimesh.sample.sample_surface(surface, partfield_points, seed=seed)
    else:
        points = np.asarray(surface)
    return from_partbank_frame((np.asarray(points, dtype=np.float64) - center) / scale)
