"""RunInference model handlers for partbank's models.

Each handler loads its model once per worker (``load_model``), runs batches of shapes,
and returns one ``PredictionResult`` per shape. A shape whose inference raises gets the
exception as its inference instead, so one bad shape becomes one failed manifest row
rather than a failed batch.
"""

from __future__ import annotations

import abc
import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartFieldExample:
    """One shape's PartField input: (P, 3) encoder points and (N, 3) queries, PartField frame."""

    points: np.ndarray
    query: np.ndarray


@contextmanager
def local_file(path: str) -> Iterator[str]:
    """A local path to ``path``: itself, or a temporary copy of a remote (``gs://``) file."""
    if "://" not in path:
        yield path
        return
    with tempfile.NamedTemporaryFile(suffix=os.path.splitext(path)[1]) as copy:
        with FileSystems.open(path) as remote:
            shutil.copyfileobj(remote, copy, length=16 << 20)
        copy.flush()
        yield copy.name


class ShapeBatchModelHandler(ModelHandler[Any, Any, Any], abc.ABC):
    """A model run on batches of up to ``max_batch_size`` shapes, one result per shape.

    Subclasses implement ``load_model`` and ``run_batch``. If a batch raises, its shapes run
    one by one and a shape that still raises gets the exception as its inference.
    """

    metrics_name = "partbank"

    def __init__(self, device: str, max_batch_size: int):
        super().__init__()
        self.device = device
        self.max_batch_size = max_batch_size

    @abc.abstractmethod
    def run_batch(self, examples: Sequence[Any], model: Any) -> list[np.ndarray]:
        """One result per example, in order."""

    def run_inference(
        self, batch: Sequence[Any], model: Any, inference_args: dict | None = None
    ) -> Iterable[PredictionResult]:
        try:
            results = self.run_batch(batch, model)
        except Exception as batch_error:  # isolate the failing shape(s)
            LOGGER.warning(
                "%s: batch of %d failed (%s); retrying shapes one by one",
                self.metrics_name,
                len(batch),
                batch_error,
            )
            results = []
            for example in batch:
                try:
                    results.extend(self.run_batch([example], model))
                except Exception as error:
                    results.append(error)
        return [PredictionResult(e, r) for e, r in zip(batch, results, strict=True)]

    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": 1, "max_batch_size": self.max_batch_size}

    def get_metrics_namespace(self) -> str:
        return self.metrics_name


class PartFieldModelHandler(ShapeBatchModelHandler):
    """PartField features at each shape's query points: (N, 448) float16 per shape.

    fp32 on CPU; on CUDA, fp16 autocast with TF32 disabled for the fp32 parts. Shapes
    with equal point counts share a forward pass.

    Weights are found on the worker: ``checkpoint`` (a local path, or a ``gs://``-style
    path copied to local disk first), else the official checkpoint from the worker's
    Hugging Face cache (downloaded into it on first use).

    Args:
        checkpoint: a checkpoint file, or None for the official weights.
        random_init: seeded random weights instead (``--models random-init``).
        device: "auto", "cpu" or "cuda".
        max_batch_size: shapes per forward pass (1 on CPU is fastest and leanest).
    """

    metrics_name = "partbank_partfield"

    def __init__(
        self,
        checkpoint: str | None,
        random_init: bool = False,
        device: str = "auto",
        max_batch_size: int = 1,
    ):
        super().__init__(device, max_batch_size)
        self.checkpoint = checkpoint
        self.random_init = random_init

    def load_model(self):
        import torch

        from featurizers.partfield import PartField, official_checkpoint
        from featurizers.weights import pick_device

        device = pick_device(self.device)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # random-init runs are reproducible
            model = PartField()
        source = "random weights"
        if not self.random_init:
            source = self.checkpoint or str(official_checkpoint())
            with local_file(source) as path:
                model.load_checkpoint(path)
        LOGGER.info("PartField on %s (%s)", device, source)
        return model.eval().to(device)

    def run_batch(self, examples: Sequence[PartFieldExample], model) -> list[np.ndarray]:
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


class Dinov2ModelHandler(ShapeBatchModelHandler):
    """DINOv2 patch grids of each shape's views: (V, D, G, G) float16 per shape.

    All views of the shapes in a batch go through the model as one batch.

    Args:
        model: local model folder (pretrained) or a published name (random init).
        image_size: rendered view side S; the model input is S rounded to the patch size.
        random_init: the architecture with seeded random weights.
        device: "auto", "cpu" or "cuda".
        max_batch_size: shapes per forward pass.
    """

    metrics_name = "partbank_dinov2"

    def __init__(
        self, model: str, image_size: int, random_init: bool, device: str, max_batch_size: int
    ):
        super().__init__(device, max_batch_size)
        self.model = model
        self.image_size = image_size
        self.random_init = random_init

    def load_model(self):
        from featurizers.dinov2 import Dinov2Featurizer

        featurizer = Dinov2Featurizer(
            self.model, image_size=self.image_size, random_init=self.random_init, device=self.device
        )
        LOGGER.info(
            "DINOv2 %s on %s (%s, preprocessing: %s)",
            self.model,
            featurizer.device,
            "random weights" if self.random_init else "pretrained",
            featurizer.preprocess.backend,
        )
        return featurizer

    def run_batch(self, views: Sequence[np.ndarray], model) -> list[np.ndarray]:
        import torch

        grids = model(np.concatenate(views)).to(torch.float16).cpu().numpy()
        bounds = np.cumsum([0, *(len(v) for v in views)])
        return [grids[a:b] for a, b in itertools.pairwise(bounds)]
