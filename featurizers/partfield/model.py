"""PartField's feature network: point cloud -> 448-channel part-feature triplane -> point queries.

Points and queries are in PartField's frame: the shape's bounding box centred at the origin
with its longest side spanning [-0.9, 0.9] (see :mod:`featurizers.partfield.preprocess`).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featurizers.partfield.checkpoint import read_state_dict
from featurizers.partfield.config import PartFieldConfig
from featurizers.partfield.pvcnn import PLANE_AXES, TriplaneEncoder
from featurizers.partfield.transformer import TriplaneTransformer


def query_triplane(triplane: Tensor, query: Tensor) -> Tensor:
    """Bilinear triplane lookup, summed over the three planes.

    Plane ``k`` is read at the query's (column axis, row axis) coordinates from
    ``PLANE_AXES``, with ``align_corners=True`` (-1 and +1 are the centres of the edge
    pixels) and border padding.

    Args:
        triplane: (B, 3, C, R, R) feature planes.
        query: (B, M, 3) positions in [-1, 1].

    Returns:
        (B, M, C) features.
    """
    per_plane = [
        F.grid_sample(
            triplane[:, k],
            query[:, :, None, [col, row]],  # (B, M, 1, 2)
            mode="bilinear",
            padding_mode="border",
            align_corners=True,
        )[..., 0]
        for k, (col, row) in enumerate(PLANE_AXES)
    ]
    return (per_plane[0] + per_plane[1] + per_plane[2]).transpose(1, 2)


class SDFDecoder(nn.Module):
    """Upstream's bias-free tanh MLP on the SDF channels: parameters only, never run here."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            if i:
                layers.append(nn.Tanh())
            layers.append(nn.Linear(width, width if i < depth - 1 else 1, bias=False))
        self.layers = nn.Sequential(*layers)


class PartField(nn.Module):
    """PartField's feature network (PVCNN encoder, triplane UNet, triplane transformer).

    ``state_dict()`` matches the official checkpoint key for key. Inference runs only what
    the part features need: PVCNN block 0, the UNet, the transformer and the part channels
    of its output. ``logit_scale``, ``sdf_decoder`` and PVCNN blocks 1-3 are parameters only.

    Example:
        >>> model = PartField().load_checkpoint("model_objaverse.ckpt").eval()
        >>> feats = model.features(points)  # (P, 3) in PartField's frame -> (P, 448)
    """

    def __init__(self, config: PartFieldConfig | None = None) -> None:
        super().__init__()
        self.config = config or PartFieldConfig()
        self.logit_scale = nn.Parameter(torch.ones(1))
        self.triplane_transformer = TriplaneTransformer(self.config)
        self.sdf_decoder = SDFDecoder(self.config.sdf_channels, self.config.sdf_decoder_layers)
        self.pvcnn = TriplaneEncoder(self.config)

    def load_checkpoint(self, path: str | Path) -> PartField:
        """Load a state_dict file or Lightning checkpoint strictly; returns ``self``.

        Raises:
            CheckpointError: a key is missing, unexpected or misshapen (named in the message).
        """
        self.load_state_dict(read_state_dict(path, self.state_dict()), strict=True)
        return self

    def part_triplane(self, points: Tensor) -> Tensor:
        """(B, P, 3) encoder points -> (B, 3, 448, R, R) part-feature triplane (channels 64-511)."""
        planes = self.pvcnn(points)
        return self.triplane_transformer(planes, slice(self.config.sdf_channels, None))

    def forward(self, points: Tensor, query: Tensor) -> Tensor:
        """(B, P, 3) encoder points and (B, M, 3) queries -> (B, M, 448) part features."""
        return query_triplane(self.part_triplane(points), query)

    @torch.inference_mode()
    def features(self, points: Tensor, query: Tensor | None = None) -> Tensor:
        """Part features of a shape (or a batch of shapes) at query points.

        Args:
            points: (P, 3) or (B, P, 3) normalized encoder points (PartField's frame).
            query: (M, 3) or (B, M, 3) positions in the same frame; default: ``points``.

        Returns:
            (M, 448) or (B, M, 448) float32 features (also under autocast).
        """
        if points.shape[-1] != 3 or points.dim() not in (2, 3):
            raise ValueError(f"points must be (P, 3) or (B, P, 3), got {tuple(points.shape)}")
        query = points if query is None else query
        if query.shape[-1] != 3 or query.dim() != points.dim():
            raise ValueError(
                f"query must be (M, 3) or (B, M, 3) like points, got {tuple(query.shape)}"
            )
        param = self.logit_scale
        points = points.to(param.device, torch.float32)
        query = query.to(param.device, torch.float32)
        if points.dim() == 2:
            return self(points[None], query[None])[0]
        return self(points, query)
