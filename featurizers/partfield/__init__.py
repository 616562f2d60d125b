"""PartField geometry features: a pure-PyTorch port of PartField's feature network.

Upstream: https://github.com/nv-tlabs/PartField (NVIDIA). Official weights:
``mikaelaangel/partfield-ckpt`` (``model_objaverse.ckpt``) on the Hugging Face hub, under
NVIDIA's non-commercial license.

Typical use::

    model = PartField().load_checkpoint(path).eval()
    points = torch.from_numpy(sample_points(mesh))             # (100000, 3)
    feats = model.features(points, torch.from_numpy(from_partbank_frame(xyz_norm)))

The network and the preprocessing (torch, trimesh) are imported on first use of their
names, so importing the ``partfield`` featurizer (the registry does, for the command line)
stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from featurizers.partfield.config import DEFAULT_PARTFIELD_POINTS, PartFieldConfig
from featurizers.weights import PARTFIELD_CHECKPOINT as OFFICIAL_CHECKPOINT
from featurizers.weights import official_partfield_checkpoint as official_checkpoint

#: Names imported on first use, by the module that defines them.
_ON_FIRST_USE = {
    "featurizers.partfield.checkpoint": ("CheckpointError",),
    "featurizers.partfield.model": ("PartField", "query_triplane"),
    "featurizers.partfield.preprocess": (
        "EXTENT",
        "encoder_points",
        "from_partbank_frame",
        "normalize_mesh",
        "partfield_frame",
        "sample_points",
    ),
}


def __getattr__(name: str) -> Any:
    for module, names in _ON_FIRST_USE.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_PARTFIELD_POINTS",
    "EXTENT",
    "OFFICIAL_CHECKPOINT",
    "CheckpointError",
    "PartField",
    "PartFieldConfig",
    "encoder_points",
    "from_partbank_frame",
    "normalize_mesh",
    "official_checkpoint",
    "partfield_frame",
    "query_triplane",
    "sample_points",
]
