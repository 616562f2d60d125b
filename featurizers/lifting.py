"""Lift per-view 2D feature maps onto 3D points.

Every point is projected into every view. It counts as seen in a view when it lies inside
the image, in front of the camera, and its pixel shows its own face or a surface at its
depth: the rendered depth at the pixel center matches the depth the point's surface has
there within ``tolerance_px`` pixel footprints (``z / f``, the size of one pixel at that
depth; default one half), plus the splat size for point clouds. Given normals, the
point's surface is its tangent plane, followed from the point to the pixel center: on a
surface seen obliquely depth changes by several footprints per pixel, which a fixed
tolerance around the point's own depth must either absorb, and then see through layers
closer than that (decals, shells), or miss. Without normals, and for splats (drawn at
one depth), it is the point's own depth, with twice the tolerance. A depth test rather than face-id
equality alone, because on dense meshes triangles are smaller than a pixel and the
pixel's triangle is often a neighbor of the point's own. Given normals, grazing views and
points on back faces along silhouettes are rejected too (``locate_points``). The id at
the pixel is kept for labels and debugging.

Two ways to read a map:

- ``"bilinear"`` (maps coarser than the image, e.g. DINOv2 patch grids): bilinear sample
  at the point's continuous pixel position, which equals bilinear upsampling of the map
  to the image size followed by sampling, without materializing the upsampled map.
- ``"surface"`` (maps at image resolution, e.g. the renders' own RGB): bilinear over the
  2 x 2 pixels around the point, restricted to the pixels on the point's own surface and
  renormalized: those showing its own face when any does (coarse meshes: no blending
  across face edges), else those passing the depth test at their own centers (dense
  meshes, clouds: no blending with background, occluders or a layer just above). Plain
  bilinear taps at image resolution would blend neighbors across color edges and
  silhouettes; a single pixel would be off by up to half a pixel on steep texture
  gradients.

Features are averaged over the views that see a point; a point no view sees takes the
feature of the nearest seen point (in 3D) and ``views_seen`` is 0 for it. Everything is
vectorized over points and views in torch, on the GPU when there is one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from featurizers.cameras import project_points
from featurizers.rendering import Renders
from featurizers.weights import pick_device

ReadMode = Literal["bilinear", "surface"]

#: Views that see a surface more obliquely than this (degrees from its normal) are ignored.
MAX_INCIDENCE_DEG = 75.0

#: Without a tangent plane (no normals, splats) the depth at the pixel center differs from
#: the point's own by the surface's slope over up to half a pixel too: the depth tolerance
#: is this many times wider (one footprint at the default ``tolerance_px``).
NO_PLANE_TOLERANCE_FACTOR = 2.0

#: (4, 2) column/row offsets of the bilinear taps from the top-left one.
_TAP_OFFSETS = torch.tensor([(0, 0), (1, 0), (0, 1), (1, 1)])


@dataclass(frozen=True)
class PointViews:
    """Where N points land in the V views of a rig, and which views see them.

    Attributes:
        points: (N, 3) float32 positions in the normalized frame.
        uv: (V, N, 2) float32 continuous pixel coordinates (column, row).
        visible: (V, N) bool, the view sees the point.
        face_id: (V, N) int32 id buffer at the pixel containing the point (-1 off-image or
            background); None in ``for_bilinear`` copies.
        taps: (V, N, 4) int64 flat pixel indices (row * S + column) of the 2 x 2 pixels
            around the point, read by ``"surface"``; None in ``for_bilinear`` copies.
        tap_weights: (V, N, 4) float32 bilinear weights of the taps on the point's own
            surface, summing to 1 (0 where no tap is); None in ``for_bilinear`` copies.
        image_size: S, the side of the rendered images.
    """

    points: torch.Tensor
    uv: torch.Tensor
    visible: torch.Tensor
    face_id: torch.Tensor | None
    taps: torch.Tensor | None
    tap_weights: torch.Tensor | None
    image_size: int

    def for_bilinear(self) -> PointViews:
        """The fields ``"bilinear"`` reads only (points, uv, visible): a fifth of the size,
        for carrying the located points to a later stage."""
        return dataclasses.replace(self, face_id=None, taps=None, tap_weights=None)

    @property
    def views_seen(self) -> np.ndarray:
        """(N,) uint8 number of views that see each point."""
        return self.visible.sum(0).clamp(max=255).to(torch.uint8).cpu().numpy()


def locate_points(
    points: np.ndarray,
    renders: Renders,
    face_index: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    tolerance_px: float = 0.5,
    max_incidence_deg: float = MAX_INCIDENCE_DEG,
    device: torch.device | str | None = None,
) -> PointViews:
    """Project points into every rendered view, test visibility, find surface taps.

    A view sees a point when its pixel shows its face or the depth test passes (see the
    module docstring) and, given normals, the view is not grazing (within
    ``max_incidence_deg`` of the normal line) and the point does not face away from the
    camera while its pixel shows a surface facing it. The last rule rejects points on back
    faces along silhouettes, where the depth test alone passes (the front face across the
    shared edge has the same depth); single-sided sheets seen from behind and flipped
    faces pass, as their pixels face away too.

    Args:
        points: (N, 3) positions in the normalized frame of the renders.
        renders: the views (their depth, id and facing buffers and rig are used).
        face_index: (N,) id of each point's own face (point index for clouds), to prefer
            surface taps on it; None: taps are chosen by the depth test alone.
        normals: (N, 3) surface normals, oriented like the face winding (zero rows:
            unknown); None: no normal tests.
        tolerance_px: depth tolerance in pixel footprints at the point's depth
            (``NO_PLANE_TOLERANCE_FACTOR`` times that where its tangent plane is unknown).
        max_incidence_deg: largest angle between a view ray and the normal line.
        device: torch device; None or ``"auto"``: CUDA when available.
    """
    device = pick_device(device)
    rig, size, views = renders.rig, renders.rig.image_size, renders.rig.num_views
    points_t = torch.as_tensor(np.asarray(points, dtype=np.float32), device=device)
    intrinsics = torch.as_tensor(rig.intrinsics, dtype=torch.float32, device=device)
    extrinsics = torch.as_tensor(rig.extrinsics, dtype=torch.float32, device=device)
    uv, z = project_points(points_t, intrinsics, extrinsics)
    depth_buffer = torch.as_tensor(renders.depth, device=device).reshape(views, -1)
    id_buffer = torch.as_tensor(renders.face_id, device=device).reshape(views, -1)
    own = None if face_index is None else torch.as_tensor(np.asarray(face_index), device=device)

    pixel = uv.floor().long()
    inside = (z > 0) & (pixel >= 0).all(-1) & (pixel < size).all(-1)
    pixel = pixel.clamp(0, size - 1)
    flat = pixel[..., 1] * size + pixel[..., 0]
    taps, weights = _bilinear_taps(uv, size, size)
    gradient = torch.zeros((*z.shape, 2), device=device)  # 0: the point's own depth
    planar = torch.zeros(len(points_t), dtype=torch.bool, device=device)
    if normals is not None and renders.splat_size == 0:
        gradient = _inverse_depth_gradient(points_t, intrinsics, extrinsics, normals)
        planar = torch.as_tensor(np.any(np.asarray(normals) != 0, axis=1), device=device)
    slack = torch.where(planar, 1.0, NO_PLANE_TOLERANCE_FACTOR)
    tolerance = tolerance_px * slack * z / intrinsics[:, 0, 0, None] + renders.splat_size
    centers = torch.cat([flat[..., None], taps], dim=-1)  # the point's pixel, then its taps
    predicted = _surface_depth(z, uv, centers, size, gradient)
    matches = (_gather(depth_buffer, centers) - predicted).abs() <= tolerance[..., None]
    if own is not None:
        own_face = _gather(id_buffer, centers) == own.long()[None, :, None]
        matches |= own_face
    visible = inside & matches[..., 0]
    if normals is not None:
        front = torch.as_tensor(renders.front_facing, device=device).reshape(views, -1)
        cosine = _view_cosine(points_t, extrinsics, normals)
        visible &= cosine.abs() >= np.cos(np.radians(max_incidence_deg))
        visible &= (cosine >= 0) | ~front.gather(1, flat)

    on_surface = matches[..., 1:]
    if own is not None:
        own_tap = own_face[..., 1:]
        on_surface = torch.where(own_tap.any(-1, keepdim=True), own_tap, on_surface)
    weights = weights * on_surface
    return PointViews(
        points=points_t,
        uv=uv,
        visible=visible,
        face_id=torch.where(inside, id_buffer.gather(1, flat), -1),
        taps=taps,
        tap_weights=weights / weights.sum(-1, keepdim=True).clamp(min=1e-12),
        image_size=size,
    )


def _bilinear_taps(uv: torch.Tensor, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(V, N, 4) flat indices (row * width + column) and bilinear weights of the cells
    around continuous positions ``uv`` on a width x height grid (cell centers at
    half-integers; taps off the grid clamp to its border)."""
    corner = (uv - 0.5).floor()
    fraction = uv - 0.5 - corner
    offsets = _TAP_OFFSETS.to(uv.device)
    taps = corner.long()[:, :, None] + offsets
    column = taps[..., 0].clamp(0, width - 1)
    row = taps[..., 1].clamp(0, height - 1)
    along = torch.where(offsets.bool(), fraction[:, :, None], 1 - fraction[:, :, None])
    return row * width + column, along.prod(-1)


