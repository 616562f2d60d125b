"""The ``partfield`` featurizer: PartField part features at each shape's sampled points.

Column ``partfield``: (N, C) float16 (C = 448 with the official architecture). The encoder
reads its own surface samples (``--partfield-points``, taken in the per-shape step, where
the mesh is at hand); the queries are the shape's N points in PartField's frame.
Weights: ``--partfield-checkpoint`` or the official checkpoint (located before any work).
Torch and trimesh are imported inside the functions that use them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from featurizers.contract import FeaturizerSpec, Flag, ModelSpec, PointColumn, Prepared, ShapeInputs
from featurizers.partfield.config import DEFAULT_PARTFIELD_POINTS, PartFieldConfig
from featurizers.weights import (
    PARTFIELD_CHECKPOINT,
    ModelUnavailableError,
    official_partfield_checkpoint,
    pick_device,
)
from schemas.locations import Location

LOGGER = logging.getLogger(__name__)

#: A miniature network with every module of the real one, for tests of the wiring and of
#: loading/batching (random weights only: no checkpoint fits it).
TINY_ARCHITECTURE = PartFieldConfig(
    pvcnn_blocks=((16, 1, 8), (8, 2, 4), (16, 1, 4)),
    triplane_channels=16,
    triplane_resolution=16,
    unet_depth=2,
    unet_start_channels=8,
    transformer_width=32,
    transformer_layers=1,
    transformer_heads=2,
    token_resolution=4,
    out_channels=24,
    sdf_channels=8,
    sdf_decoder_layers=2,
)


@dataclass(frozen=True)
class PartFieldExample:
    """One shape's model input: (P, 3) encoder points and (N, 3) queries, PartField frame."""

    points: np.ndarray
    query: np.ndarray


def partfield_columns(architecture: PartFieldConfig, config: Any) -> tuple[PointColumn, ...]:
    return (PointColumn("partfield", pa.float16(), architecture.part_channels),)


def partfield_step(inputs: ShapeInputs, config: Any) -> Prepared:
    """The model input: encoder points (seeded apart from the N points) and the queries."""
    from featurizers.partfield.preprocess import encoder_points, from_partbank_frame
    from featurizers.sampling import shape_seed

    record, sample = inputs.record, inputs.sample
    surface = record.cloud.points if record.cloud is not None else record.geometry
    seed = np.random.default_rng([shape_seed(record.shape_id), 1])
    points = encoder_points(
        surface, sample.center, sample.scale, config.option("partfield_points"), seed=seed
    )
    return Prepared(model_input=PartFieldExample(points, from_partbank_frame(sample.points)))


def load_partfield(architecture: PartFieldConfig, config: Any):
    """The network on ``config.device``, weights from ``--partfield-checkpoint`` (a local or
    remote file), the official checkpoint, or seeded random weights (``--models random-init``).

    fp32 on CPU; on CUDA the pipeline runs it under fp16 autocast with TF32 disabled.
    """
    import torch

    from featurizers.partfield.checkpoint import local_copy
    from featurizers.partfield.model import PartField

    device = pick_device(config.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # random-init runs are reproducible
        model = PartField(architecture)
    source = "random weights"
    if not config.random_init:
        source = config.option("partfield_checkpoint") or str(official_partfield_checkpoint())
        with local_copy(source) as path:
            model.load_checkpoint(path)
    LOGGER.info("PartField on %s (%s)", device, source)
    return model.eval().to(device)


def partfield_batch(model, examples: Sequence[PartFieldExample]) -> list[np.ndarray]:
    """(N_i, C) float16 features per example; examples of equal sizes share a forward pass."""
    import torch

    device = next(model.parameters()).device
    out: list[np.ndarray | None] = [None] * len(examples)
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, example in enumerate(examples):
        by_size.setdefault((len(example.points), len(example.query)), []).append(i)
    for indices in by_size.values():
        points = torch.from_numpy(np.stack([examples[i].points for i in indices]))
        query = torch.from_numpy(np.stack([examples[i].query for i in indices]))
        with torch.autocast("cuda", dtype=torch.float16, enabled=device.type == "cuda"):
            features = model.features(points.to(device), query.to(device))
        for i, shape_features in zip(indices, features, strict=True):
            out[i] = shape_features.to(torch.float16).cpu().numpy()
    return out


def partfield_finish(state: None, features: np.ndarray) -> dict[str, np.ndarray]:
    return {"partfield": features}


def locate_partfield(config: Any) -> dict[str, str]:
    """``partfield_weights``: the ``--partfield-checkpoint`` file (it must exist), else the
    official checkpoint from the Hugging Face cache or hub.

    Raises:
        ModelUnavailableError: the file is missing, or the official one cannot be had.
    """
    checkpoint = config.option("partfield_checkpoint")
    if checkpoint and not Location.of(checkpoint).is_file():
        raise ModelUnavailableError(f"--partfield-checkpoint {checkpoint}: no such file")
    return {"partfield_weights": checkpoint or str(official_partfield_checkpoint())}


def partfield_entries(config: Any) -> dict[str, Any]:
    weights = config.weights.get("partfield_weights")
    return {
        "partfield_points": config.option("partfield_points"),
        "partfield_weights": None if config.random_init else config.file_fingerprint(weights),
    }


def partfield_featurizer(architecture: PartFieldConfig | None = None) -> FeaturizerSpec:
    """The ``partfield`` spec with a network architecture (default: the official one;
    ``TINY_ARCHITECTURE`` for tests of the wiring)."""
    architecture = architecture or PartFieldConfig()
    return FeaturizerSpec(
        name="partfield",
        columns=partial(partfield_columns, architecture),
        step=partfield_step,
        config_entries=partfield_entries,
        flags=(
            Flag(
                "--partfield-checkpoint",
                "partfield_checkpoint",
                None,
                "PartField checkpoint file, local or gs:// (state_dict or Lightning .ckpt); "
                f"default: {'/'.join(PARTFIELD_CHECKPOINT)} from the Hugging Face hub",
                metavar="PATH",
            ),
            Flag(
                "--partfield-points",
                "partfield_points",
                DEFAULT_PARTFIELD_POINTS,
                "surface samples fed to PartField's encoder (default %(default)s)",
                type=int,
                metavar="N",
                minimum=1,
            ),
        ),
        model=ModelSpec(
            load=partial(load_partfield, architecture),
            run_batch=partfield_batch,
            finish=partfield_finish,
            locate=locate_partfield,
        ),
    )


PARTFIELD = partfield_featurizer()
