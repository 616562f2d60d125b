"""Featurizer stages of the features graph: composite transforms over ``SampledShape``s.

Each stage returns ``(shapes, failed)``: the shapes with their new columns in
``SampledShape.features``, and ``ManifestEntry`` rows of the shapes it could not featurize.
Models run through Beam's ``RunInference`` with partbank's model handlers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import Any

import apache_beam as beam
import numpy as np
import torch
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference

from featurizers.cameras import CameraRig
from featurizers.lifting import PointViews, lift, lift_rgb, locate_points
from featurizers.partfield import encoder_points, from_partbank_frame
from featurizers.rendering import render_shape
from featurizers.sampling import shape_seed
from featurizers.views import element_parts, view_records
from pipelines.inference import (
    Dinov2ModelHandler,
    PartFieldExample,
    PartFieldModelHandler,
    ShapeBatchModelHandler,
)
from pipelines.stages import FAILED, GuardedStep, SampledShape, ShapeTask


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


def keyed_inference(handler: ShapeBatchModelHandler, accelerator: str | None) -> beam.PTransform:
    """RunInference over (key, example) pairs; on workers with ``accelerator`` when given.

    ``accelerator`` is a Beam resource hint such as
    ``"type:nvidia-l4;count:1;install-nvidia-driver"``: on Dataflow, only the model stages
    then run on GPU workers ("right fitting"); local runners ignore it.
    """
    transform = RunInference(KeyedModelHandler(handler))
    return transform.with_resource_hints(accelerator=accelerator) if accelerator else transform


class PartFieldFeatures(beam.PTransform):
    """Adds ``partfield``: (N, 448) float16 PartField features at each shape's points.

    Args:
        handler: the PartField model handler.
        encoder_points: surface samples fed to the encoder (upstream: 100,000).
        accelerator: resource hint for the model stage (see ``keyed_inference``).
    """

    def __init__(
        self, handler: PartFieldModelHandler, encoder_points: int, accelerator: str | None = None
    ):
        super().__init__()
        self.handler = handler
        self.encoder_points = encoder_points
        self.accelerator = accelerator

    def expand(self, shapes: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        prepared = shapes | "Inputs" >> beam.ParDo(
            GuardedStep("partfield", partial(partfield_example, num_points=self.encoder_points))
        ).with_outputs(FAILED, main="ok")
        predicted = prepared.ok | "RunInference" >> keyed_inference(self.handler, self.accelerator)
        attached = predicted | "Attach" >> beam.ParDo(
            GuardedStep("partfield", partial(with_feature, column="partfield"), task_of=_key_task)
        ).with_outputs(FAILED, main="ok")
        failed = (prepared[FAILED], attached[FAILED]) | "Failed" >> beam.Flatten()
        return attached.ok, failed


def _key_task(pair: tuple[SampledShape, Any]):
    return pair[0].task


@dataclass
class LocatedShape:
    """A shape with its views rendered and its points located in them.

    Attributes:
        shape: the shape, with ``views_seen`` (and ``rgb``) among its features.
        located: the points' projections and visibility in every view.
        views: (V, S, S, 3) uint8 shaded renders for DINOv2, or None.
        view_records: per-view records for ``--emit-views`` (``featurizers.views``), or None.
    """

    shape: SampledShape
    located: PointViews
    views: np.ndarray | None
    view_records: list[dict] | None

    @property
    def task(self) -> ShapeTask:
        return self.shape.task


def render_and_locate(
    shape: SampledShape, rig: CameraRig, featurizers: frozenset[str], emit_views: bool, device: str
) -> LocatedShape:
    """Render the shape's views, locate its points in them, lift the renders' colors.

    Shaded views feed DINOv2; unlit base-color views feed ``rgb``. Both come from one rig,
    so their depth and id buffers agree and one ``views_seen`` serves every lifted feature.
    """
    record, sample = shape.record, shape.sample
    render = partial(render_shape, record, rig, sample.center, sample.scale)
    shaded = render(mode="shaded") if "dinov2" in featurizers else None
    unlit = render(mode="unlit") if "rgb" in featurizers else None
    renders = shaded or unlit
    located = locate_points(
        sample.points, renders, sample.face_index, sample.normals, device=device
    )
    features = {**shape.features, "views_seen": located.views_seen}
    if unlit is not None:
        features["rgb"] = lift_rgb(unlit, located)
    return LocatedShape(
        shape=dataclasses.replace(shape, features=features),
        located=located,
        views=shaded.rgb if shaded is not None else None,
        view_records=view_records(renders, element_parts(record)) if emit_views else None,
    )


class RenderViews(beam.PTransform):
    """Shapes -> ``LocatedShape``s (``views_seen``, ``rgb``); failures tagged.

    Args:
        rig: the cameras (``--views``, ``--image-size``).
        featurizers: the lifted featurizers requested (``rgb``, ``dinov2``).
        emit_views: keep per-view records for the ``views/`` table.
        device: where points are located ("auto", "cpu", "cuda").
    """

    def __init__(self, rig: CameraRig, featurizers: frozenset[str], emit_views: bool, device: str):
        super().__init__()
        self.step = partial(
            render_and_locate,
            rig=rig,
            featurizers=featurizers,
            emit_views=emit_views,
            device=device,
        )

    def expand(self, shapes: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        rendered = shapes | "Render" >> beam.ParDo(GuardedStep("render", self.step)).with_outputs(
            FAILED, main="ok"
        )
        return rendered.ok, rendered[FAILED]


def with_dino(pair: tuple[tuple[SampledShape, PointViews], PredictionResult]) -> SampledShape:
    """The shape with ``dino``: its views' patch grids lifted onto its points (float16)."""
    (shape, located), prediction = pair
    if isinstance(prediction.inference, Exception):
        raise prediction.inference
    grids = torch.from_numpy(prediction.inference).float().to(located.points.device)
    dino = lift(grids, located).to(torch.float16).cpu().numpy()
    return dataclasses.replace(shape, features={**shape.features, "dino": dino})


class Dinov2Features(beam.PTransform):
    """``LocatedShape``s -> shapes with ``dino`` (N, D) float16; failures tagged.

    DINOv2 runs through ``RunInference`` (model loaded once per worker, batches of shapes);
    the lift runs in its own step on the located points.
    """

    def __init__(self, handler: Dinov2ModelHandler, accelerator: str | None = None):
        super().__init__()
        self.handler = handler
        self.accelerator = accelerator

    def expand(self, located: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        predicted = (
            located
            | "Views" >> beam.Map(lambda item: ((item.shape, item.located), item.views))
            | "RunInference" >> keyed_inference(self.handler, self.accelerator)
        )
        lifted = predicted | "Lift" >> beam.ParDo(
            GuardedStep("dinov2", with_dino, task_of=lambda pair: pair[0][0].task)
        ).with_outputs(FAILED, main="ok")
        return lifted.ok, lifted[FAILED]