def _inverse_depth_gradient(
    points: torch.Tensor, intrinsics: torch.Tensor, extrinsics: torch.Tensor, normals: np.ndarray
) -> torch.Tensor:
    """(V, N, 2) relative change of 1/z per pixel (column, row) on each point's tangent plane:
    ``1 / z(uv + d) = (1 + gradient . d) / z``.

    On the plane ``n . x = n . p`` (camera frame) the ray through pixel ``uv`` is
    ``z * q(uv)`` with ``q = ((u - cx) / fx, (v - cy) / fy, 1)``, so ``1 / z`` is
    ``n . q / (n . p)``: affine in ``uv``. Planes seen edge-on get a huge gradient (their
    depth is undefined off the point), which no depth test passes.
    """
    normals_t = torch.as_tensor(np.asarray(normals, dtype=np.float32), device=points.device)
    rotation = extrinsics[:, :3, :3]
    camera = torch.einsum("vij,nj->vni", rotation, points) + extrinsics[:, None, :3, 3]
    normal = torch.einsum("vij,nj->vni", rotation, normals_t)
    facing = (normal * camera).sum(-1) / camera[..., 2]  # n . q, q = camera / z
    facing = torch.where(facing.abs() < 1e-6, torch.full_like(facing, 1e-6), facing)
    focal = torch.stack([intrinsics[:, 0, 0], intrinsics[:, 1, 1]], -1)[:, None]
    gradient = normal[..., :2] / focal / facing[..., None]
    return gradient.masked_fill((normals_t == 0).all(-1)[None, :, None], 0.0)  # unknown


