"""Area-weighted surface sampling of a shape into N labelled points.

Points are seeded from the shape id, so the same shape gives the same points in every
run and on every worker, and are expressed in the shape's normalized frame::

    xyz_norm = (xyz - center) / scale      # center: bbox center, scale: longest bbox side

which puts every shape inside the unit cube [-0.5, 0.5]^3.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import trimesh
from PIL import Image

from featurizers.shapes import PointCloud, ShapeRecord

#: Surface points per shape (``--num-points``).
DEFAULT_SHAPE_POINTS = 10_000


class ShapeError(ValueError):
    """A shape that cannot be featurized (empty, non-finite, zero area...)."""


@dataclass(frozen=True)
class SurfaceSample:
    """N points sampled from a shape, in its normalized frame.

    Attributes:
        points: (N, 3) float32 positions, inside [-0.5, 0.5]^3.
        normals: (N, 3) float32 unit normals (zeros where the source had none).
        face_index: (N,) int32 global face each point lies on; for point clouds the
            index of the source point it was taken from.
        point_part: (N,) int16 part index of each point, -1 where unlabeled.
        colors: (N, 3) uint8 true surface color, or None when the shape has no colors.
        center: (3,) float32 bbox center in source units.
        scale: longest bbox side in source units.
    """

    points: np.ndarray
    normals: np.ndarray
    face_index: np.ndarray
    point_part: np.ndarray
    colors: np.ndarray | None
    center: np.ndarray
    scale: float


def shape_seed(shape_id: str) -> int:
    """A 64-bit seed derived from the shape id (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(shape_id.encode()).digest()[:8], "little")


