"""The 3D-aware triplane UNet of PartField's encoder.

The UNet works on the *rolled* layout: the three (C, S, S) planes are stacked along the row
axis into one (C, 3S, S) image. Its 3x3 convolutions therefore see across the seams between
planes, and its GroupNorm statistics pool all three planes. Only the 3D-aware convolution
unrolls the planes to mix information between them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def roll(planes: Tensor) -> Tensor:
    """(B, 3, C, S, S) planes -> (B, C, 3S, S), plane k in rows kS .. kS + S - 1."""
    batch, _, channels, size, width = planes.shape
    return planes.transpose(1, 2).reshape(batch, channels, 3 * size, width)


def unroll(rolled: Tensor) -> Tensor:
    """(B, C, 3S, S) -> (B, 3, C, S, S); the inverse of :func:`roll`."""
    batch, channels, rows, width = rolled.shape
    return rolled.view(batch, channels, 3, rows // 3, width).transpose(1, 2)


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with min(channels, 32) groups and eps 1e-6."""
    return nn.GroupNorm(min(channels, 32), channels, eps=1e-6)


class Conv3DAware(nn.Module):
    """Mixes each plane with the axis profiles of the two other planes.

    With Q0, Q1 the first two planes and Q2 the third plane transposed, plane i is
    convolved (1x1) with ``[Qi, A, B]`` where, for j = i + 1 and k = i + 2 (mod 3),
    ``A[r, s] = mean_t Qj[s, t]`` (Qj's row means along the columns) and
    ``B[r, s] = mean_u Qk[u, r]`` (Qk's column means along the rows). The assignment is
    by tensor axes, as upstream trained it; the planes must be square.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.plane_convs = nn.ModuleList(
            nn.Conv2d(3 * in_channels, out_channels, 1) for _ in range(3)
        )

    def forward(self, planes: Tensor) -> Tensor:
        """(B, 3, C_in, S, S) -> (B, 3, C_out, S, S)."""
        q = [planes[:, 0], planes[:, 1], planes[:, 2].transpose(-1, -2)]
        out = []
        for i, conv in enumerate(self.plane_convs):
            q_j, q_k = q[(i + 1) % 3], q[(i + 2) % 3]
            a = q_j.mean(-1, keepdim=True).transpose(-1, -2).expand_as(q[i])
            b = q_k.mean(-2, keepdim=True).transpose(-1, -2).expand_as(q[i])
            out.append(conv(torch.cat([q[i], a, b], dim=1)))
        out[2] = out[2].transpose(-1, -2)
        return torch.stack(out, dim=1)


class ResBlock(nn.Module):
    """Residual block on the rolled layout, with a 3D-aware convolution in the middle."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm_mid = group_norm(out_channels)
        self.conv_3daware = Conv3DAware(out_channels, out_channels)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, 3S, S) rolled -> (B, C_out, 3S, S) rolled."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = F.silu(self.norm_mid(h))
        h = roll(self.conv_3daware(unroll(h)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.nin_shortcut(x) + h


class DownStep(nn.Module):
    """A ResBlock whose output is kept as a skip, then (optionally) 2x2 average pooling."""

    def __init__(self, in_channels: int, out_channels: int, pool: bool) -> None:
        super().__init__()
        self.block = ResBlock(in_channels, out_channels)
        self.pool = pool

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C_in, 3S, S) -> (pooled (B, C_out, 3S', S'), skip (B, C_out, 3S, S))."""
        skip = self.block(x)
        # Plane seams fall on even rows, so pooling the rolled image pools each plane.
        return (F.avg_pool2d(skip, 2) if self.pool else skip), skip


class UpStep(nn.Module):
    """Nearest 2x upsampling, concatenation with the skip, GroupNorm, ResBlock."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels + skip_channels)
        self.block = ResBlock(in_channels + skip_channels, out_channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        """(B, C_in, 3S, S) and (B, C_skip, 6S, 2S) -> (B, C_out, 6S, 2S)."""
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.block(self.norm1(torch.cat([x, skip], dim=1)))


class TriplaneUNet(nn.Module):
    """UNet over the rolled triplane; level i has ``start_channels * 2**i`` channels."""

    def __init__(
        self, in_channels: int, out_channels: int, depth: int, start_channels: int
    ) -> None:
        super().__init__()
        widths = [start_channels * 2**i for i in range(depth)]
        inputs = [in_channels, *widths[:-1]]
        self.down_convs = nn.ModuleList(
            DownStep(inputs[level], widths[level], pool=level < depth - 1) for level in range(depth)
        )
        self.up_convs = nn.ModuleList(
            UpStep(widths[level + 1], widths[level], widths[level])
            for level in reversed(range(depth - 1))
        )
        self.norm_out = group_norm(widths[0])
        self.conv_final = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, planes: Tensor) -> Tensor:
        """(B, 3, C_in, S, S) -> (B, 3, C_out, S, S)."""
        x = roll(planes)
        skips = []
        for down in self.down_convs:
            x, skip = down(x)
            skips.append(skip)
        skips.pop()  # the deepest level is not pooled: its skip is x itself
        for up in self.up_convs:
            x = up(x, skips.pop())
        return unroll(self.conv_final(F.silu(self.norm_out(x))))
