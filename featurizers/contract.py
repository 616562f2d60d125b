"""The featurizer contract: what one featurizer declares so the features pipeline can run it.

A featurizer is one ``FeaturizerSpec``: the per-point columns it adds to the shard (their
Arrow types), the flags it reads, what of the run's config changes its numbers (part of
the config hash), whether it reads rendered views (and which render mode), its per-shape
step and, when it runs a model, how the model is loaded and run on a batch of shapes.
The features pipeline builds its shard schema, its config hash and its graph from the
registered specs (``featurizers.catalog.FEATURIZERS``); nothing else names a featurizer.

A spec's callables receive the run's config (``featurizers.config.FeaturesConfig``: plain
attributes such as ``device``, ``random_init``, ``views``; a featurizer's own flags through
``config.option(attribute)``, the weights its ``ModelSpec.locate`` found in
``config.weights``) and are pickled into the pipeline's workers: use module-level functions
(or ``functools.partial`` of them).

The registry is imported to build the command line, so ``--help`` and usage errors wait
for every featurizer module: a featurizer module imports torch, transformers, trimesh or
a renderer inside the functions that use them, never at its top.

This module is plain Python on numpy and Arrow: it never imports Beam or torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from featurizers.lifting import PointViews
    from featurizers.rendering import Renders
    from featurizers.sampling import SurfaceSample
    from featurizers.shapes import ShapeRecord

#: The column every lifted featurizer shares: how many views see each point.
VIEWS_SEEN = "views_seen"


@dataclass(frozen=True)
class PointColumn:
    """A per-point shard column: ``list<value_type>``, or ``list<fixed_size_list<value_type,
    width>>`` when ``width`` is given (one (N,) or (N, width) array per shape)."""

    name: str
    value_type: pa.DataType
    width: int | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        item = pa.list_(self.value_type, self.width) if self.width else self.value_type
        return pa.list_(item)


@dataclass(frozen=True)
class Flag:
    """A command-line flag a featurizer reads (``--pipeline features`` adds it to its parser).

    Attributes:
        flag: the flag as typed (``--partfield-points``); unique among the featurizers.
        attribute: where its value lands: ``config.option(attribute)``.
        default: its value when the command line does not give it.
        help: its ``--help`` line (``%(default)s`` is filled in).
        type: turns the typed text into the value (``int``, ``float``; default: the text).
        metavar: the value's placeholder in ``--help``.
        minimum: the least value a run accepts (numbers), or None.
    """

    flag: str
    attribute: str
    default: Any
    help: str
    type: Callable[[str], Any] = str
    metavar: str = "VALUE"
    minimum: int | float | None = None


@dataclass(frozen=True)
class ShapeInputs:
    """What a per-shape step reads, on the worker that loaded the shape.

    Attributes:
        record: the shape as its source read it (meshes, textures, point cloud).
        sample: its N sampled points (normalized frame).
        renders: the rig's renders by mode (``"shaded"``, ``"unlit"``): only the modes
            the run's lifted featurizers asked for (empty when none is lifted).
        located: the points' projections and visibility in those views, or None.
    """

    record: ShapeRecord
    sample: SurfaceSample
    renders: Mapping[str, Renders] = field(default_factory=dict)
    located: PointViews | None = None


@dataclass(frozen=True)
class Prepared:
    """What a per-shape step returns.

    Attributes:
        columns: finished per-point columns (name -> (N,) or (N, D) array).
        model_input: the shape's input to the featurizer's model (None without a model).
        state: what ``ModelSpec.finish`` needs besides the model output (kept small: it
            travels with the shape to the model stage and back).
    """

    columns: dict[str, np.ndarray] = field(default_factory=dict)
    model_input: Any = None
    state: Any = None


def no_weights(config: Any) -> dict[str, str]:
    """A model with nothing to locate (built in code, or found by ``load`` alone)."""
    return {}


@dataclass(frozen=True)
class ModelSpec:
    """How a featurizer's model runs (the pipeline wraps it in a RunInference handler).

    Attributes:
        load: ``(config) -> model``, once per worker (weights found on the worker).
        run_batch: ``(model, inputs) -> outputs``: one output per model input, in order.
        finish: ``(state, output) -> columns``: the shape's finished columns.
        locate: ``(config) -> {name: location}``: the pretrained weights, found before any
            work (``FeaturesConfig.with_weights``; not called for ``--models random-init``);
            what it returns is ``config.weights`` from then on. Raises
            ``ModelUnavailableError`` whose one-line message says how to provide them.
    """

    load: Callable[[Any], Any]
    run_batch: Callable[[Any, Sequence[Any]], list[Any]]
    finish: Callable[[Any, Any], dict[str, np.ndarray]]
    locate: Callable[[Any], Mapping[str, str]] = no_weights


def no_config_entries(config: Any) -> dict[str, Any]:
    """A featurizer whose numbers depend on nothing but the points (and the rig)."""
    return {}


@dataclass(frozen=True)
class FeaturizerSpec:
    """One featurizer, as the features pipeline runs it.

    Attributes:
        name: the ``--featurizers`` name.
        columns: ``(config or None) -> PointColumn``s it fills; None: the run does not
            request it (its columns are still in the schema, all null).
        step: ``(ShapeInputs, config) -> Prepared``, once per shape.
        config_entries: ``(config) -> dict`` of what changes its numbers (config hash).
        flags: its own command-line flags (``config.option(flag.attribute)``).
        render_mode: the render mode it reads when lifted from views; None: not lifted.
        model: its model, or None.
    """

    name: str
    columns: Callable[[Any], tuple[PointColumn, ...]]
    step: Callable[[ShapeInputs, Any], Prepared]
    config_entries: Callable[[Any], dict[str, Any]] = no_config_entries
    flags: tuple[Flag, ...] = ()
    render_mode: str | None = None
    model: ModelSpec | None = None

    @property
    def lifted(self) -> bool:
        return self.render_mode is not None


def views_seen_column() -> PointColumn:
    """``views_seen``: (N,) uint8, filled whenever a lifted featurizer runs."""
    return PointColumn(VIEWS_SEEN, pa.uint8())


def feature_columns(
    specs: Sequence[FeaturizerSpec], requested: Sequence[str], config: Any
) -> list[PointColumn]:
    """The feature columns of a shard, in registration order.

    Every registered featurizer has its columns in the schema (null when not run);
    ``views_seen`` follows the first lifted featurizer's columns.
    """
    columns: list[PointColumn] = []
    for spec in specs:
        columns.extend(spec.columns(config if spec.name in requested else None))
        if spec.lifted and VIEWS_SEEN not in (c.name for c in columns):
            columns.append(views_seen_column())
    return columns


def config_entries(specs: Sequence[FeaturizerSpec], config: Any) -> dict[str, Any]:
    """What the requested featurizers add to the config hash (``specs``: those requested).

    ``models`` when any runs a model; ``rig`` (views, image size) when any is lifted;
    then each featurizer's own entries.
    """
    entries: dict[str, Any] = {}
    if any(spec.model for spec in specs):
        entries["models"] = config.models
    if any(spec.lifted for spec in specs):
        entries["rig"] = {"views": config.views, "image_size": config.image_size}
    for spec in specs:
        entries.update(spec.config_entries(config))
    return entries
