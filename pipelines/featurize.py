"""The featurizer stages of the features graph, built from the registered specs.

- ``featurize_shape`` (one ``GuardedStep``): a loaded shape -> ``FeaturizedShape``. On the
  worker that holds the record it renders the rig's views (the modes the lifted
  featurizers read), locates the points in them (``views_seen``) and runs every requested
  featurizer's per-shape step; what leaves it is the shape's points, metadata, finished
  columns and the model inputs still pending, never the record (meshes, textures).
- ``ModelFeatures``: per featurizer with a model, ``RunInference`` over the pending
  inputs, then the spec's ``finish`` attaches its columns.

Each stage returns ``(shapes, failed)``: ``ManifestEntry`` rows of the shapes it could not
featurize are tagged, named after the part of the step that raised.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from functools import partial
from typing import Any

import apache_beam as beam
import torch
from apache_beam.ml.inference.base import PredictionResult, RunInference

from featurizers.cameras import CameraRig
from featurizers.contract import VIEWS_SEEN, FeaturizerSpec, ShapeInputs
from featurizers.lifting import locate_points
from featurizers.rendering import render_shape
from featurizers.views import element_parts, view_records
from pipelines.inference import FeaturizerModelHandler
from pipelines.stages import FAILED, FeaturizedShape, GuardedStep, SampledShape, named_stage


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    """The rig and where points are located; ``emit_views`` keeps per-view records."""

    rig: CameraRig
    device: str
    emit_views: bool


def featurize_shape(
    shape: SampledShape,
    specs: tuple[FeaturizerSpec, ...],
    config: Any,
    render: RenderSettings | None,
) -> FeaturizedShape:
    """Every requested featurizer's per-shape step on a loaded shape.

    Returns:
        The slim shape, with its per-view records for ``--emit-views`` (else None).

    Raises:
        StageError: naming ``render`` or the featurizer whose step raised.
    """
    record, sample = shape.record, shape.sample
    renders, located, records = {}, None, None
    features = dict(shape.features)
    modes = tuple(dict.fromkeys(spec.render_mode for spec in specs if spec.lifted))
    if modes:
        with named_stage("render"):
            for mode in modes:
                renders[mode] = render_shape(
                    record, render.rig, sample.center, sample.scale, mode=mode
                )
            first = renders[modes[0]]  # one rig: every mode's depth and ids agree
            located = locate_points(
                sample.points, first, sample.face_index, sample.normals, device=render.device
            )
            features[VIEWS_SEEN] = located.views_seen
            if render.emit_views:
                records = view_records(first, element_parts(record))
    inputs = ShapeInputs(record, sample, renders, located)
    pending = {}
    for spec in specs:
        with named_stage(spec.name):
            prepared = spec.step(inputs, config)
        features.update(prepared.columns)
        if spec.model is not None:
            pending[spec.name] = dataclasses.replace(prepared, columns={})
    slim = FeaturizedShape(
        task=shape.task,
        meta=shape.meta,
        sample=dataclasses.replace(sample, colors=None),
        features=features,
        pending=pending,
        views=records,
    )
    return slim


def with_model_columns(result: PredictionResult, spec: FeaturizerSpec) -> FeaturizedShape:
    """The shape with the columns ``spec.model.finish`` makes of its model output."""
    shape, output = result.example, result.inference
    if isinstance(output, Exception):
        raise output
    pending = dict(shape.pending)
    prepared = pending.pop(spec.name)
    columns = spec.model.finish(prepared.state, output)
    return dataclasses.replace(shape, features={**shape.features, **columns}, pending=pending)


class FeaturizeStep(GuardedStep):
    """``featurize_shape`` as a ``GuardedStep`` whose worker process gives torch its share of
    the cores.

    Torch's CPU kernels (``locate_points``) run on OpenMP threads that busy-wait; with
    one thread per core in each of several worker processes on one machine they fight
    over the cores (measured on 2 cores: ``locate_points`` 0.5 s a shape instead of
    35 ms, and 200 shapes with 2 processes 2x slower than with 1). With ``processes`` > 1
    each process runs torch on cores / processes threads (at least 1), and Mesa's llvmpipe
    rasterizer on as many (``LP_NUM_THREADS``, read when the process's first GL context is
    made, which is after ``setup``; a value set by the user is kept); with 1, both keep
    their defaults.
    """

    def __init__(self, step: Callable[[SampledShape], Any], processes: int):
        super().__init__("featurize", step)
        self.processes = processes

    def setup(self) -> None:
        if self.processes > 1:
            share = max(1, (os.cpu_count() or 1) // self.processes)
            torch.set_num_threads(share)
            os.environ.setdefault("LP_NUM_THREADS", str(share))


class Featurize(beam.PTransform):
    """``SampledShape``s -> ``(FeaturizedShape``s, failures)``.

    ``processes``: worker processes sharing this machine's cores (``FeaturizeStep``).
    """

    def __init__(
        self,
        specs: tuple[FeaturizerSpec, ...],
        config: Any,
        render: RenderSettings | None,
        processes: int = 1,
    ):
        super().__init__()
        self.step = partial(featurize_shape, specs=specs, config=config, render=render)
        self.processes = processes

    def expand(self, shapes: beam.PCollection):
        featurized = shapes | "Featurize" >> beam.ParDo(
            FeaturizeStep(self.step, self.processes)
        ).with_outputs(FAILED, main="ok")
        return featurized.ok, featurized[FAILED]


class ModelFeatures(beam.PTransform):
    """``FeaturizedShape``s -> the same with one featurizer's model columns; failures tagged.

    The model runs through ``RunInference`` (loaded once per worker, batches of shapes);
    the spec's ``finish`` runs in its own step.

    Args:
        spec: a featurizer with a model.
        config: the run's config (the model's settings and device).
        max_batch_size: shapes per forward pass.
        accelerator: a Beam resource hint such as
            ``"type:nvidia-l4;count:1;install-nvidia-driver"``: on Dataflow only this
            model stage then runs on GPU workers ("right fitting"); local runners ignore it.
    """

    def __init__(
        self, spec: FeaturizerSpec, config: Any, max_batch_size: int, accelerator: str | None
    ):
        super().__init__()
        self.spec = spec
        self.handler = FeaturizerModelHandler(spec, config, max_batch_size)
        self.accelerator = accelerator

    def expand(self, shapes: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        inference = RunInference(self.handler)
        if self.accelerator:
            inference = inference.with_resource_hints(accelerator=self.accelerator)
        attached = (
            shapes
            | "RunInference" >> inference
            | "Attach"
            >> beam.ParDo(
                GuardedStep(
                    self.spec.name,
                    partial(with_model_columns, spec=self.spec),
                    task_of=lambda result: result.example.task,
                )
            ).with_outputs(FAILED, main="ok")
        )
        return attached.ok, attached[FAILED]
