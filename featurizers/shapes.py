"""The shape record every source yields and every featurizer reads.

A shape is either a triangle mesh made of *pieces* (one ``trimesh.Trimesh`` per scene
node / obj file, each with its own visuals and its own part index) or a labelled point
cloud (Find3D). Faces are numbered globally in piece order: piece ``k`` owns faces
``face_offsets[k] : face_offsets[k + 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import trimesh

#: Part index of geometry that carries no part label.
UNLABELED = -1


@dataclass(frozen=True)
class MeshPiece:
    """One mesh of a shape in world coordinates, with its visuals, and its part index.

    ``part`` indexes ``ShapeRecord.part_names`` (``UNLABELED`` when unknown).
    """

    mesh: trimesh.Trimesh
    part: int = UNLABELED


@dataclass(frozen=True)
class PointCloud:
    """A labelled point cloud (sources that ship points rather than meshes).

    Attributes:
        points: (P, 3) float32 positions.
        point_part: (P,) int16 part index per point, ``UNLABELED`` where none.
        normals: (P, 3) float32 unit normals, or None.
        colors: (P, 3) uint8 RGB, or None.
    """

    points: np.ndarray
    point_part: np.ndarray
    normals: np.ndarray | None = None
    colors: np.ndarray | None = None


@dataclass(frozen=True)
class ShapeRecord:
    """A shape as read from its dataset, before any featurization.

    Attributes:
        shape_id: ``{source}/{native id}``, stable across runs.
        source: dataset name (``partnet``, ``3dcompat``, ``find3d``, ``glb``).
        category_raw: the dataset's own category name ("" when unknown).
        part_names: raw part names; index ``i`` is part index ``i``.
        pieces: mesh pieces (empty for point clouds).
        cloud: the point cloud (None for meshes).
        warnings: one-line notes on what was read but is not fully right (a texture that
            could not be loaded, a name that had to be escaped); the shape is still usable.
            They reach the manifest's ``warnings`` column and the counts in run.json.
    """

    shape_id: str
    source: str
    category_raw: str
    part_names: tuple[str, ...]
    pieces: tuple[MeshPiece, ...] = ()
    cloud: PointCloud | None = None
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.pieces) == (self.cloud is not None):
            raise ValueError(f"{self.shape_id}: a shape has either mesh pieces or a point cloud")

    @cached_property
    def face_offsets(self) -> np.ndarray:
        """(len(pieces) + 1,) int64: first global face index of each piece, then F."""
        counts = [len(piece.mesh.faces) for piece in self.pieces]
        return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])

    @cached_property
    def face_part(self) -> np.ndarray:
        """(F,) int16: part index of every global face."""
        counts = np.diff(self.face_offsets)
        parts = np.array([piece.part for piece in self.pieces], dtype=np.int16)
        return np.repeat(parts, counts)

    @cached_property
    def geometry(self) -> trimesh.Trimesh:
        """All pieces as one triangle mesh (no visuals), faces in global order."""
        vertex_counts = [len(piece.mesh.vertices) for piece in self.pieces]
        vertex_offsets = np.concatenate([[0], np.cumsum(vertex_counts)[:-1]]).astype(np.int64)
        vertices = np.concatenate([np.asarray(p.mesh.vertices) for p in self.pieces])
        faces = np.concatenate(
            [
                np.asarray(p.mesh.faces) + off
                for p, off in zip(self.pieces, vertex_offsets, strict=True)
            ]
        )
        return trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
