"""PVCNN point encoder: points -> point-voxel features -> three scattered feature planes.

Coordinates: the input points ``p`` live in PartField's frame (about [-1, 1]^3). The encoder
also uses the halved coordinates ``s = (p + 1) / 2 - 0.5`` (in [-0.5, 0.5]^3) for the plane
scatter. Planes are ``(x, y)``, ``(y, z)`` and ``(x, z)``, each indexed ``[row, column]`` =
``[second axis, first axis]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featurizers.partfield.config import PartFieldConfig
from featurizers.partfield.unet import TriplaneUNet

#: The (column axis, row axis) of each feature plane.
PLANE_AXES = ((0, 1), (1, 2), (0, 2))


def halved_coords(points: Tensor) -> Tensor:
    """(B, N, 3) points in [-1, 1] -> (B, N, 3) the same points in [-0.5, 0.5]."""
    return (points + 1) / 2 - 0.5


def scatter_mean(values: Tensor, index: Tensor, size: int) -> Tensor:
    """Mean of the values that share a bin; empty bins are 0.

    Args:
        values: (B, C, N) features.
        index: (B, N) int64 bin of every point, in [0, size).
        size: number of bins per batch element.

    Returns:
        (B, C, size) per-bin means, computed in float32.
    """
    batch, channels, _ = values.shape
    flat = (index + size * torch.arange(batch, device=index.device)[:, None]).flatten()
    rows = values.float().transpose(1, 2).reshape(-1, channels)
    sums = rows.new_zeros(batch * size, channels).index_add_(0, flat, rows)
    counts = torch.bincount(flat, minlength=batch * size).clamp_(min=1)
    means = sums / counts[:, None].to(sums.dtype)
    return means.view(batch, size, channels).transpose(1, 2)


def voxelize(features: Tensor, coords: Tensor, resolution: int) -> tuple[Tensor, Tensor]:
    """Average point features into a voxel grid.

    Args:
        features: (B, C, N) point features.
        coords: (B, 3, N) coordinates in [-1, 1].
        resolution: voxels per side R.

    Returns:
        ``(volume, v)``: (B, C, R, R, R) mean features with axes ordered (x, y, z), and
        (B, 3, N) the continuous voxel coordinates (clamped to [0, R - 1], not rounded).
    """
    v = ((coords + 1) / 2 * resolution).clamp(0, resolution - 1)
    ix, iy, iz = torch.round(v).long().unbind(1)
    flat = (ix * resolution + iy) * resolution + iz
    volume = scatter_mean(features, flat, resolution**3)
    return volume.view(*features.shape[:2], resolution, resolution, resolution), v


def devoxelize(volume: Tensor, v: Tensor) -> Tensor:
    """Trilinear read of a voxel grid at continuous voxel coordinates.

    PartField's devoxelizer hands the (x, y, z) coordinates to ``grid_sample`` unchanged,
    which reads grid component 0 along the *last* volume axis: every point therefore reads
    the (x, y, z)-ordered volume at (z, y, x). The official weights were trained that way,
    so this quirk is reproduced on purpose.

    Args:
        volume: (B, C, R, R, R) voxel features, axes (x, y, z).
        v: (B, 3, N) continuous voxel coordinates in [0, R - 1].

    Returns:
        (B, C, N) interpolated features.
    """
    resolution = volume.shape[-1]
    grid = (2 * v + 1) / resolution - 1
    grid = grid.transpose(1, 2)[:, :, None, None, :]
    # Channels-last keeps each corner's channels together: same values, much faster reads.
    volume = volume.contiguous(memory_format=torch.channels_last_3d)
    sampled = F.grid_sample(
        volume, grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return sampled.flatten(2)


class SharedMLP(nn.Module):
    """The point branch: a per-point 1x1 convolution, InstanceNorm over the points, ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, 1),
            nn.InstanceNorm1d(out_channels, eps=1e-5),
            nn.ReLU(),
        )

    def forward(self, features: Tensor) -> Tensor:
        """(B, C_in, N) -> (B, C_out, N)."""
        return self.layers(features)


class PVConv(nn.Module):
    """Point-voxel convolution: 3-D convs on a ``resolution``^3 voxel grid plus a point branch."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.voxel_layers = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, 3, padding=1),
            nn.InstanceNorm3d(out_channels, eps=1e-4),
            nn.LeakyReLU(0.1),
            nn.Conv3d(out_channels, out_channels, 3, padding=1),
            nn.InstanceNorm3d(out_channels, eps=1e-4),
            nn.LeakyReLU(0.1),
        )
        self.point_features = SharedMLP(in_channels, out_channels)

    def forward(self, features: Tensor, coords: Tensor) -> Tensor:
        """(B, C_in, N) features at (B, 3, N) coordinates in [-1, 1] -> (B, C_out, N)."""
        volume, v = voxelize(features, coords, self.resolution)
        volume = self.voxel_layers(volume)
        return devoxelize(volume, v) + self.point_features(features)


class PointEncoder(nn.Module):
    """PVCNN stages. Only block 0 runs: upstream discards the outputs of the later blocks."""

    def __init__(self, config: PartFieldConfig) -> None:
        super().__init__()
        self.in_channels = config.point_in_channels
        blocks = []
        channels = config.point_in_channels
        for width, count, resolution in config.pvcnn_blocks:
            for _ in range(count):
                blocks.append(PVConv(channels, width, resolution))
                channels = width
        self.encoder = nn.ModuleList(blocks)

    def forward(self, points: Tensor) -> Tensor:
        """(B, N, 3) points in [-1, 1] -> (B, C, N) block-0 point features."""
        features = torch.cat([halved_coords(points), points], dim=-1).transpose(1, 2) * 2
        coords = features[:, :3]
        features = F.pad(features, (0, 0, 0, self.in_channels - features.shape[1]))
        return self.encoder[0](features, coords)


def scatter_to_triplane(features: Tensor, halved: Tensor, resolution: int) -> Tensor:
    """Average point features into the three axis-aligned planes.

    Pixels bin [-0.5, 0.5] * (1 + 1e-5) into ``resolution`` cells by truncation.

    Args:
        features: (B, C, N) point features.
        halved: (B, N, 3) point coordinates in [-0.5, 0.5].
        resolution: plane side R.

    Returns:
        (B, 3, C, R, R) planes indexed [batch, plane, channel, row, column].
    """
    unit = (halved / (1 + 1e-5) + 0.5).clamp(0, 1 - 1e-5)
    pixel = (unit * resolution).long()
    planes = [
        scatter_mean(features, pixel[..., row] * resolution + pixel[..., col], resolution**2)
        for col, row in PLANE_AXES
    ]
    return torch.stack(planes, dim=1).unflatten(-1, (resolution, resolution))


class TriplaneEncoder(nn.Module):
    """Points -> PVCNN block-0 features -> scattered planes -> triplane UNet."""

    def __init__(self, config: PartFieldConfig) -> None:
        super().__init__()
        self.resolution = config.triplane_resolution
        self.pc_encoder = PointEncoder(config)
        self.unet_encoder = TriplaneUNet(
            config.triplane_channels,
            config.triplane_channels,
            depth=config.unet_depth,
            start_channels=config.unet_start_channels,
        )

    def forward(self, points: Tensor) -> Tensor:
        """(B, N, 3) points in [-1, 1] -> (B, 3, C, R, R) feature triplane."""
        features = self.pc_encoder(points)
        planes = scatter_to_triplane(features, halved_coords(points), self.resolution)
        return self.unet_encoder(planes)
