"""Cheap checks of a web asset before it is featurized: geometry statistics and licence.

Every failed check is one reason, ``"<code>: <one line>"`` (codes in ``REASON_CODES``),
so a selection table can be counted by code and read by a person. The checks need only
the meshes as read (world coordinates) and the listing's licence text: no rendering, no
model, no LLM.

Single object or scene: the surface is split into connected components (triangles
sharing a vertex position); components whose bounding boxes touch, after growing each by
``touch_tolerance`` of the whole box's diagonal, form one *object* (a chair's legs touch
its seat). Objects holding at least ``object_share`` of the surface area are counted; more
than ``max_objects`` of them is a scene. The whole box's longest side over its shortest
(``bbox_aspect``) above ``max_aspect`` is a flat or thin layout (terrain, a floor plan).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

UNREADABLE = "unreadable"
TRIANGLES = "triangles"
TEXTURE = "texture"
SCENE = "scene"
ASPECT = "aspect"
LICENSE = "license"
DUPLICATE = "duplicate"
GEMINI = "gemini"
#: Reason codes of the cheap checks and of the judge.
REASON_CODES = (UNREADABLE, TRIANGLES, TEXTURE, SCENE, ASPECT, LICENSE, DUPLICATE, GEMINI)
#: Codes decided from one asset alone (reusable on a rerun while its files are unchanged).
ASSET_CODES = (UNREADABLE, TRIANGLES, TEXTURE, SCENE, ASPECT, LICENSE)

#: Licence keys (``license_key``) that allow commercial use and derivatives.
DEFAULT_LICENSES = ("cc0", "by", "by-sa")
#: Components beyond this many (largest first) are left out of the object count.
MAX_CLUSTERED_COMPONENTS = 2048


def reason(code: str, text: str) -> str:
    """A reason line ``"code: text"``."""
    return f"{code}: {text}"


def reason_code(line: str) -> str:
    """The code of a reason line."""
    return line.split(":", 1)[0]


@dataclass(frozen=True)
class CheckLimits:
    """The bounds of the cheap checks.

    Attributes:
        min_triangles, max_triangles: triangle count bounds (inclusive).
        require_texture: reject assets without a base-color texture.
        max_objects: most separate objects (see module docstring) of a single asset.
        object_share: least share of the surface area an object needs to count.
        touch_tolerance: box growth, as a share of the whole box's diagonal, for touching.
        max_aspect: largest longest-over-shortest side of the bounding box.
        licenses: allowed ``license_key`` values; empty allows any licence, none included.
    """

    min_triangles: int = 12
    max_triangles: int = 1_000_000
    require_texture: bool = False
    max_objects: int = 1
    object_share: float = 0.05
    touch_tolerance: float = 0.01
    max_aspect: float = 50.0
    licenses: tuple[str, ...] = DEFAULT_LICENSES


@dataclass(frozen=True)
class MeshStats:
    """What the checks measure on an asset's meshes.

    Attributes:
        triangles: triangle count over all meshes.
        textured_share: share of triangles whose mesh has a base-color texture, 0..1.
        components: connected components (shared vertex positions).
        objects: groups of touching components holding >= ``object_share`` of the area.
        bbox_aspect: longest over shortest side of the bounding box (inf when flat).
    """

    triangles: int
    textured_share: float
    components: int
    objects: int
    bbox_aspect: float


def mesh_stats(meshes: Sequence[trimesh.Trimesh], limits: CheckLimits) -> MeshStats:
    """Statistics of meshes in world coordinates (vertices (V, 3), faces (F, 3) each)."""
    meshes = [mesh for mesh in meshes if len(mesh.faces)]
    triangles = sum(len(mesh.faces) for mesh in meshes)
    if not triangles:
        return MeshStats(0, 0.0, 0, 0, 0.0)
    textured = sum(len(mesh.faces) for mesh in meshes if _has_texture(mesh))
    # + 0.0 turns -0.0 into 0.0, so that one position has one byte pattern
    vertices = np.concatenate([np.asarray(mesh.vertices, dtype=np.float64) for mesh in meshes])
    vertices = vertices + 0.0
    offsets = np.cumsum([0] + [len(mesh.vertices) for mesh in meshes[:-1]])
    faces = np.concatenate(
        [mesh.faces + offset for mesh, offset in zip(meshes, offsets, strict=True)]
    )
    corners = vertices[faces]  # (F, 3, 3)
    areas = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    points = corners.reshape(-1, 3)
    sides = points.max(axis=0) - points.min(axis=0)
    aspect = float(sides.max() / sides.min()) if sides.min() > 0 else float("inf")
    positions, position_of = _positions(vertices)
    labels, count, position_label = _face_components(position_of[faces], len(positions))
    diagonal = float(np.linalg.norm(sides))
    objects = _objects(positions, position_label, areas, labels, count, limits, diagonal)
    return MeshStats(triangles, textured / triangles, count, objects, aspect)


def check_reasons(stats: MeshStats, license_text: str, limits: CheckLimits) -> list[str]:
    """The reasons an asset fails the cheap checks (empty: it passes), in a fixed order."""
    reasons = []
    if not limits.min_triangles <= stats.triangles <= limits.max_triangles:
        bounds = f"{limits.min_triangles:,}..{limits.max_triangles:,}"
        reasons.append(reason(TRIANGLES, f"{stats.triangles:,} triangles, outside {bounds}"))
    if limits.require_texture and stats.textured_share == 0:
        reasons.append(reason(TEXTURE, "no base-color texture"))
    if stats.objects > limits.max_objects:
        reasons.append(
            reason(
                SCENE,
                f"{stats.objects} separate objects (of {stats.components} components), "
                f"more than {limits.max_objects}",
            )
        )
    if stats.bbox_aspect > limits.max_aspect:
        reasons.append(
            reason(
                ASPECT,
                f"bounding box {stats.bbox_aspect:.0f}:1, flatter than {limits.max_aspect:g}:1",
            )
        )
    problem = license_problem(license_text, limits.licenses)
    if problem:
        reasons.append(reason(LICENSE, problem))
    return reasons


def license_key(text: str) -> str:
    """A licence's short key: ``CC-BY-4.0`` and ``CC Attribution`` -> ``by``,
    ``CC Attribution-NonCommercial-ShareAlike`` -> ``by-nc-sa``, ``CC0 Public Domain`` ->
    ``cc0``; other text lower-cased, words joined by ``-`` (``free-standard``)."""
    text = text.lower()
    for words, short in (
        ("attribution", "by"),
        ("sharealike", "sa"),
        ("share-alike", "sa"),
        ("noncommercial", "nc"),
        ("non-commercial", "nc"),
        ("noderivatives", "nd"),
        ("noderivs", "nd"),
    ):
        text = text.replace(words, short)
    tokens = re.findall(r"[a-z0-9]+", text)
    if "cc0" in tokens:
        return "cc0"
    noise = {"cc", "creative", "commons", "license", "licence", "international", "public"}
    kept = [t for t in tokens if t not in noise and not t.isdigit() and t != "domain"]
    return "-".join(kept)


def license_problem(text: str, allowed: Sequence[str]) -> str | None:
    """Why a licence is not allowed, or None (``allowed`` empty: every licence is)."""
    if not allowed:
        return None
    if not text:
        return "no licence given"
    key = license_key(text)
    if key in allowed:
        return None
    return f"licence {text!r} ({key}) not in the allowed list {','.join(allowed)}"


def _has_texture(mesh: trimesh.Trimesh) -> bool:
    material = getattr(mesh.visual, "material", None)
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    return image is not None and getattr(mesh.visual, "uv", None) is not None


def _positions(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct positions (P, 3) of vertices (V, 3), and each vertex's position id (V,)."""
    keys = np.ascontiguousarray(vertices).view(np.dtype((np.void, 24))).ravel()
    _, first, position_of = np.unique(keys, return_index=True, return_inverse=True)
    return vertices[first], position_of.reshape(-1)


