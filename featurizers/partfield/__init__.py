"""PartField geometry features: a pure-PyTorch port of PartField's feature network.

Upstream: https://github.com/nv-tlabs/PartField (NVIDIA). Official weights:
``mikaelaangel/partfield-ckpt`` (``model_objaverse.ckpt``) on the Hugging Face hub, under
NVIDIA's non-commercial license.

Typical use::

    model = PartField().load_checkpoint(path).eval()
    points = torch.from_numpy(sample_points(mesh))             # (100000, 3)
    feats = model.features(points, torch.from_numpy(from_partbank_frame(xyz_norm)))
"""

from featurizers.partfield.checkpoint import CheckpointError
from featurizers.partfield.config import PartFieldConfig
from featurizers.partfield.model import PartField, query_triplane
from featurizers.partfield.preprocess import (
    DEFAULT_PARTFIELD_POINTS,
    EXTENT,
    encoder_points,
    from_partbank_frame,
    normalize_mesh,
    partfield_frame,
    sample_points,
)
from featurizers.weights import PARTFIELD_CHECKPOINT as OFFICIAL_CHECKPOINT
from featurizers.weights import official_partfield_checkpoint as official_checkpoint

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
