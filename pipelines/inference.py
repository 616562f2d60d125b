"""RunInference model handlers: a registered featurizer's model on batches of shapes.

``FeaturizerModelHandler`` loads a featurizer's model once per worker (``load_model``,
from its ``ModelSpec``), runs batches of shapes and returns one ``PredictionResult`` per
shape. A shape whose inference raises gets the exception as its inference instead, so one
bad shape becomes one failed manifest row rather than a failed batch.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from featurizers.contract import FeaturizerSpec
from pipelines.stages import FeaturizedShape

LOGGER = logging.getLogger(__name__)


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

    def get_num_bytes(self, batch: Sequence[Any]) -> int:
        """Array bytes of the batch's examples (Beam's default pickles the batch to count)."""
        return sum(array_bytes(example) for example in batch)


def array_bytes(value: Any) -> int:
    """Bytes of the numpy arrays and torch tensors in a value (dataclasses, dicts, sequences
    walked; anything else counts 0)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if hasattr(value, "element_size") and hasattr(value, "nelement"):  # a torch tensor
        return value.element_size() * value.nelement()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(array_bytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sum(array_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(array_bytes(v) for v in value)
    return 0


class FeaturizerModelHandler(ShapeBatchModelHandler):
    """Runs one registered featurizer's model on ``FeaturizedShape``s.

    Each shape's model input is its ``pending[featurizer]``; the prediction's example is
    the shape without that input (what the attach step needs and no more), its inference
    the model's output for the shape. Sizes for batching are the inputs' array bytes
    (nothing is pickled to size a batch).

    Args:
        spec: the featurizer (its ``model`` is used).
        config: the run's config, passed to the spec's ``load`` (its ``device`` too).
        max_batch_size: shapes per forward pass.
    """

    def __init__(self, spec: FeaturizerSpec, config: Any, max_batch_size: int):
        super().__init__(config.device, max_batch_size)
        if spec.model is None:
            raise ValueError(f"featurizer {spec.name!r} runs no model")
        self.spec = spec
        self.config = config
        self.metrics_name = f"partbank_{spec.name}"

    def load_model(self) -> Any:
        return self.spec.model.load(self.config)

    def run_batch(self, examples: Sequence[FeaturizedShape], model: Any) -> list[Any]:
        inputs = [shape.pending[self.spec.name].model_input for shape in examples]
        return self.spec.model.run_batch(model, inputs)

    def run_inference(
        self, batch: Sequence[FeaturizedShape], model: Any, inference_args: dict | None = None
    ) -> Iterable[PredictionResult]:
        return [
            PredictionResult(self.consumed(result.example), result.inference)
            for result in super().run_inference(batch, model, inference_args)
        ]

    def consumed(self, shape: FeaturizedShape) -> FeaturizedShape:
        """The shape with its model input dropped (the state ``finish`` reads is kept)."""
        prepared = shape.pending[self.spec.name]
        pending = {**shape.pending, self.spec.name: dataclasses.replace(prepared, model_input=None)}
        return dataclasses.replace(shape, pending=pending)

    def get_num_bytes(self, batch: Sequence[FeaturizedShape]) -> int:
        return sum(array_bytes(shape.pending[self.spec.name].model_input) for shape in batch)
