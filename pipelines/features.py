"""The features pipeline: meshes -> Parquet shards of sampled, labelled, featurized points.

Graph::

    tasks (inputs discovered up front, sorted, assigned to shards)
      -> Reshuffle -> LoadAndSample (source reader + surface sampling)
      -> Featurize: [render, locate the points] + every requested featurizer's step
         (the last stage that holds the mesh; featurizers.catalog lists the featurizers)
      -> per featurizer with a model: RunInference -> Attach (its finish)
      -> CountDone -> ToShardRow (ontology names) -> GroupByKey(shard) -> WriteShardFile
      -> manifest (ok rows from the writer + CountFailed(failed rows of every stage))
      [-> views/ table of renders, label maps and cameras]  (--emit-views)
    then OUT/features_run.json: config, versions, models, device, counts and timings.

CountDone and CountFailed feed the progress counters and log lines (``pipelines.progress``).

Everything that can stop a run (flags, weights, discovery) is checked before any work.
Torch, the featurizers' models and the sources are imported only when a run starts (the
registry itself is light), so usage errors answer quickly.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from featurizers.catalog import flags
from featurizers.config import ConfigError, FeaturesConfig
from featurizers.names import escape_invalid_text
from featurizers.weights import pick_device
from pipelines.options import CommonOptions, FeaturesOptions
from pipelines.progress import ProgressSettings, count_progress, worker_processes
from pipelines.registry import PIPELINES
from pipelines.run_info import (
    counter_total,
    package_versions,
    run_file_name,
    runner_used,
    stage_timings_s,
    write_run_summary,
)
from pipelines.sinks import remove_stale_shards, summarize_manifest, write_manifest
from schemas.common import ModelUnavailableError

if TYPE_CHECKING:  # the sources load trimesh: imported when a run starts
    from pipelines.sources.discovery import Discovered

LOGGER = logging.getLogger(__name__)

#: The run's summary inside ``--output`` (``pipelines.run_info``).
RUN_FILE = run_file_name("features")
#: Packages whose versions the run file and the shards' metadata record.
VERSIONED_PACKAGES = ("apache-beam", "numpy", "pyarrow", "trimesh", "polars", "torch")


def config_from_options(options: PipelineOptions) -> FeaturesConfig:
    """The command line's features config, validated (``featurizers.config``).

    Raises:
        ConfigError: options that cannot run.
    """
    from pipelines.sources.discovery import paired_inputs

    own = options.view_as(FeaturesOptions)
    names = tuple(n for n in (s.strip() for s in own.featurizers.split(",")) if n and n != "none")
    featurizer_options = {flag.attribute: getattr(own, flag.attribute) for flag in flags()}
    return FeaturesConfig(
        output=options.view_as(CommonOptions).output or PIPELINES["features"].default_output,
        inputs=paired_inputs(own.sources_and_inputs or ()),
        num_points=own.num_points,
        featurizers=names,
        models=own.models,
        device=own.device,
        model_accelerator=own.model_accelerator,
        views=own.views,
        image_size=own.image_size,
        emit_views=own.emit_views,
        options=featurizer_options,
        ontology=own.ontology,
        limit=own.limit,
        shapes_per_shard=own.shapes_per_shard,
        shapes_per_row_group=own.shapes_per_row_group,
    ).validated()


class FeaturesPipeline(beam.PTransform):
    """Inputs -> shard files; returns the manifest entries (a PCollection of ``ManifestEntry``)."""

    def __init__(
        self,
        config: FeaturesConfig,
        discovered: Discovered,
        run_metadata: dict,
        progress: ProgressSettings | None = None,
    ):
        super().__init__()
        self.config = config
        self.inputs = discovered.inputs
        self.rejected = discovered.rejected
        self.run_metadata = run_metadata
        self.progress = progress or ProgressSettings(f"{time.time():.6f}", discovered.candidates)

    @property
    def shard_count(self) -> int:
        return max(1, math.ceil(len(self.inputs) / self.config.shapes_per_shard))

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        from featurizers.cameras import orbit_rig
        from featurizers.catalog import FEATURIZERS, requested
        from featurizers.contract import feature_columns
        from pipelines.featurize import Featurize, ModelFeatures, RenderSettings, WriteViews
        from pipelines.sinks import WriteShardFile
        from pipelines.stages import FAILED, GuardedStep, ShapeTask, ToShardRow, load_and_sample
        from schemas.features import features_schema, shard_table

        config = self.config
        specs = tuple(requested(config.featurizers))
        columns = feature_columns(list(FEATURIZERS.values()), config.featurizers, config)
        schema = features_schema(
            [(column.name, column.arrow_type) for column in columns], self.run_metadata
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
        render = None
        if any(spec.lifted for spec in specs):
            rig = orbit_rig(config.views, config.image_size)
            render = RenderSettings(rig, config.device, config.emit_views)
        shapes, views, failed = sampled.ok | "Featurize" >> Featurize(
            specs, config, render, self.progress.processes
        )
        failures = [rejected, sampled[FAILED], failed]
        if views is not None:
            _ = views | "Views" >> WriteViews(config.views_dir, self.shard_count)
        for spec in specs:
            if spec.model is not None:
                shapes, failed = shapes | spec.name >> ModelFeatures(
                    spec, config, self.model_batch_size, config.model_accelerator
                )
                failures.append(failed)
        counted = partial(count_progress, settings=self.progress)
        written = (
            shapes
            | "CountDone" >> beam.Map(counted, outcome="done")
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
        failed = (
            failures
            | "Failures" >> beam.Flatten()
            | "CountFailed" >> beam.Map(counted, outcome="failed")
        )
        return (written, failed) | "Manifest" >> beam.Flatten()

    @property
    def model_batch_size(self) -> int:
        """Shapes per model forward pass: 8 on a GPU, 1 on the CPU."""
        return 8 if pick_device(self.config.device).type == "cuda" else 1


def run(options: PipelineOptions, progress_interval_s: float = 10.0) -> int:
    """Run the features pipeline; returns 0 when at least one shape was written.

    Every worker process logs a progress line at most every ``progress_interval_s``.
    """
    started_at, started = time.time(), time.monotonic()
    try:
        from pipelines.sources.discovery import discover_all

        config = config_from_options(options).with_weights()
        discovered = discover_all(config)
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
    versions = package_versions(VERSIONED_PACKAGES)
    run_metadata = {
        "config": config.numeric_config,
        "config_hash": config.config_hash,
        "models": config.model_weights,
        "versions": versions,
    }
    if config.random_init:
        LOGGER.warning("features: --models random-init: features come from RANDOM weights")

    processes = worker_processes(options)
    pipeline = beam.Pipeline(options=options)
    _ = (
        pipeline
        | "Features"
        >> FeaturesPipeline(
            config,
            discovered,
            run_metadata,
            ProgressSettings(
                f"{started_at:.6f}", discovered.candidates, progress_interval_s, processes
            ),
        )
        | "CollectManifest" >> beam.combiners.ToList()
        | "WriteManifest" >> beam.Map(write_manifest, config.features_dir)
    )
    result = pipeline.run()
    result.wait_until_finish()
    ran = time.monotonic()

    from featurizers.rendering import gl_renderer
    from pipelines.stages import UNRESOLVED_NAMES

    manifest = summarize_manifest(config.features_dir)
    stale = remove_stale_shards(config.features_dir, manifest.shards)
    if config.emit_views:
        stale += remove_stale_shards(config.views_dir, manifest.shards)
    summary = write_run_summary(
        config.output,
        "features",
        started_at,
        {
            "prepare": round(prepared - started, 3),
            "pipeline": round(ran - prepared, 3),
            **stage_timings_s(result, "features"),
        },
        versions,
        config=config.numeric_config,
        config_hash=config.config_hash,
        models=config.model_weights,
        options=asdict(config),
        runner=runner_used(pipeline.runner, options),
        device=str(pick_device(config.device)) if config.uses_models else None,
        renderer=gl_renderer() if config.lifted else None,
        inputs=discovered.candidates,
        counts=manifest.counts,
        warnings=manifest.warnings,
        removed_stale_shards=stale,
        shards=manifest.shards,
        **{UNRESOLVED_NAMES: counter_total(result, UNRESOLVED_NAMES)},
    )
    counts = manifest.counts
    for line in manifest.lines:
        print(line)
    print(
        f"features: {counts['ok']} shapes written ({counts['with_warnings']} with warnings), "
        f"{counts['failed']} failed -> {config.features_dir} ({summary['timings_s']['total']} s)"
    )
    return 0 if counts["ok"] else 1
