"""Featurizer stages of the features graph: composite transforms over ``SampledShape``s.

Each stage returns ``(shapes, failed)``: the shapes with their new columns in
``SampledShape.features``, and ``ManifestEntry`` rows of the shapes it could not featurize.
Models run through Beam's ``RunInference`` with partbank's model handlers.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference

from featurizers.partfield import encoder_points, from_partbank_frame
from featurizers.sampling import shape_seed
from pipelines.inference import PartFieldExample, PartFieldModelHandler
from pipelines.shapes import FAILED, GuardedStep, SampledShape


def with_feature(pair: tuple[SampledShape, PredictionResult], column: str) -> SampledShape:
    """The shape with ``features[column]`` set from its prediction (which may be an error)."""
    shape, prediction = pair
    if isinstance(prediction.inference, Exception):
        raise prediction.inference
    return dataclasses.replace(shape, features={**shape.features, column: prediction.inference})


def partfield_example(
    shape: SampledShape, num_points: int
) -> tuple[SampledShape, PartFieldExample]:
    """The shape keyed to its PartField input: encoder points and its N sampled points."""
    record, sample = shape.record, shape.sample
    surface = record.cloud.points if record.cloud is not None else record.geometry
    seed = np.random.default_rng([shape_seed(record.shape_id), 1])  # apart from the N points
    points = encoder_points(surface, sample.center, sample.scale, num_points, seed=seed)
    return shape, PartFieldExample(points, from_partbank_frame(sample.points))


class PartFieldFeatures(beam.PTransform):
    """Adds ``partfield``: (N, 448) float16 PartField features at each shape's points.

    Args:
        checkpoint: local checkpoint file; None runs random weights (``--models random-init``).
        encoder_points: surface samples fed to the encoder (upstream: 100,000).
        device: "auto", "cpu" or "cuda".
        batch_size: shapes per forward pass.
    """

    def __init__(self, checkpoint: str | None, encoder_points: int, device: str, batch_size: int):
        super().__init__()
        self.handler = PartFieldModelHandler(checkpoint, device, batch_size)
        self.encoder_points = encoder_points

    def expand(self, shapes: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        prepared = shapes | "Inputs" >> beam.ParDo(
            GuardedStep("partfield", partial(partfield_example, num_points=self.encoder_points))
        ).with_outputs(FAILED, main="ok")
        predicted = prepared.ok | "RunInference" >> RunInference(KeyedModelHandler(self.handler))
        attached = predicted | "Attach" >> beam.ParDo(
            GuardedStep("partfield", partial(with_feature, column="partfield"), task_of=_key_task)
        ).with_outputs(FAILED, main="ok")
        failed = (prepared[FAILED], attached[FAILED]) | "Failed" >> beam.Flatten()
        return attached.ok, failed


def _key_task(pair: tuple[SampledShape, Any]):
    return pair[0].task
