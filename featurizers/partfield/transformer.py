"""The triplane transformer: encoder triplane -> output triplane (SDF + part channels).

The three planes are downsampled 4x into tokens (3 * r * r of them, in plane, row, column
order), run through a pre-norm ViT, and upsampled back with a stride-4 transposed
convolution; a per-pixel MLP of the input planes is added as a skip path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featurizers.partfield.config import PartFieldConfig


class SelfAttention(nn.Module):
    """Multi-head self-attention without biases (``nn.MultiheadAttention``'s key layout)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.out_proj = nn.Linear(width, width, bias=False)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, W) -> (B, T, W)."""
        batch, tokens, width = x.shape
        qkv = F.linear(x, self.in_proj_weight).view(batch, tokens, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).reshape(batch, tokens, width))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attn(LN(x)), then x + MLP(LN(x)) with exact GELU."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.self_attn = SelfAttention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width),
            nn.GELU(),
            nn.Identity(),  # upstream's dropout slot (p = 0); keeps the checkpoint's indices
            nn.Linear(4 * width, width),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, W) -> (B, T, W)."""
        x = x + self.self_attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """A stack of :class:`TransformerBlock` followed by a final LayerNorm."""

    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TransformerBlock(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, W) -> (B, T, W)."""
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


class TriplaneTransformer(nn.Module):
    """Encoder triplane (B, 3, C, R, R) -> output triplane (B, 3, out_channels, R, R)."""

    def __init__(self, config: PartFieldConfig) -> None:
        super().__init__()
        width, low = config.transformer_width, config.token_resolution
        in_channels, out_channels = config.triplane_channels, config.out_channels
        self.pos_embed = nn.Parameter(torch.zeros(1, 3 * low * low, width))
        self.transformer = Transformer(width, config.transformer_layers, config.transformer_heads)
        self.downsampler = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.upsampler = nn.ConvTranspose2d(width, out_channels, 4, stride=4)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, out_channels),
            nn.ReLU(),
            nn.Linear(out_channels, out_channels),
        )

    def forward(self, planes: Tensor, channels: slice = slice(None)) -> Tensor:
        """Compute the output triplane, or only its ``channels`` (the rest is skipped).

        Args:
            planes: (B, 3, C, R, R) encoder triplane.
            channels: which output channels to compute.

        Returns:
            (B, 3, K, R, R) the selected K output channels.
        """
        batch, _, _, res, _ = planes.shape
        x = planes.flatten(0, 1)  # (3B, C, R, R)
        grid = self.downsampler(x)  # (3B, W, r, r)
        width, low = grid.shape[1], grid.shape[-1]
        tokens = grid.view(batch, 3, width, low, low).permute(0, 1, 3, 4, 2)
        tokens = self.transformer(tokens.reshape(batch, -1, width) + self.pos_embed)
        grid = tokens.view(batch * 3, low, low, width).permute(0, 3, 1, 2)
        up = self.upsampler
        residual = F.conv_transpose2d(
            grid, up.weight[:, channels], up.bias[channels], stride=up.stride
        )
        first, last = self.mlp[0], self.mlp[2]
        hidden = F.relu(first(x.permute(0, 2, 3, 1)))
        skip = F.linear(hidden, last.weight[channels], last.bias[channels])
        out = skip.permute(0, 3, 1, 2) + residual
        return out.view(batch, 3, -1, res, res)
