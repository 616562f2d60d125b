"""Pinhole camera rigs around a normalized shape, and point projection.

Conventions (OpenCV): a camera looks along its +z axis, x points right and y down in the
image. Pixel ``(i, j)`` (column, row) covers ``[i, i + 1) x [j, j + 1)`` in continuous pixel
coordinates ``(u, v)``, so its center is ``(i + 0.5, j + 0.5)``; row 0 is the top of the
image. Extrinsics map world (normalized-frame) points to camera coordinates::

    x_cam = R @ x_world + t        # extrinsics = [[R, t], [0, 0, 0, 1]]
    (u, v) = (fx * x / z + cx, fy * y / z + cy)

The normalized frame is the one of ``featurizers.sampling``: the shape fits in the unit
cube ``[-0.5, 0.5]^3``, +y is up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

#: Radius of the sphere around the unit cube: framing it keeps any normalized shape in view.
UNIT_CUBE_RADIUS = math.sqrt(3.0) / 2.0


@dataclass(frozen=True)
class CameraRig:
    """V pinhole cameras sharing one square image size.

    Attributes:
        intrinsics: (V, 3, 3) float32 camera matrices K, in pixels.
        extrinsics: (V, 4, 4) float32 world-to-camera transforms (OpenCV axes).
        image_size: S, the width and height of every image in pixels.
        near, far: clipping distances along the optical axis, normalized-frame units.
    """

    intrinsics: np.ndarray
    extrinsics: np.ndarray
    image_size: int
    near: float
    far: float

    @property
    def num_views(self) -> int:
        return len(self.intrinsics)

    def gl_view_projection(self) -> np.ndarray:
        """(V, 4, 4) float32 OpenGL clip transforms (column vectors) equivalent to K [R | t].

        Window coordinates equal pixel coordinates ``(u, v)``, so framebuffer row ``j`` is
        image row ``j`` (top first) and buffers need no flip when read back.
        """
        size, near, far = self.image_size, self.near, self.far
        k = self.intrinsics.astype(np.float64)
        clip = np.zeros((self.num_views, 4, 4))
        clip[:, 0, 0] = 2 * k[:, 0, 0] / size
        clip[:, 0, 2] = 2 * k[:, 0, 2] / size - 1
        clip[:, 1, 1] = 2 * k[:, 1, 1] / size
        clip[:, 1, 2] = 2 * k[:, 1, 2] / size - 1
        clip[:, 2, 2] = (far + near) / (far - near)
        clip[:, 2, 3] = -2 * far * near / (far - near)
        clip[:, 3, 2] = 1
        return (clip @ self.extrinsics).astype(np.float32)


def orbit_rig(
    num_views: int = 12,
    image_size: int = 448,
    elevations_deg: Sequence[float] = (30.0, -30.0),
    fov_deg: float = 40.0,
    frame_radius: float = UNIT_CUBE_RADIUS,
) -> CameraRig:
    """Cameras evenly spaced in azimuth around the +y axis, looking at the origin.

    View ``i`` has azimuth ``360 * i / num_views`` degrees and elevation
    ``elevations_deg[i % len(elevations_deg)]``, so with the default two elevations the
    views alternate above and below the equator (undersides of seats and tabletops are
    seen) and every view has its own azimuth. The distance is chosen so that a sphere of
    ``frame_radius`` around the origin (by default the one around the unit cube) just fits
    the field of view.

    Returns:
        The rig; every view has the same intrinsics.
    """
    if num_views < 1 or image_size < 1:
        raise ValueError(f"need >= 1 view and >= 1 px, got {num_views} views of {image_size} px")
    if not all(-90.0 < e < 90.0 for e in elevations_deg):
        raise ValueError(f"elevations must lie strictly between -90 and 90, got {elevations_deg}")
    half_fov = math.radians(fov_deg) / 2
    distance = frame_radius / math.sin(half_fov)
    focal = image_size / (2 * math.tan(half_fov))
    intrinsics = np.array(
        [[focal, 0, image_size / 2], [0, focal, image_size / 2], [0, 0, 1]], dtype=np.float32
    )
    azimuth = np.radians(360.0 * np.arange(num_views) / num_views)
    elevation = np.radians(np.resize(np.asarray(elevations_deg, dtype=np.float64), num_views))
    eyes = distance * np.stack(
        [
            np.cos(elevation) * np.sin(azimuth),
            np.sin(elevation),
            np.cos(elevation) * np.cos(azimuth),
        ],
        axis=1,
    )
    return CameraRig(
        intrinsics=np.repeat(intrinsics[None], num_views, axis=0),
        extrinsics=np.stack([look_at(eye) for eye in eyes]),
        image_size=image_size,
        near=max(distance - 1.05 * frame_radius, 1e-3),
        far=distance + 1.05 * frame_radius,
    )


def look_at(
    eye: np.ndarray, target: np.ndarray | None = None, up: np.ndarray | None = None
) -> np.ndarray:
    """(4, 4) float32 world-to-camera transform (OpenCV axes) of a camera at ``eye``
    looking at ``target`` (default origin) with ``up`` (default +y) up in the image."""
    eye = np.asarray(eye, dtype=np.float64)
    target = np.zeros(3) if target is None else np.asarray(target, dtype=np.float64)
    up = np.array([0.0, 1.0, 0.0]) if up is None else np.asarray(up, dtype=np.float64)
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = -rotation @ eye
    return transform.astype(np.float32)


def project_points(
    points: torch.Tensor, intrinsics: torch.Tensor, extrinsics: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project N world points into V cameras.

    Args:
        points: (N, 3) float positions in the normalized frame.
        intrinsics: (V, 3, 3) camera matrices in pixels.
        extrinsics: (V, 4, 4) world-to-camera transforms.

    Returns:
        uv: (V, N, 2) continuous pixel coordinates (column, row).
        depth: (V, N) distance along each optical axis (camera-space z), same units as
            the points; <= 0 for points behind a camera.
    """
    cam = torch.einsum("vij,nj->vni", extrinsics[:, :3, :3], points) + extrinsics[:, None, :3, 3]
    depth = cam[..., 2]
    pix = torch.einsum("vij,vnj->vni", intrinsics, cam)
    uv = pix[..., :2] / pix[..., 2:].clamp_min(1e-12)
    return uv, depth
