"""RunInference model handlers: a registered featurizer's model on batches of shapes.

``FeaturizerModelHandler`` loads a featurizer's model (``load_model``, from its
``ModelSpec``), runs batches of shapes and returns one ``PredictionResult`` per shape. A
shape whose inference raises gets the exception as its inference instead, so one bad shape
becomes one failed manifest row rather than a failed batch.

Where the model runs on a GPU, one copy per worker machine is shared by all its SDK
processes (Beam's ``share_model_across_processes``/``model_copies``): the process that
loads it first holds it, the others call its ``run_batch`` through Beam's
``multi_process_shared`` proxy (the inputs and outputs, numpy arrays, cross between the
processes; the model never does). On the CPU each process keeps its own copy.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
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

    ``model_copies``: copies of the model per worker machine, shared by its SDK processes
    (Beam's ``model_copies``, which turns ``share_model_across_processes`` on); None: one
    copy per process (Beam's default).
    """

    metrics_name = "partbank"

    def __init__(self, device: str, max_batch_size: int, model_copies: int | None = None):
        super().__init__(model_copies=model_copies)
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


@dataclasses.dataclass
class LoadedModel:
    """A featurizer's loaded model with its batch function, held by the process that
    loaded it. Shared across processes, it is reached through a proxy whose
    ``run_batch(inputs)`` runs here: only ``inputs`` and the outputs are pickled.

    Attributes:
        run: the spec's ``ModelSpec.run_batch``, ``(model, inputs) -> outputs``.
        model: what the spec's ``ModelSpec.load`` returned.
    """

    run: Callable[[Any, Sequence[Any]], list[Any]]
    model: Any

    def run_batch(self, inputs: Sequence[Any]) -> list[Any]:
        """One output per model input, in order."""
        return self.run(self.model, inputs)


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
        model_copies: copies per worker machine shared by its SDK processes; None (default):
            decided on the worker, 1 where the model runs on CUDA (one copy per GPU: the
            GPU workers carry one GPU each), else one copy per process.
    """

    def __init__(
        self,
        spec: FeaturizerSpec,
        config: Any,
        max_batch_size: int,
        model_copies: int | None = None,
    ):
        super().__init__(config.device, max_batch_size, model_copies)
        if spec.model is None:
            raise ValueError(f"featurizer {spec.name!r} runs no model")
        self.spec = spec
        self.config = config
        self.metrics_name = f"partbank_{spec.name}"

    def share_model_across_processes(self) -> bool:
        """Whether the SDK processes of a worker share copies of the model: as set by
        ``model_copies``, else where the model runs on CUDA (asked on the worker, whose
        device ``--device auto`` means)."""
        if self._model_copies is not None:
            return True
        from featurizers.weights import pick_device

        return pick_device(self.device).type == "cuda"

    def load_model(self) -> LoadedModel:
        return LoadedModel(self.spec.model.run_batch, self.spec.model.load(self.config))

    def run_batch(self, examples: Sequence[FeaturizedShape], model: LoadedModel) -> list[Any]:
        inputs = [shape.pending[self.spec.name].model_input for shape in examples]
        return model.run_batch(inputs)

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