def _surface_depth(
    z: torch.Tensor, uv: torch.Tensor, centers: torch.Tensor, size: int, gradient: torch.Tensor
) -> torch.Tensor:
    """(V, N, K) depth of each point's tangent plane (``gradient``, see
    ``_inverse_depth_gradient``; 0: the plane facing the camera) at the centers of pixels
    given by (V, N, K) flat indices."""
    offset = torch.stack([centers % size, centers // size], -1) + 0.5 - uv[:, :, None]
    scale = 1 + (gradient[:, :, None] * offset).sum(-1)
    return torch.where(scale > 0, z[..., None] / scale.clamp(min=1e-12), torch.inf)


def _gather(buffer: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Values of (V, S * S) buffers at (V, N, K) flat indices."""
    views = index.shape[0]
    return buffer.gather(1, index.reshape(views, -1)).reshape(index.shape)


def _view_cosine(
    points: torch.Tensor, extrinsics: torch.Tensor, normals: np.ndarray
) -> torch.Tensor:
    """(V, N) cosine between each point's normal and its ray to each camera (1 where the
    normal is zero, i.e. unknown)."""
    normals_t = torch.as_tensor(np.asarray(normals, dtype=np.float32), device=points.device)
    rotation = extrinsics[:, :3, :3]
    eyes = -torch.einsum("vji,vj->vi", rotation, extrinsics[:, :3, 3])  # camera centers
    rays = F.normalize(eyes[:, None] - points[None], dim=-1)
    cosine = (rays * F.normalize(normals_t, dim=-1)[None]).sum(-1)
    return cosine.masked_fill((normals_t == 0).all(-1)[None], 1.0)


def lift(
    feature_maps: torch.Tensor, located: PointViews, mode: ReadMode = "bilinear"
) -> torch.Tensor:
    """Mean over seeing views of the features read at the points; unseen points filled.

    The reads of all (view, point) pairs that see each other, four weighted taps each, form
    one sparse (N, V * H * W) matrix, applied to the channels-last maps in a single product.

    Args:
        feature_maps: (V, C, H, W) per-view features covering the whole image; any H, W
            for ``"bilinear"``, H = W = S for ``"surface"``.
        located: the points' projections and visibility in the same V views.
        mode: ``"bilinear"`` or ``"surface"`` (see the module docstring).

    Returns:
        (N, C) float32 on the device of ``located``.
    """
    device = located.points.device
    views, channels, height, width = feature_maps.shape
    if mode == "surface":
        if located.taps is None:
            raise ValueError("'surface' reads need the taps (not a for_bilinear copy)")
        if (height, width) != (located.image_size, located.image_size):
            raise ValueError(
                f"'surface' reads need image-sized maps, got {tuple(feature_maps.shape)}"
            )
        taps, weights = located.taps, located.tap_weights
    elif mode == "bilinear":
        grid_scale = located.uv.new_tensor([width, height]) / located.image_size
        taps, weights = _bilinear_taps(located.uv * grid_scale, width, height)
    else:
        raise ValueError(f"unknown read mode {mode!r} (expected 'bilinear' or 'surface')")
    view, point = located.visible.nonzero(as_tuple=True)
    columns = taps[view, point] + (view * height * width)[:, None]
    reads = torch.sparse_coo_tensor(
        torch.stack([point.repeat_interleave(4), columns.reshape(-1)]),
        weights[view, point].reshape(-1),
        (len(located.points), views * height * width),
        check_invariants=True,
    )
    table = feature_maps.to(device=device, dtype=torch.float32).permute(0, 2, 3, 1)
    lifted = torch.sparse.mm(reads.coalesce(), table.reshape(-1, channels))
    count = located.visible.sum(0)
    lifted /= count.clamp(min=1)[:, None]
    return _fill_unseen(lifted, located.points, count > 0)


def _fill_unseen(features: torch.Tensor, points: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """Give every unseen point the features of its nearest seen point (in place)."""
    if seen.all() or not seen.any():
        return features
    unseen_index = torch.nonzero(~seen)[:, 0]
    seen_index = torch.nonzero(seen)[:, 0]
    seen_points = points[seen_index]
    for start in range(0, len(unseen_index), 1024):
        block = unseen_index[start : start + 1024]
        nearest = torch.cdist(points[block], seen_points).argmin(1)
        features[block] = features[seen_index[nearest]]
    return features


def lift_rgb(renders: Renders, located: PointViews) -> np.ndarray:
    """(N, 3) uint8 render colors lifted onto the points (the ``rgb`` featurizer)."""
    maps = torch.as_tensor(renders.rgb).permute(0, 3, 1, 2)
    lifted = lift(maps, located, mode="surface")
    return lifted.round().clamp(0, 255).to(torch.uint8).cpu().numpy()
