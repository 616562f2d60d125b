"""The features pipeline: meshes -> Parquet shards of sampled, labelled, featurized points.

Graph::

    tasks (inputs discovered up front, sorted, assigned to shards)
      -> Reshuffle -> LoadAndSample (source reader + surface sampling)
      -> [Render: views, visibility, lifted rgb]            (--featurizers rgb and/or dinov2)
      -> [DINOv2: RunInference on the views -> lift]        (--featurizers dinov2)
      -> [PartField: inputs -> RunInference -> attach]      (--featurizers partfield)
      -> ToShardRow (ontology names) -> GroupByKey(shard) -> WriteShardFile
      -> manifest (ok rows from the writer + failed rows of every stage)
      [-> views/ table of renders, label maps and cameras]  (--emit-views)
    then OUT/features_run.json: config, versions, models, device, counts and timings.

Everything that can stop a run (flags, weights, discovery) is checked before any work.
Torch, the featurizers and the sources are imported only when a run starts, so usage
errors answer quickly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property, partial
from importlib import resources
from typing import TYPE_CHECKING, Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from featurizers.names import escape_invalid_text
from featurizers.weights import (
    ModelUnavailableError,
    official_partfield_checkpoint,
    pick_device,
    resolve_dinov2_weights,
)
from pipelines.options import FEATURIZERS, SOURCE_NAMES, CommonOptions, FeaturesOptions
from pipelines.registry import PIPELINES
from pipelines.run_info import package_versions
from pipelines.sinks import (
    MANIFEST_FILE,
    ManifestEntry,
    remove_stale_shards,
    write_json,
    write_manifest,
)
from schemas.features import DEFAULT_DINO_DIM, SCHEMA_VERSION

if TYPE_CHECKING:  # the sources load trimesh: imported when a run starts
    from pipelines.sources import SourceInput

LOGGER = logging.getLogger(__name__)

#: Featurizers that run a model (``--models``, ``--device`` apply to them).
MODEL_FEATURIZERS = frozenset({"dinov2", "partfield"})
#: Featurizers lifted from rendered views (they share one rig and ``views_seen``).
LIFTED_FEATURIZERS = frozenset({"rgb", "dinov2"})
#: Bumped when sampling changes the numbers it produces (part of the config hash).
SAMPLER_VERSION = 1
#: The run's summary inside ``--output`` (the ontology pipeline writes its own file).
RUN_FILE = "features_run.json"


class ConfigError(ValueError):
    """Options that cannot run; the message says which and why."""


@dataclass(frozen=True)
class FeaturesConfig:
    """The validated configuration of one features run."""

    output: str
    inputs: tuple[tuple[str, str], ...]  # (source, location)
    num_points: int
    featurizers: tuple[str, ...]
    models: str
    device: str
    model_accelerator: str | None
    views: int
    image_size: int
    dinov2_model: str
    dinov2_weights: str | None  # the folder found by with_weights
    emit_views: bool
    partfield_checkpoint: str | None
    partfield_weights: str | None  # the file found by with_weights
    partfield_points: int
    ontology: str | None
    limit: int | None
    shapes_per_shard: int
    shapes_per_row_group: int

    @classmethod
    def from_options(cls, options: PipelineOptions) -> FeaturesConfig:
        own = options.view_as(FeaturesOptions)
        inputs = paired_inputs(own.sources_and_inputs or ())
        names = tuple(
            n for n in (s.strip() for s in own.featurizers.split(",")) if n and n != "none"
        )
        unknown = sorted(set(names) - set(FEATURIZERS))
        if unknown:
            raise ConfigError(
                f"--featurizers: unknown or unavailable {', '.join(unknown)} "
                f"(available: {', '.join(FEATURIZERS)})"
            )
        for flag, value in (
            ("--num-points", own.num_points),
            ("--views", own.views),
            ("--image-size", own.image_size),
            ("--partfield-points", own.partfield_points),
            ("--shapes-per-shard", own.shapes_per_shard),
            ("--shapes-per-row-group", own.shapes_per_row_group),
        ):
            if value < 1:
                raise ConfigError(f"{flag} must be at least 1, got {value}")
        if own.emit_views and not LIFTED_FEATURIZERS & set(names):
            raise ConfigError("--emit-views needs a lifted featurizer (rgb or dinov2)")
        if own.limit is not None and own.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {own.limit}")
        if own.ontology:
            from ontology.alias_map import AliasMap

            try:
                AliasMap.load(own.ontology)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"--ontology {own.ontology}: {exc}") from exc
        return cls(
            output=options.view_as(CommonOptions).output or PIPELINES["features"].default_output,
            inputs=inputs,
            num_points=own.num_points,
            featurizers=tuple(sorted(set(names))),
            models=own.models,
            device=own.device,
            model_accelerator=own.model_accelerator,
            views=own.views,
            image_size=own.image_size,
            dinov2_model=own.dinov2_model,
            dinov2_weights=None,
            emit_views=own.emit_views,
            partfield_checkpoint=own.partfield_checkpoint,
            partfield_weights=None,
            partfield_points=own.partfield_points,
            ontology=own.ontology,
            limit=own.limit,
            shapes_per_shard=own.shapes_per_shard,
            shapes_per_row_group=own.shapes_per_row_group,
        )

    @property
    def features_dir(self) -> str:
        return FileSystems.join(self.output, "features")

    @property
    def lifted(self) -> frozenset[str]:
        return LIFTED_FEATURIZERS & frozenset(self.featurizers)

    @property
    def views_dir(self) -> str:
        return FileSystems.join(self.output, "views")

    @property
    def random_init(self) -> bool:
        return self.models == "random-init" and bool(MODEL_FEATURIZERS & set(self.featurizers))

    def with_weights(self) -> FeaturesConfig:
        """The config with every model's weights located here, before any work.

        Workers find the weights again themselves (their own cache, or a download); what is
        located here sets the ``dino`` width and the weights' fingerprint in the config.

        Raises:
            ModelUnavailableError: weights missing; the message says how to provide them.
        """
        if self.models == "random-init":
            return self
        located: dict[str, str] = {}
        if "dinov2" in self.featurizers:
            located["dinov2_weights"] = str(resolve_dinov2_weights(self.dinov2_model))
        if "partfield" in self.featurizers:
            if self.partfield_checkpoint and not FileSystems.exists(self.partfield_checkpoint):
                raise ModelUnavailableError(
                    f"--partfield-checkpoint {self.partfield_checkpoint}: no such file"
                )
            located["partfield_weights"] = self.partfield_checkpoint or str(
                official_partfield_checkpoint()
            )
        return dataclasses.replace(self, **located)

    @property
    def dino_dim(self) -> int:
        """D of the ``dino`` column, from the model's architecture (no download)."""
        from featurizers.dinov2 import known_config

        return known_config(self.dinov2_weights or self.dinov2_model).hidden_size

    @cached_property
    def numeric_config(self) -> dict[str, Any]:
        """Every option that changes the numbers in a shard."""
        config: dict[str, Any] = {
            "num_points": self.num_points,
            "featurizers": list(self.featurizers),
            "sampler_version": SAMPLER_VERSION,
            "schema_version": SCHEMA_VERSION,
            "ontology": self.ontology_fingerprint(),
        }
        if MODEL_FEATURIZERS & set(self.featurizers):
            config["models"] = self.models
        if self.lifted:
            config["rig"] = {"views": self.views, "image_size": self.image_size}
        if "dinov2" in self.featurizers:
            config["dinov2_model"] = self.dinov2_model
        if "partfield" in self.featurizers:
            config["partfield_points"] = self.partfield_points
            config["partfield_weights"] = (
                None if self.models == "random-init" else _file_fingerprint(self.partfield_weights)
            )
        return config

    def ontology_fingerprint(self) -> str | None:
        """SHA-256 of the alias log the names are resolved with (None without ontology)."""
        if not self.ontology:
            return None
        from ontology.alias_map import AliasMap

        return hashlib.sha256(AliasMap.log_path(self.ontology).read_bytes()).hexdigest()

    @cached_property
    def config_hash(self) -> str:
        canonical = json.dumps(self.numeric_config, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _file_fingerprint(path: str | None) -> str | None:
    """Name and size of a weights file: cheap, and changes when the weights do."""
    if not path:
        return None
    (match,) = FileSystems.match([path])[0].metadata_list
    return f"{FileSystems.split(path)[1]}:{match.size_in_bytes}"


def paired_inputs(given: Sequence[Sequence[str]]) -> tuple[tuple[str, str], ...]:
    """``(source, location)`` of every ``--source`` and ``--input`` in command-line order.

    Each ``--input`` belongs to the ``--source`` before it; a ``--source`` with no
    ``--input`` runs that source's bundled samples; no ``--source`` at all runs every
    source's samples.

    Args:
        given: ``[flag, value]`` pairs as ``FeaturesOptions`` collects them.

    Raises:
        ConfigError: an ``--input`` with no ``--source`` of its own, or a pair given twice.
    """
    samples = resources.files("pipelines") / "samples"
    pairs: list[tuple[str, str]] = []
    source = None
    for flag, value in given:
        if flag == "--input":
            if source is None:
                raise ConfigError(
                    f"--input needs --source: {value} has no --source of its own before it "
                    f"(one of: {', '.join(SOURCE_NAMES)})"
                )
            pairs.append((source, value))
            source = None
        else:
            if source is not None:
                pairs.append((source, str(samples / source)))
            source = value
    if source is not None:
        pairs.append((source, str(samples / source)))
    for pair, count in Counter(pairs).items():
        if count > 1:
            raise ConfigError(f"--source {pair[0]} --input {pair[1]} is given {count} times")
    return tuple(pairs) or tuple((name, str(samples / name)) for name in SOURCE_NAMES)


@dataclass(frozen=True)
class Discovered:
    """The inputs of a run, found before any work.

    Attributes:
        inputs: the inputs to run, sorted by shape id, cut to ``--limit``.
        rejected: failed manifest rows of inputs that cannot run: inputs sharing a shape
            id (their shard rows could not be told apart, so none of them runs).
    """

    inputs: list[SourceInput]
    rejected: list[ManifestEntry]

    @property
    def candidates(self) -> int:
        return len(self.inputs) + len(self.rejected)


def discover_inputs(config: FeaturesConfig) -> Discovered:
    """All inputs of the run, sorted by shape id and cut to ``--limit``.

    Raises:
        ConfigError: an input location matches nothing, or its source cannot list it
            (a malformed ``metadata.csv``, an unreadable folder).
    """
    from pipelines.sources import SOURCES, SourceError

    found = []
    for source_name, location in config.inputs:
        try:
            found.extend(SOURCES[source_name]().discover(location))
        except (OSError, SourceError) as exc:
            raise ConfigError(escape_invalid_text(" ".join(str(exc).split()))) from exc
    found = sorted(found)[: config.limit]
    shared = Counter([source_input.shape_id for source_input in found])
    rejected = [
        ManifestEntry(
            source_input.shape_id,
            source_input.uri,
            "failed",
            f"discover: {shared[source_input.shape_id]} inputs share the shape id "
            f"{source_input.shape_id} (rename all but one); none of them runs",
        )
        for source_input in found
        if shared[source_input.shape_id] > 1
    ]
    return Discovered([i for i in found if shared[i.shape_id] == 1], rejected)


class FeaturesPipeline(beam.PTransform):
    """Inputs -> shard files; returns the manifest entries (a PCollection of ``ManifestEntry``)."""

    def __init__(self, config: FeaturesConfig, discovered: Discovered, run_metadata: dict):
        super().__init__()
        self.config = config
        self.inputs = discovered.inputs
        self.rejected = discovered.rejected
        self.run_metadata = run_metadata

    @property
    def shard_count(self) -> int:
        return max(1, math.ceil(len(self.inputs) / self.config.shapes_per_shard))

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        from featurizers.cameras import orbit_rig
        from pipelines.featurize import Dinov2Features, PartFieldFeatures, RenderViews
        from pipelines.inference import Dinov2ModelHandler, PartFieldModelHandler
        from pipelines.stages import FAILED, GuardedStep, ShapeTask, ToShardRow, load_and_sample
        from pipelines.sinks import WriteShardFile
        from schemas.features import features_schema, shard_table

        config = self.config
        schema = features_schema(
            dino_dim=config.dino_dim if "dinov2" in config.featurizers else DEFAULT_DINO_DIM,
            run_metadata=self.run_metadata,
        )
        tasks = [
            ShapeTask(i // config.shapes_per_shard, source_input)
            for i, source_input in enumerate(self.inputs)
        ]
        sampled = (
            pbegin
            | "Inputs" >> beam.Create(tasks)
            | "Distribute" >> beam.Reshuffle()
            | "LoadAndSample"
            >> beam.ParDo(
                GuardedStep("load", partial(load_and_sample, num_points=config.num_points))
            ).with_outputs(FAILED, main="ok")
        )
        rejected = pbegin | "Rejected" >> beam.Create(self.rejected)
        shapes, failures = sampled.ok, [rejected, sampled[FAILED]]
        if config.lifted:
            located, failed = shapes | "RenderViews" >> RenderViews(
                orbit_rig(config.views, config.image_size),
                config.lifted,
                config.emit_views,
                config.device,
            )
            failures.append(failed)
            if config.emit_views:
                self.write_views(located)
            if "dinov2" in config.featurizers:
                shapes, failed = located | "DINOv2" >> Dinov2Features(
                    Dinov2ModelHandler(
                        config.dinov2_model,
                        config.image_size,
                        config.random_init,
                        config.device,
                        max_batch_size=self.model_batch_size,
                    ),
                    config.model_accelerator,
                )
                failures.append(failed)
            else:
                shapes = located | "Shapes" >> beam.Map(lambda item: item.shape)
        if "partfield" in config.featurizers:
            shapes, failed = shapes | "PartField" >> PartFieldFeatures(
                PartFieldModelHandler(
                    config.partfield_checkpoint,
                    config.random_init,
                    config.device,
                    self.model_batch_size,
                ),
                config.partfield_points,
                config.model_accelerator,
            )
            failures.append(failed)
        written = (
            shapes
            | "ToShardRow" >> beam.ParDo(ToShardRow(config.config_hash, config.ontology))
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShards"
            >> beam.ParDo(
                WriteShardFile(
                    config.features_dir,
                    self.shard_count,
                    schema,
                    partial(shard_table, schema=schema),
                    config.shapes_per_row_group,
                )
            )
        )
        return (written, *failures) | "Manifest" >> beam.Flatten()

    @property
    def model_batch_size(self) -> int:
        """Shapes per model forward pass: 8 on a GPU, 1 on the CPU."""
        return 8 if pick_device(self.config.device).type == "cuda" else 1

    def write_views(self, located: beam.PCollection) -> None:
        """The ``views/`` table: one row per (shape, view), sharded like the features."""
        from pipelines.sinks import ShardItem, WriteShardFile
        from schemas.views import VIEWS_SCHEMA, views_table

        def view_item(item) -> tuple[int, ShardItem]:
            shape_id = item.task.source_input.shape_id
            names = tuple(map(escape_invalid_text, item.shape.record.part_names))
            row = (escape_invalid_text(shape_id), names, item.view_records)
            return item.task.shard, ShardItem(shape_id, item.task.source_input.uri, row)

        _ = (
            located
            | "ViewRows" >> beam.Map(view_item)
            | "GroupViewsByShard" >> beam.GroupByKey()
            | "WriteViews"
            >> beam.ParDo(
                WriteShardFile(
                    self.config.views_dir, self.shard_count, VIEWS_SCHEMA, views_table, 1
                )
            )
        )


def counter_total(result: beam.runners.runner.PipelineResult, name: str) -> int:
    """The committed total of a pipeline counter (0 when it never incremented)."""
    counters = result.metrics().query(MetricsFilter().with_name(name))["counters"]
    return sum(counter.committed or 0 for counter in counters)


def run(options: PipelineOptions) -> int:
    """Run the features pipeline; returns 0 when at least one shape was written."""
    started = time.monotonic()
    try:
        config = FeaturesConfig.from_options(options).with_weights()
        discovered = discover_inputs(config)
    except (ConfigError, ModelUnavailableError) as exc:
        print(f"beam_runner.py --pipeline features: {exc}", file=sys.stderr)
        return 2
    prepared = time.monotonic()
    LOGGER.info(
        "features: %d inputs from %s -> %s (featurizers: %s)",
        discovered.candidates,
        escape_invalid_text(", ".join(f"{s}:{loc}" for s, loc in config.inputs)),
        config.features_dir,
        ", ".join(config.featurizers) or "none",
    )
    run_metadata = {
        "config": config.numeric_config,
        "config_hash": config.config_hash,
        "models": ("random-init" if config.random_init else "pretrained")
        if MODEL_FEATURIZERS & set(config.featurizers)
        else None,
        "versions": package_versions(
            ("apache-beam", "numpy", "pyarrow", "trimesh", "polars", "torch")
        ),
    }
    if config.random_init:
        LOGGER.warning("features: --models random-init: features come from RANDOM weights")

    pipeline = beam.Pipeline(options=options)
    _ = (
        pipeline
        | "Features" >> FeaturesPipeline(config, discovered, run_metadata)
        | "CollectManifest" >> beam.combiners.ToList()
        | "WriteManifest" >> beam.Map(write_manifest, config.features_dir)
    )
    result = pipeline.run()
    result.wait_until_finish()
    ran = time.monotonic()

    import polars as pl

    from featurizers.rendering import gl_renderer
    from pipelines.stages import UNRESOLVED_NAMES

    manifest = pl.read_parquet(FileSystems.join(config.features_dir, MANIFEST_FILE))
    ok = manifest.filter(pl.col("status") == "ok")
    written_shards = ok["shard"].unique().to_list()
    stale = remove_stale_shards(config.features_dir, written_shards)
    if config.emit_views:
        stale += remove_stale_shards(config.views_dir, written_shards)
    warning_counts = ok["warnings"].list.len()
    summary = {
        "pipeline": "features",
        **run_metadata,
        "options": asdict(config),
        "runner": options.view_as(StandardOptions).runner,
        "device": str(pick_device(config.device)) if run_metadata["models"] else None,
        "renderer": gl_renderer() if config.lifted else None,
        "inputs": discovered.candidates,
        "counts": {
            "ok": ok.height,
            "failed": manifest.height - ok.height,
            "with_warnings": int((warning_counts > 0).sum()),
        },
        "warnings": int(warning_counts.sum()),
        UNRESOLVED_NAMES: counter_total(result, UNRESOLVED_NAMES),
        "shards": sorted(written_shards),
        "removed_stale_shards": stale,
        "timings_s": {
            "prepare": round(prepared - started, 3),
            "pipeline": round(ran - prepared, 3),
            "total": round(time.monotonic() - started, 3),
        },
    }
    write_json(FileSystems.join(config.output, RUN_FILE), summary)
    failed = manifest.filter(pl.col("status") == "failed")
    for shape_id, error in failed.select("shape_id", "error").iter_rows():
        print(f"failed: {shape_id}: {error}")
    for shape_id, warnings in (
        ok.filter(warning_counts > 0).select("shape_id", "warnings").iter_rows()
    ):
        print(f"warning: {shape_id}: {'; '.join(warnings)}")
    counts = summary["counts"]
    print(
        f"features: {counts['ok']} shapes written ({counts['with_warnings']} with warnings), "
        f"{counts['failed']} failed -> {config.features_dir} ({summary['timings_s']['total']} s)"
    )
    return 0 if counts["ok"] else 1
