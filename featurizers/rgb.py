"""The ``rgb`` featurizer: unlit base-color renders lifted onto the points.

Column ``rgb``: (N, 3) uint8, the mean over the views that see a point of the render's
color on the point's own surface (``featurizers.lifting``, ``"surface"`` reads; it imports
torch, so only the step imports it).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from featurizers.contract import FeaturizerSpec, PointColumn, Prepared, ShapeInputs


def rgb_columns(config: Any) -> tuple[PointColumn, ...]:
    return (PointColumn("rgb", pa.uint8(), 3),)


def rgb_step(inputs: ShapeInputs, config: Any) -> Prepared:
    """The shape's ``rgb`` from its unlit renders and located points."""
    from featurizers.lifting import lift_rgb

    return Prepared(columns={"rgb": lift_rgb(inputs.renders["unlit"], inputs.located)})


RGB = FeaturizerSpec(name="rgb", columns=rgb_columns, step=rgb_step, render_mode="unlit")
