"""The elements that move through the features graph, and the DoFns that work on them.

Every per-shape step runs inside ``GuardedStep``: an exception in one shape becomes a
``failed`` manifest row naming the shape, its input and the stage, and the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from featurizers.contract import Prepared
from featurizers.names import escape_invalid_text, is_valid_text
from featurizers.sampling import SurfaceSample, sample_shape
from featurizers.shapes import ShapeRecord
from ontology.alias_map import AliasMap
from pipelines.sinks import ManifestEntry, ShardItem
from pipelines.sources import SOURCES, SourceInput
from schemas.common import one_line
from schemas.features import Part, ShardRow

LOGGER = logging.getLogger(__name__)

FAILED = "failed"
#: Metrics counter of names the ontology could not resolve.
UNRESOLVED_NAMES = "unresolved_names"


@dataclass(frozen=True, order=True)
class ShardKey:
    """The shard file a group of rows is written to together.

    Attributes:
        group: names the group: ``new/00017`` (shapes featurized in this run, spread over
            groups by a hash of their id) or ``carry/<shard file>`` (cached rows moved out
            of a shard that also held rows no longer wanted).
        size: how many shapes the group holds; its file is written once that many rows
            have arrived (or earlier, when shapes of it failed: ``WriteShards``).
    """

    group: str
    size: int


@dataclass(frozen=True)
class ShapeTask:
    """One input to featurize, the hash of its files and the shard its row goes to.

    ``input_sha256``: ``pipelines.sources.fingerprint.input_sha256`` of the input, taken
    before it is read; it becomes the row's ``mesh_sha256`` (what reruns compare).
    """

    shard: ShardKey
    source_input: SourceInput
    input_sha256: str = ""

    @property
    def task(self) -> ShapeTask:
        return self


@dataclass(frozen=True)
class ShapeMeta:
    """What a shard row needs of a record besides its points (no geometry, no textures)."""

    shape_id: str
    source: str
    category_raw: str
    part_names: tuple[str, ...]
    warnings: tuple[str, ...]

    @classmethod
    def of(cls, record: ShapeRecord) -> ShapeMeta:
        return cls(
            record.shape_id,
            record.source,
            record.category_raw,
            record.part_names,
            record.warnings,
        )


@dataclass
class SampledShape:
    """A loaded shape: its task, record (meshes, textures), sampled points and the features
    computed so far. Only the stages that need the record see it (load, featurize).

    ``features`` maps shard column names to their (N,) or (N, D) per-point arrays.
    """

    task: ShapeTask
    record: ShapeRecord
    sample: SurfaceSample
    features: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def meta(self) -> ShapeMeta:
        return ShapeMeta.of(self.record)


@dataclass
class FeaturizedShape:
    """A shape past the per-shape featurize stage: what later stages and its row need.

    Attributes:
        task: its input and shard.
        meta: ids, names and warnings for the row.
        sample: its N points (``colors`` dropped: no column holds them).
        features: finished per-point columns.
        pending: ``Prepared`` inputs and states of featurizers still waiting for their
            model, by featurizer name (each removed once its model has run).
        views: its per-view records for ``--emit-views`` (``featurizers.views``), else None.
    """

    task: ShapeTask
    meta: ShapeMeta
    sample: SurfaceSample
    features: dict[str, np.ndarray] = field(default_factory=dict)
    pending: dict[str, Prepared] = field(default_factory=dict)
    views: list[dict] | None = None


class StageError(Exception):
    """An exception raised inside a named part of a composite step (``GuardedStep``
    names that part, not the step, in the failure reason)."""

    def __init__(self, stage: str, cause: Exception):
        super().__init__(f"{stage}: {cause}")
        self.stage = stage
        self.cause = cause


@contextmanager
def named_stage(stage: str) -> Iterator[None]:
    """Runs a part of a composite step: times it (``{stage}_ms``) and names it on failure."""
    started = time.perf_counter()
    try:
        yield
    except StageError:
        raise
    except Exception as exc:
        raise StageError(stage, exc) from exc
    stage_timing(stage).update(round((time.perf_counter() - started) * 1000))


def stage_timing(stage: str):
    """The Beam distribution of milliseconds per shape in ``stage`` (``{stage}_ms``)."""
    return Metrics.distribution("features", f"{stage}_ms")


class GuardedStep(beam.DoFn):
    """Applies ``step`` to each element; a raising element becomes a failed manifest row.

    Main output: what ``step`` returns. Tagged output ``failed``: ``ManifestEntry``.

    Args:
        stage: name used in failure reasons and counters.
        step: element -> result.
        task_of: element -> its ``ShapeTask`` (default: ``element.task``).
    """

    def __init__(
        self,
        stage: str,
        step: Callable[[Any], Any],
        task_of: Callable[[Any], ShapeTask] | None = None,
    ):
        self.stage = stage
        self.step = step
        self.task_of = task_of
        self.failures = Metrics.counter("features", f"{stage}_failed")
        self.timing = stage_timing(stage)

    def process(self, element: Any) -> Iterator[Any]:
        started = time.perf_counter()
        try:
            result = self.step(element)
        except Exception as exc:  # any bad shape becomes a failed manifest row
            stage, exc = (
                (exc.stage, exc.cause) if isinstance(exc, StageError) else (self.stage, exc)
            )
            task = self.task_of(element) if self.task_of else element.task
            source_input = task.source_input
            reason = escape_invalid_text(
                f"{stage}: {type(exc).__name__}: {one_line(exc, limit=None)}"
            )
            LOGGER.warning(
                "failed %s (%s): %s",
                escape_invalid_text(source_input.shape_id),
                escape_invalid_text(source_input.uri),
                reason,
            )
            self.failures.inc()
            yield beam.pvalue.TaggedOutput(
                FAILED, ManifestEntry(source_input.shape_id, source_input.uri, "failed", reason)
            )
            return
        self.timing.update(round((time.perf_counter() - started) * 1000))
        yield result


def load_and_sample(task: ShapeTask, num_points: int) -> SampledShape:
    """Read a task's input with its source and sample its surface."""
    source_input = task.source_input
    source = SOURCES[source_input.shape_id.split("/", 1)[0]]()
    record = source.load(source_input)
    return SampledShape(task, record, sample_shape(record, num_points))