def _face_components(corners: np.ndarray, size: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Connected components of triangles sharing a position.

    Args:
        corners: (F, 3) position ids of each triangle's corners.
        size: the number of positions P.

    Returns:
        (F,) component per triangle, the component count C, and (P,) component per
        position (-1 for a position no triangle uses).
    """
    rows = np.concatenate([corners[:, 0], corners[:, 1]])
    cols = np.concatenate([corners[:, 1], corners[:, 2]])
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(size, size))
    found, position_label = connected_components(graph, directed=False)
    used, labels = np.unique(position_label[corners[:, 0]], return_inverse=True)
    renumber = np.full(found, -1)
    renumber[used] = np.arange(len(used))
    return labels.reshape(-1), len(used), renumber[position_label]


def _objects(
    positions: np.ndarray,
    position_label: np.ndarray,
    areas: np.ndarray,
    labels: np.ndarray,
    count: int,
    limits: CheckLimits,
    diagonal: float,
) -> int:
    """How many groups of touching components hold ``object_share`` of the area or more.

    Args:
        positions: (P, 3) distinct vertex positions; position_label: (P,) their component.
        areas: (F,) triangle areas; labels: (F,) their component, of ``count``.
    """
    area = np.bincount(labels, weights=areas, minlength=count)
    total = area.sum()
    if total <= 0:
        return 0
    used = position_label >= 0
    order = np.argsort(position_label[used], kind="stable")
    sorted_labels, points = position_label[used][order], positions[used][order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    lo = np.minimum.reduceat(points, starts, axis=0)  # (C, 3): every component has a position
    hi = np.maximum.reduceat(points, starts, axis=0)
    kept = np.argsort(-area, kind="stable")[:MAX_CLUSTERED_COMPONENTS]
    grow = limits.touch_tolerance * diagonal
    lo, hi = lo[kept] - grow, hi[kept] + grow
    touching = np.all(
        (lo[:, None, :] <= hi[None, :, :]) & (lo[None, :, :] <= hi[:, None, :]), axis=2
    )
    _, group = connected_components(touching, directed=False)
    group_area = np.bincount(group, weights=area[kept])
    return int((group_area >= limits.object_share * total).sum())
