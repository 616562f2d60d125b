"""Hyper-parameters of PartField's feature network (the official ``demo.yaml`` setting)."""

from __future__ import annotations

from dataclasses import dataclass

#: Surface samples upstream feeds the encoder (``--partfield-points``).
DEFAULT_PARTFIELD_POINTS = 100_000


@dataclass(frozen=True)
class PartFieldConfig:
    """Architecture of the network; the defaults build the official checkpoint's model.

    Attributes:
        point_in_channels: width of the PVCNN input: ``[2s, 2p]`` (6 channels) padded with zeros.
        pvcnn_blocks: ``(width, blocks, voxel resolution)`` of the point-voxel stages.
            Only the first block feeds the triplane; the others exist for the checkpoint.
        triplane_channels: channels of the scattered planes and of the UNet output.
        triplane_resolution: side of every plane (pixels), at the scatter and at the query.
        unet_depth: UNet levels; level ``i`` has ``unet_start_channels * 2**i`` channels.
        unet_start_channels: channels of the UNet's first level.
        transformer_width: token width of the triplane transformer.
        transformer_layers: number of pre-norm transformer blocks.
        transformer_heads: attention heads (``transformer_width`` must divide evenly).
        token_resolution: side of each plane's token grid (two 2x max-pools below
            ``triplane_resolution``).
        out_channels: channels of the output triplane: SDF channels then part channels.
        sdf_channels: leading output channels that feed the (unused) SDF decoder.
        sdf_decoder_layers: linear layers of the (unused) SDF decoder.
    """

    point_in_channels: int = 8
    pvcnn_blocks: tuple[tuple[int, int, int], ...] = ((256, 1, 32), (128, 2, 16), (256, 1, 8))
    triplane_channels: int = 256
    triplane_resolution: int = 128
    unet_depth: int = 3
    unet_start_channels: int = 32
    transformer_width: int = 1024
    transformer_layers: int = 6
    transformer_heads: int = 8
    token_resolution: int = 32
    out_channels: int = 512
    sdf_channels: int = 64
    sdf_decoder_layers: int = 7

    def __post_init__(self) -> None:
        if self.pvcnn_blocks[0][0] != self.triplane_channels or self.pvcnn_blocks[0][1] != 1:
            raise ValueError("the first PVCNN stage must be one block of triplane_channels width")
        if self.triplane_resolution != 4 * self.token_resolution:
            raise ValueError("triplane_resolution must be 4 x token_resolution (two 2x pools)")
        if self.triplane_resolution % 2 ** (self.unet_depth - 1):
            raise ValueError("triplane_resolution must be divisible by the UNet's pooling")
        if self.transformer_width % self.transformer_heads:
            raise ValueError("transformer_width must be a multiple of transformer_heads")

    @property
    def part_channels(self) -> int:
        """Width of the part features (448 in the official model)."""
        return self.out_channels - self.sdf_channels
