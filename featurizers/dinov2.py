"""DINOv2 patch features of rendered views.

All views of a shape go through the model as one batch. Preprocessing (resize to the
model input size, a multiple of the patch size, and ImageNet normalization) runs on NVIDIA
DALI: on the GPU when the model is on one, on DALI's CPU backend (``device_id=None``)
otherwise, built on first use so that no DALI pipeline crosses a fork. Where DALI cannot
be imported (e.g. outside Linux x86_64) the same preprocessing runs as torch ops and a log
line says so. The model is ``transformers``' ``Dinov2Model`` (or
``Dinov2WithRegistersModel``); on a GPU it runs under bf16 (fp16 where bf16 is missing)
autocast. Patch tokens come back as a (D, S/14, S/14) grid per view.

Weights come from a local directory or the Hugging Face cache (downloaded there on first
use when the hub is reachable); ``resolve_weights`` checks this before any work and raises
``ModelUnavailableError`` with a one-line message otherwise. ``random_init=True`` builds
the same architecture with random weights (offline smoke runs, tests).

Torch and transformers are imported inside the functions that use them: the featurizer
registry imports this module to build the command line.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from featurizers.contract import FeaturizerSpec, Flag, ModelSpec, PointColumn, Prepared, ShapeInputs
from featurizers.weights import ModelUnavailableError, pick_device
from featurizers.weights import resolve_dinov2_weights as resolve_weights

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig, PreTrainedModel

    from featurizers.lifting import PointViews

log = logging.getLogger(__name__)

DEFAULT_MODEL = "facebook/dinov2-base"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_SIZES = {  # hidden size, layers, heads, SwiGLU FFN
    "small": (384, 12, 6, False),
    "base": (768, 12, 12, False),
    "large": (1024, 24, 16, False),
    "giant": (1536, 40, 24, True),
}

_FAMILIES = {  # hub id -> register tokens
    "facebook/dinov2-{}": 0,
    "facebook/dinov2-with-registers-{}": 4,
}

#: Architectures of the published models, so ``random_init`` needs no download: hub id ->
#: (hidden size, layers, heads, SwiGLU FFN, register tokens).
VARIANTS: dict[str, tuple[int, int, int, bool, int]] = {
    name.format(size): (*architecture, registers)
    for name, registers in _FAMILIES.items()
    for size, architecture in _SIZES.items()
}


def load_dinov2(
    name_or_path: str = DEFAULT_MODEL,
    *,
    random_init: bool = False,
    config: PretrainedConfig | None = None,
    device: torch.device | str | None = None,
) -> PreTrainedModel:
    """A DINOv2 backbone in eval mode on ``device`` (default: CUDA when available).

    Args:
        name_or_path: hub id or local folder.
        random_init: build the architecture with random weights (seeded, reproducible).
        config: architecture for ``random_init`` (default: ``VARIANTS[name_or_path]`` or the
            folder's config.json).

    Raises:
        ModelUnavailableError: pretrained weights (or, for random init, the config) missing.
    """
    import torch
    from transformers import AutoModel

    if random_init:
        config = config or known_config(name_or_path)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = AutoModel.from_config(config)
    else:
        model = AutoModel.from_pretrained(resolve_weights(name_or_path))
    return model.eval().to(pick_device(device))


def known_config(name_or_path: str) -> PretrainedConfig:
    """The architecture of a published variant or of a local model folder (no download)."""
    from transformers import AutoConfig, Dinov2Config, Dinov2WithRegistersConfig

    if name_or_path in VARIANTS:
        hidden, layers, heads, swiglu, registers = VARIANTS[name_or_path]
        architecture = {
            "hidden_size": hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "use_swiglu_ffn": swiglu,
            "image_size": 518,
            "patch_size": 14,
        }
        if registers:
            return Dinov2WithRegistersConfig(num_register_tokens=registers, **architecture)
        return Dinov2Config(**architecture)
    if (Path(name_or_path).expanduser() / "config.json").is_file():
        return AutoConfig.from_pretrained(Path(name_or_path).expanduser())
    raise ModelUnavailableError(
        f"DINOv2 model {name_or_path!r}: no known architecture for random init; use one of "
        f"{', '.join(VARIANTS)} or a local folder with a config.json"
    )


def input_size(image_size: int, patch_size: int = 14) -> int:
    """Model input side: ``image_size`` rounded to the nearest multiple of the patch size."""
    return patch_size * max(1, round(image_size / patch_size))


class ViewPreprocessor:
    """uint8 views -> normalized model input, with DALI (GPU or CPU) or torch ops.

    Views are resized to the nearest multiple of the patch size of their own side (448 px
    views stay 448, 500 px become 504), so the render size is the one route by which the
    image size reaches the model. The DALI pipeline is built on the first call, in the
    process that uses it, and again for a larger batch or another size.
    """

    def __init__(self, patch_size: int = 14, device: torch.device | str | None = None) -> None:
        self.patch_size = patch_size
        self.device = pick_device(device)
        self._pipeline = None
        self._built = (0, 0)  # (batch, size) the DALI pipeline was built for
        self.backend = self._pick_backend()

    def _pick_backend(self) -> str:
        try:
            import nvidia.dali  # noqa: F401
        except ImportError as error:
            log.info("DALI unavailable (%s); preprocessing views with torch ops", error)
            return "torch"
        return "dali-gpu" if self.device.type == "cuda" else "dali-cpu"

    def __call__(self, views: np.ndarray) -> torch.Tensor:
        """Resize and normalize views.

        Args:
            views: (V, H, W, 3) uint8 RGB images.

        Returns:
            (V, 3, s, s) float32 on the preprocessor's device, s = ``input_size(H)``.
        """
        size = input_size(views.shape[1], self.patch_size)
        if self.backend == "torch":
            return self._torch(views, size)
        return self._dali(views, size)

    def _torch(self, views: np.ndarray, size: int) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        images = torch.from_numpy(np.ascontiguousarray(views)).to(self.device)
        images = images.permute(0, 3, 1, 2).float()
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255
        return (images - mean) / std

    def _dali(self, views: np.ndarray, size: int) -> torch.Tensor:
        import torch
        from nvidia.dali.plugin.pytorch import feed_ndarray

        batch_built, size_built = self._built
        if len(views) > batch_built or size != size_built:
            self._pipeline = self._build(max(len(views), batch_built), size)
            self._built = (max(len(views), batch_built), size)
        (batch,) = self._pipeline.run(images=list(views))
        batch = batch.as_tensor()
        out = torch.empty(batch.shape(), dtype=torch.float32, device=self.device)
        stream = torch.cuda.current_stream(self.device) if self.device.type == "cuda" else None
        feed_ndarray(batch, out, cuda_stream=stream)
        return out

    def _build(self, batch_size: int, size: int):
        import nvidia.dali.fn as fn
        import nvidia.dali.types as types
        from nvidia.dali import pipeline_def

        gpu = self.backend == "dali-gpu"
        device_id = (self.device.index or 0) if gpu else None

        @pipeline_def(
            batch_size=batch_size,
            num_threads=min(4, os.cpu_count() or 1),
            device_id=device_id,
            prefetch_queue_depth=1,
        )
        def preprocess():
            images = fn.external_source(name="images", layout="HWC", dtype=types.UINT8)
            if gpu:
                images = images.gpu()
            images = fn.resize(images, resize_x=size, resize_y=size)
            return fn.crop_mirror_normalize(
                images,
                dtype=types.FLOAT,
                output_layout="CHW",
                mean=[255 * m for m in IMAGENET_MEAN],
                std=[255 * s for s in IMAGENET_STD],
            )

        pipeline = preprocess()
        pipeline.build()
        return pipeline


def patch_features(model: PreTrainedModel, pixel_values: torch.Tensor) -> torch.Tensor:
    """Final-layer patch tokens of a DINOv2 backbone as grids.

    Args:
        model: ``Dinov2Model`` or ``Dinov2WithRegistersModel``.
        pixel_values: (V, 3, s, s) normalized images, s a multiple of the patch size.

    Returns:
        (V, D, s / patch, s / patch) float32; CLS and register tokens dropped.
    """
    import torch

    config = model.config
    grid = pixel_values.shape[-1] // config.patch_size
    skip = 1 + getattr(config, "num_register_tokens", 0)
    cuda = pixel_values.device.type == "cuda"
    half = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
    with torch.inference_mode(), torch.autocast("cuda", dtype=half, enabled=cuda):
        tokens = model(pixel_values=pixel_values).last_hidden_state[:, skip:]
    views, _, dim = tokens.shape
    return tokens.float().transpose(1, 2).reshape(views, dim, grid, grid)


class Dinov2Featurizer:
    """Rendered views of a shape -> DINOv2 patch grids (preprocessing and model together).

    Create it in the worker process that uses it (e.g. a ModelHandler's ``load_model``).
    """

    def __init__(
        self,
        name_or_path: str = DEFAULT_MODEL,
        *,
        random_init: bool = False,
        config: PretrainedConfig | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.model = load_dinov2(
            name_or_path, random_init=random_init, config=config, device=device
        )
        self.device = next(self.model.parameters()).device
        self.preprocess = ViewPreprocessor(self.model.config.patch_size, self.device)

    @property
    def dim(self) -> int:
        """Feature size D (384, 768, 1024, 1536 for small, base, large, giant)."""
        return self.model.config.hidden_size

    def __call__(self, views: np.ndarray) -> torch.Tensor:
        """(V, S, S, 3) uint8 views -> (V, D, G, G) float32 patch grids on the model's device."""
        return patch_features(self.model, self.preprocess(views))


# The ``dinov2`` featurizer: patch grids of the shaded views lifted onto the points.


def dinov2_columns(config: Any) -> tuple[PointColumn, ...]:
    """``dino``: (N, D) float16, D from the model's architecture (no download)."""
    name = (
        DEFAULT_MODEL
        if config is None
        else config.weights.get("dinov2_weights") or config.option("dinov2_model")
    )
    return (PointColumn("dino", pa.float16(), known_config(name).hidden_size),)


def dinov2_step(inputs: ShapeInputs, config: Any) -> Prepared:
    """The model input: (V, S, S, 3) uint8 shaded views; kept: the located points."""
    return Prepared(model_input=inputs.renders["shaded"].rgb, state=inputs.located.for_bilinear())


def dinov2_entries(config: Any) -> dict[str, Any]:
    return {"dinov2_model": config.option("dinov2_model")}


def locate_dinov2(config: Any) -> dict[str, str]:
    """``dinov2_weights``: the local folder of ``--dinov2-model``'s config and weights."""
    return {"dinov2_weights": str(resolve_weights(config.option("dinov2_model")))}


def load_dinov2_featurizer(config: Any) -> Dinov2Featurizer:
    """The run's DINOv2 (``--dinov2-model``, ``--models``, ``--device``); the input size
    follows the rendered views (``--image-size``)."""
    featurizer = Dinov2Featurizer(
        config.option("dinov2_model"),
        random_init=config.random_init,
        device=config.device,
    )
    log.info(
        "DINOv2 %s on %s (%s, preprocessing: %s)",
        config.option("dinov2_model"),
        featurizer.device,
        "random weights" if config.random_init else "pretrained",
        featurizer.preprocess.backend,
    )
    return featurizer


def dinov2_batch(model: Dinov2Featurizer, views: Sequence[np.ndarray]) -> list[np.ndarray]:
    """(V_i, S, S, 3) views of several shapes -> (V_i, D, G, G) float16 grids, one model batch."""
    import torch

    grids = model(np.concatenate(views)).to(torch.float16).cpu().numpy()
    bounds = np.cumsum([0, *(len(v) for v in views)])
    return [grids[a:b] for a, b in itertools.pairwise(bounds)]


def lift_dino(located: PointViews, grids: np.ndarray) -> dict[str, np.ndarray]:
    """``dino``: the shape's (V, D, G, G) patch grids lifted onto its points, (N, D) float16."""
    import torch

    from featurizers.lifting import lift

    maps = torch.from_numpy(grids).float().to(located.points.device)
    return {"dino": lift(maps, located).to(torch.float16).cpu().numpy()}


DINOV2 = FeaturizerSpec(
    name="dinov2",
    columns=dinov2_columns,
    step=dinov2_step,
    config_entries=dinov2_entries,
    flags=(
        Flag(
            "--dinov2-model",
            "dinov2_model",
            DEFAULT_MODEL,
            "DINOv2 hub id or local folder (default %(default)s; small/base/large/giant and "
            "-with-registers- variants)",
            metavar="NAME_OR_DIR",
        ),
    ),
    render_mode="shaded",
    model=ModelSpec(
        load=load_dinov2_featurizer,
        run_batch=dinov2_batch,
        finish=lift_dino,
        locate=locate_dinov2,
    ),
)