def unit_cube_frame(points: np.ndarray, shape_id: str = "") -> tuple[np.ndarray, float]:
    """partbank's normalized frame of (P, 3) points: ``(center, scale)`` with center the bbox
    center ((3,) float32) and scale its longest side, so ``(xyz - center) / scale`` lies in
    [-0.5, 0.5]^3."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        center, scale = (lo + hi) / 2, float((hi - lo).max())
    float32_max = float(np.finfo(np.float32).max)
    if not (np.all(np.abs(center) < float32_max) and scale < float32_max):
        raise ShapeError(
            f"{shape_id}: coordinates too large to normalize in float32 "
            f"(bounding box {lo.tolist()} .. {hi.tolist()})"
        )
    if not scale > 0:
        raise ShapeError(f"{shape_id}: degenerate bounding box (all points coincide)")
    return center.astype(np.float32), scale


def sample_shape(record: ShapeRecord, num_points: int = DEFAULT_SHAPE_POINTS) -> SurfaceSample:
    """Sample ``num_points`` labelled points from a shape's surface (or its point cloud).

    Raises:
        ShapeError: empty geometry, non-finite coordinates, zero surface area.
    """
    rng = np.random.default_rng(shape_seed(record.shape_id))
    if record.cloud is not None:
        return _sample_cloud(record.shape_id, record.cloud, num_points, rng)
    return _sample_mesh(record, num_points, rng)


def _sample_mesh(record: ShapeRecord, num_points: int, rng: np.random.Generator) -> SurfaceSample:
    geometry = record.geometry
    if len(geometry.faces) == 0:
        raise ShapeError(f"{record.shape_id}: mesh has no faces")
    if not np.isfinite(geometry.vertices).all():
        raise ShapeError(f"{record.shape_id}: mesh has non-finite (NaN/inf) vertex coordinates")
    if not geometry.area > 0:
        raise ShapeError(f"{record.shape_id}: mesh has zero surface area")
    used_vertices = geometry.vertices[np.unique(geometry.faces)]
    center, scale = unit_cube_frame(used_vertices, record.shape_id)

    points, face_index, barycentric = trimesh.sample.sample_surface(
        geometry, num_points, return_barycentric=True, seed=rng
    )
    return SurfaceSample(
        points=((points - center) / scale).astype(np.float32),
        normals=geometry.face_normals[face_index].astype(np.float32),
        face_index=face_index.astype(np.int32),
        point_part=record.face_part[face_index],
        colors=_mesh_colors(record, face_index, barycentric),
        center=center,
        scale=scale,
    )


def _sample_cloud(
    shape_id: str, cloud: PointCloud, num_points: int, rng: np.random.Generator
) -> SurfaceSample:
    count = len(cloud.points)
    if count == 0:
        raise ShapeError(f"{shape_id}: point cloud is empty")
    if not np.isfinite(cloud.points).all():
        raise ShapeError(f"{shape_id}: point cloud has non-finite (NaN/inf) coordinates")
    center, scale = unit_cube_frame(cloud.points, shape_id)
    if count >= num_points:
        index = np.sort(rng.choice(count, num_points, replace=False))
    else:  # keep every point once, pad by resampling
        index = np.concatenate([np.arange(count), rng.choice(count, num_points - count)])
    normals = cloud.normals[index] if cloud.normals is not None else np.zeros((num_points, 3))
    return SurfaceSample(
        points=((cloud.points[index] - center) / scale).astype(np.float32),
        normals=normals.astype(np.float32),
        face_index=index.astype(np.int32),
        point_part=cloud.point_part[index].astype(np.int16),
        colors=cloud.colors[index] if cloud.colors is not None else None,
        center=center,
        scale=scale,
    )


def _mesh_colors(
    record: ShapeRecord, face_index: np.ndarray, barycentric: np.ndarray
) -> np.ndarray | None:
    """(N, 3) uint8 true surface colors at the sampled points, None if no piece has color."""
    if all(piece.mesh.visual.kind is None for piece in record.pieces):
        return None
    colors = np.empty((len(face_index), 3), dtype=np.uint8)
    piece_of_point = np.searchsorted(record.face_offsets, face_index, side="right") - 1
    for k, piece in enumerate(record.pieces):
        at = np.flatnonzero(piece_of_point == k)
        if len(at):
            local_face = face_index[at] - record.face_offsets[k]
            colors[at] = surface_color(piece.mesh, local_face, barycentric[at])
    return colors


#: Color of geometry without any visuals (trimesh's default gray).
DEFAULT_COLOR = np.array([102, 102, 102], dtype=np.uint8)


def surface_color(mesh: trimesh.Trimesh, face: np.ndarray, barycentric: np.ndarray) -> np.ndarray:
    """Color of a mesh's surface at points given by face and barycentric coordinates.

    Texture colors (``sample_texture``) are multiplied by the material's base color factor
    (glTF PBR) or diffuse color (OBJ/MTL); vertex colors are interpolated; face colors are
    taken as is.

    Args:
        mesh: the mesh with its visuals.
        face: (n,) int local face indices.
        barycentric: (n, 3) float barycentric coordinates within each face.

    Returns:
        (n, 3) uint8 RGB.
    """
    visual = mesh.visual
    if visual.kind == "texture":
        factor, image = material_color(visual.material)
        rgb = np.broadcast_to(factor, (len(face), 3)).astype(np.float64)
        if image is not None and visual.uv is not None and len(visual.uv):
            uv = np.einsum("nk,nkj->nj", barycentric, visual.uv[mesh.faces[face]])
            texels = sample_texture(texture_pixels(image), uv, texture_sampler(image))
            rgb = rgb * texels[:, :3] / 255.0
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    if visual.kind == "vertex":
        corner_colors = visual.vertex_colors[mesh.faces[face]][:, :, :3].astype(np.float64)
        rgb = np.einsum("nk,nkj->nj", barycentric, corner_colors)
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    if visual.kind == "face":
        return visual.face_colors[face][:, :3].astype(np.uint8)
    return np.broadcast_to(DEFAULT_COLOR, (len(face), 3)).copy()


def material_color(material) -> tuple[np.ndarray, object | None]:
    """(3,) float base color in 0..255 and the base color image (or None) of a material."""
    if isinstance(material, trimesh.visual.material.PBRMaterial):
        factor = material.baseColorFactor
        image = material.baseColorTexture
    else:
        factor = getattr(material, "diffuse", None)
        image = getattr(material, "image", None)
    rgb = np.full(3, 255.0) if factor is None else np.asarray(factor, dtype=np.float64)[:3]
    return rgb, image


# glTF sampler values (the OpenGL enums).
NEAREST, LINEAR = 9728, 9729
CLAMP_TO_EDGE, MIRRORED_REPEAT, REPEAT = 33071, 33648, 10497
_WRAPS = (CLAMP_TO_EDGE, MIRRORED_REPEAT, REPEAT)
_MIN_FILTERS = (NEAREST, LINEAR, 9984, 9985, 9986, 9987)  # and the four mipmapped ones

#: Key of ``PIL.Image.info`` under which a loader may attach a texture's glTF sampler
#: object (``{"wrapS": 33071, "magFilter": 9728, ...}``); absent: the glTF defaults.
SAMPLER_INFO_KEY = "gltf_sampler"


@dataclass(frozen=True)
class TextureSampler:
    """How a texture is read (glTF ``sampler``; the defaults are the spec's).

    Attributes:
        wrap_s, wrap_t: ``REPEAT``, ``MIRRORED_REPEAT`` or ``CLAMP_TO_EDGE`` along u and v.
        mag_filter: ``LINEAR`` or ``NEAREST``: the texture read at a point (the color the
            sampler gives it, and the renderer's full-resolution read).
        min_filter: the renderer's filter where the texture is minified (mipmapped modes
            included); None: trilinear.
    """

    wrap_s: int = REPEAT
    wrap_t: int = REPEAT
    mag_filter: int = LINEAR
    min_filter: int | None = None

    @classmethod
    def from_gltf(cls, sampler: dict) -> TextureSampler:
        """From a glTF sampler object; raises ValueError on values the spec does not allow."""
        made = cls(
            wrap_s=sampler.get("wrapS", REPEAT),
            wrap_t=sampler.get("wrapT", REPEAT),
            mag_filter=sampler.get("magFilter", LINEAR),
            min_filter=sampler.get("minFilter"),
        )
        if (
            made.wrap_s not in _WRAPS
            or made.wrap_t not in _WRAPS
            or made.mag_filter not in (NEAREST, LINEAR)
            or made.min_filter not in (None, *_MIN_FILTERS)
        ):
            raise ValueError(f"invalid glTF sampler {sampler}")
        return made


def texture_sampler(image: Image.Image) -> TextureSampler:
    """The sampler attached to a texture image (``SAMPLER_INFO_KEY``), else the defaults."""
    sampler = image.info.get(SAMPLER_INFO_KEY)
    return TextureSampler() if sampler is None else TextureSampler.from_gltf(sampler)


def texture_pixels(image: Image.Image) -> np.ndarray:
    """(H, W, 4) uint8 RGBA texels of an image, row 0 the image's top row."""
    return np.asarray(image.convert("RGBA"))


def sample_texture(pixels: np.ndarray, uv: np.ndarray, sampler: TextureSampler) -> np.ndarray:
    """Texture color at UV coordinates, as glTF (and OpenGL) define it.

    UV (0, 0) .. (1, 1) spans the texture's outer edges, texel (i, j) (column, row) is
    centered at ``((i + 0.5) / W, (j + 0.5) / H)`` and coordinates outside 0..1 wrap by
    the sampler's modes. ``uv`` is in trimesh's convention, v up (v = 0 at the image's
    bottom row; glTF's t is 1 - v, OBJ's vt is v), so the image rows need no flip.

    Args:
        pixels: (H, W, C) texels (``texture_pixels``).
        uv: (n, 2) float texture coordinates.
        sampler: wrap modes and the magnification filter used.

    Returns:
        (n, C) float64 in the texels' units.
    """
    height, width = pixels.shape[:2]
    uv = np.asarray(uv, dtype=np.float64)
    column = uv[:, 0] * width - 0.5  # continuous texel coordinates, centers at integers
    row = (1.0 - uv[:, 1]) * height - 0.5
    if sampler.mag_filter == NEAREST:
        i = _wrap(np.floor(column + 0.5).astype(np.int64), width, sampler.wrap_s)
        j = _wrap(np.floor(row + 0.5).astype(np.int64), height, sampler.wrap_t)
        return pixels[j, i].astype(np.float64)
    i0, j0 = np.floor(column), np.floor(row)
    a, b = (column - i0)[:, None], (row - j0)[:, None]
    i0, j0 = i0.astype(np.int64), j0.astype(np.int64)
    i = (_wrap(i0, width, sampler.wrap_s), _wrap(i0 + 1, width, sampler.wrap_s))
    j = (_wrap(j0, height, sampler.wrap_t), _wrap(j0 + 1, height, sampler.wrap_t))
    top = (1 - a) * pixels[j[0], i[0]] + a * pixels[j[0], i[1]]
    bottom = (1 - a) * pixels[j[1], i[0]] + a * pixels[j[1], i[1]]
    return (1 - b) * top + b * bottom


def _wrap(index: np.ndarray, size: int, mode: int) -> np.ndarray:
    """Integer texel indices wrapped into 0..size-1 (OpenGL's rules for each mode)."""
    if mode == CLAMP_TO_EDGE:
        return np.clip(index, 0, size - 1)
    if mode == MIRRORED_REPEAT:
        period = index % (2 * size)
        return np.where(period < size, period, 2 * size - 1 - period)
    return index % size