class ToShardRow(beam.DoFn):
    """A sampled shape -> ``(ShardKey, ShardItem)``, names resolved by the ontology.

    Names the ontology does not know keep their raw spelling and ``part_uid`` -1; they
    are logged and counted (``unresolved_names`` in the run file). Text that is not valid
    (a lone surrogate a source let through) is escaped here, where it becomes a Parquet
    value, and noted among the shape's warnings.
    """

    def __init__(self, config_hash: str, ontology: str | None):
        self.config_hash = config_hash
        self.ontology = ontology
        self.unresolved = Metrics.counter("features", UNRESOLVED_NAMES)

    def setup(self) -> None:
        self.aliases = AliasMap.load(self.ontology) if self.ontology else None

    def process(
        self, shape: SampledShape | FeaturizedShape
    ) -> Iterator[tuple[ShardKey, ShardItem]]:
        record, sample = shape.meta, shape.sample
        category, parts = self.resolve_names(record)
        texts = (record.shape_id, record.source, record.category_raw, category)
        invalid = [
            text
            for text in (*texts, *(name for part in parts for name in (part.name_raw, part.name)))
            if not is_valid_text(text)
        ]
        shape_id, source, category_raw, category = map(escape_invalid_text, texts)
        row = ShardRow(
            shape_id=shape_id,
            source=source,
            category_raw=category_raw,
            category=category,
            mesh_sha256=shape.task.input_sha256,
            config_hash=self.config_hash,
            center=sample.center,
            scale=sample.scale,
            points=sample.points,
            normals=sample.normals,
            face_index=sample.face_index,
            point_part=sample.point_part,
            parts=tuple(
                Part(escape_invalid_text(p.name_raw), escape_invalid_text(p.name), p.part_uid)
                for p in parts
            ),
            features=shape.features,
        )
        warnings = record.warnings + tuple(
            f"invalid text escaped as '{escape_invalid_text(text)}'"
            for text in dict.fromkeys(invalid)
        )
        source_input = shape.task.source_input
        views = shape.views if isinstance(shape, FeaturizedShape) else None
        yield (
            shape.task.shard,
            ShardItem(
                source_input.shape_id,
                source_input.uri,
                row,
                warnings,
                views=views,
                part_names=tuple(part.name_raw for part in row.parts),
                input_sha256=shape.task.input_sha256,
            ),
        )

    def resolve_names(self, record: ShapeMeta) -> tuple[str, tuple[Part, ...]]:
        """Canonical category and parts of a record (raw names without an ontology)."""
        if self.aliases is None:
            return record.category_raw, tuple(Part(name, name) for name in record.part_names)
        category, parts, unresolved = self.aliases.resolve_parts(
            record.category_raw, record.part_names
        )
        for message in unresolved:
            self.unresolved.inc()
            LOGGER.warning("%s: %s", record.shape_id, message)
        names = zip(record.part_names, parts, strict=True)
        return category, tuple(Part(name, part.part, part.part_uid) for name, part in names)
