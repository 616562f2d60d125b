"""The features pipeline: meshes -> Parquet shards of sampled, labelled, featurized points.

Graph (the job graph holds the input locations, never the inputs)::

    Discover: (source, location) -> inputs, listed by workers  [-> the --limit first]
    Output folder -> its shard files -> CachedRows (shape id, input hash, config hash)
    CoGroupByKey(shape id) -> Plan (hash the input's files; pipelines.incremental):
      cached and whole shards   -> skipped_cached manifest rows
      cached rows in a shard that also holds unwanted rows -> ReadMoved -> WriteMoved
      the rest -> AssignShards (~N per new shard, by a hash of the id; tasks are grouped,
               never rows) -> LoadAndSample -> Featurize (render, locate, per-shape steps)
               -> per featurizer with a model: RunInference -> Attach
               -> CountDone -> ToShardRow -> WriteShards (each shard as soon as its rows
               are in: memory holds a few shards, whatever the corpus)
    manifest (one row per input) -> Commit (pipelines.commit): the next version of the
    table, cleanup of unreferenced files, OUT/features_run.json.

The Count* steps feed the progress counters and log lines (``pipelines.progress``).

The launcher checks flags, weights and input locations before any work (usage errors
exit 2), submits, and waits only on local runners (``--wait``/``--no-wait``).
Torch, the featurizers' models and the sources are imported only when a run starts (the
registry itself is light), so usage errors answer quickly.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from functools import partial

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions
from apache_beam.runners.runner import PipelineResult

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
)
from pipelines.sinks import write_json
from schemas.common import ModelUnavailableError

LOGGER = logging.getLogger(__name__)

#: Runners that run the job inside the launcher (it must wait for them).
LOCAL_RUNNERS = ("DirectRunner", "FnApiRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")

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


@dataclass(frozen=True)
class ModelStages:
    """How the model stages run: speed and placement only, so not in the config hash.

    Attributes:
        batch_size: shapes per forward pass (``--model-batch-size``); None: 8 when the
            models run on a GPU, else 1.
        min_ram: Beam ``min_ram`` hint on the model stages (``--model-min-ram``), or None.
    """

    batch_size: int | None = None
    min_ram: str | None = None

    @classmethod
    def from_options(cls, options: PipelineOptions) -> ModelStages:
        own = options.view_as(FeaturesOptions)
        return cls(own.model_batch_size, own.model_min_ram)

    def batch_size_for(self, config: FeaturesConfig) -> int:
        """``batch_size``, else 8 on a GPU (``--device cuda``, a ``--model-accelerator``
        hint, or ``auto`` where the launcher sees one), else 1."""
        if self.batch_size is not None:
            return self.batch_size
        on_gpu = config.model_accelerator is not None or pick_device(config.device).type == "cuda"
        return 8 if on_gpu else 1


class FeaturesPipeline(beam.PTransform):
    """The run's locations -> shard files; returns the manifest entries (a PCollection of
    ``ManifestEntry``, one per input) for ``CommitRun``."""

    def __init__(
        self,
        config: FeaturesConfig,
        run_metadata: dict,
        progress: ProgressSettings | None = None,
        models: ModelStages | None = None,
    ):
        super().__init__()
        self.config = config
        self.run_metadata = run_metadata
        self.progress = progress or ProgressSettings(f"{time.time():.6f}")
        self.models = models or ModelStages()

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        from featurizers.cameras import orbit_rig
        from featurizers.catalog import FEATURIZERS, requested
        from featurizers.contract import feature_columns
        from pipelines.featurize import Featurize, ModelFeatures, RenderSettings
        from pipelines.incremental import (
            MOVE,
            USES,
            AssignShards,
            MoveRows,
            PlanShape,
            ReadCachedRows,
            list_shard_files,
            resolve_shard,
        )
        from pipelines.sinks import WriteShards
        from pipelines.sources.discovery import DiscoverAll
        from pipelines.stages import FAILED, GuardedStep, ToShardRow, load_and_sample
        from schemas.features import features_schema, shard_table

        config = self.config
        specs = tuple(requested(config.featurizers))
        columns = feature_columns(list(FEATURIZERS.values()), config.featurizers, config)
        schema = features_schema(
            [(column.name, column.arrow_type) for column in columns], self.run_metadata
        )

        def write_shards() -> WriteShards:
            return WriteShards(
                config.features_dir,
                config.views_dir,
                schema,
                partial(shard_table, schema=schema),
                config.shapes_per_row_group,
                config.config_hash,
            )

        inputs, unlisted = pbegin | "Discover" >> DiscoverAll(config.inputs, config.limit)
        total = beam.pvalue.AsSingleton(inputs | "CountInputs" >> beam.combiners.Count.Globally())

        def counted(outcome: str) -> beam.Map:
            return beam.Map(count_progress, self.progress, outcome, total)

        cached = (
            pbegin
            | "Output" >> beam.Create([config.features_dir])
            | "ShardFiles" >> beam.FlatMap(list_shard_files)
            | "SpreadShardFiles" >> beam.Reshuffle()
            | "CachedRows" >> beam.ParDo(ReadCachedRows(config.features_dir, config.views_dir))
        )
        planned = (
            {"inputs": inputs | "ById" >> beam.Map(lambda i: (i.shape_id, i)), "cached": cached}
            | "MeetCache" >> beam.CoGroupByKey()
            | "Plan"
            >> beam.ParDo(PlanShape(config.config_hash, config.emit_views)).with_outputs(
                USES, FAILED, main="todo"
            )
        )
        resolved = (
            planned[USES]
            | "ByShard" >> beam.GroupByKey()
            | "Resolve" >> beam.FlatMap(resolve_shard).with_outputs(MOVE, main="kept")
        )
        moved = resolved[MOVE] | "ReadMoved" >> beam.ParDo(
            MoveRows(config.features_dir, config.views_dir)
        ).with_outputs(FAILED, main="items")
        rewritten = (
            moved.items
            | "CountMoved" >> counted("skipped")
            | "WriteMoved" >> beam.ParDo(write_shards())
        )
        sampled = (
            planned.todo
            | "AssignShards" >> AssignShards(config.shapes_per_shard)
            | "LoadAndSample"
            >> beam.ParDo(
                GuardedStep("load", partial(load_and_sample, num_points=config.num_points))
            ).with_outputs(FAILED, main="ok")
        )
        render = None
        if any(spec.lifted for spec in specs):
            rig = orbit_rig(config.views, config.image_size)
            render = RenderSettings(rig, config.device, config.emit_views)
        shapes, failed = sampled.ok | "Featurize" >> Featurize(
            specs, config, render, self.progress.processes
        )
        failures = [sampled[FAILED], failed, planned[FAILED], moved[FAILED]]
        for spec in specs:
            if spec.model is not None:
                stage = ModelFeatures(
                    spec, config, self.models.batch_size_for(config), config.model_accelerator
                )
                if self.models.min_ram:
                    stage = stage.with_resource_hints(min_ram=self.models.min_ram)
                shapes, failed = shapes | spec.name >> stage
                failures.append(failed)
        written = (
            shapes
            | "CountDone" >> counted("done")
            | "ToShardRow" >> beam.ParDo(ToShardRow(config.config_hash, config.ontology))
            | "WriteShards" >> beam.ParDo(write_shards())
        )
        kept = resolved.kept | "CountKept" >> counted("skipped")
        failed = failures | "Failures" >> beam.Flatten() | "CountFailed" >> counted("failed")
        return (written, rewritten, kept, failed, unlisted) | "Manifest" >> beam.Flatten()


class FeaturesRun(beam.PTransform):
    """The whole features job: ``FeaturesPipeline``, then ``CommitRun`` (the next version
    of the table, cleanup, ``features_run.json``). Returns the committed version (a
    one-element PCollection: the version, or None when nothing was committed).

    Args:
        config: the run's config, weights located.
        runner: what runs it (``run_info.runner_used``), for the run file.
        started_at: the launcher's start, seconds since the epoch (default: now).
        progress: how to report progress.
        models: how the model stages run (default: ``ModelStages()``).
    """

    def __init__(
        self,
        config: FeaturesConfig,
        runner: dict | None = None,
        started_at: float | None = None,
        progress: ProgressSettings | None = None,
        models: ModelStages | None = None,
    ):
        super().__init__()
        self.models = models
        self.config = config
        self.runner = runner
        self.started_at = time.time() if started_at is None else started_at
        self.progress = progress or ProgressSettings(f"{self.started_at:.6f}")

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        from pipelines.commit import CommitRun

        config = self.config
        versions = package_versions(VERSIONED_PACKAGES)
        run_metadata = {
            "config": config.numeric_config,
            "config_hash": config.config_hash,
            "models": config.model_weights,
            "versions": versions,
        }
        facts = {
            **run_metadata,
            "options": asdict(config),
            "runner": self.runner or {"name": "unknown"},
        }
        committed = {
            "config_hash": config.config_hash,
            "models": config.model_weights,
            "started_at": self.started_at,
        }
        return (
            pbegin
            | "Shapes" >> FeaturesPipeline(config, run_metadata, self.progress, self.models)
            | "CollectManifest" >> beam.combiners.ToList()
            | "Commit"
            >> beam.ParDo(
                CommitRun(
                    config.output,
                    config.features_dir,
                    config.views_dir,
                    self.started_at,
                    facts,
                    committed,
                    partial(describe_device, config),
                )
            )
        )


def waits(options: PipelineOptions) -> bool:
    """Whether the launcher waits for the job: ``--wait``/``--no-wait`` when given, else
    on local runners only (the direct runner, and a portable runner whose job service
    runs inside the launcher: ``--job_endpoint embed``)."""
    chosen = options.view_as(FeaturesOptions).wait
    if chosen is not None:
        return chosen
    runner = (options.view_as(StandardOptions).runner or "DirectRunner").split(".")[-1]
    if runner in LOCAL_RUNNERS:
        return True
    return runner == "PortableRunner" and options.view_as(PortableOptions).job_endpoint == "embed"


def describe_device(config: FeaturesConfig) -> dict:
    """Where a worker runs the models and renders: ``device`` and ``renderer`` (None when
    the run uses neither)."""
    from featurizers.rendering import gl_renderer

    return {
        "device": str(pick_device(config.device)) if config.uses_models else None,
        "renderer": gl_renderer() if config.lifted else None,
    }


def run(options: PipelineOptions, progress_interval_s: float = 10.0) -> int:
    """Run the features pipeline.

    Returns:
        2 on a usage error (before any work); without waiting, 0 once submitted;
        waiting, 0 when the committed version holds at least one shape, else 1.

    Every worker process logs a progress line at most every ``progress_interval_s``.
    """
    started_at, started = time.time(), time.monotonic()
    try:
        from pipelines.sources.discovery import check_location

        config = config_from_options(options).with_weights()
        for source, location in config.inputs:
            check_location(source, location)
    except (ConfigError, ModelUnavailableError) as exc:
        print(f"beam_runner.py --pipeline features: {exc}", file=sys.stderr)
        return 2
    LOGGER.info(
        "features: %s -> %s (featurizers: %s)",
        escape_invalid_text(", ".join(f"{s}:{loc}" for s, loc in config.inputs)),
        config.features_dir,
        ", ".join(config.featurizers) or "none",
    )
    if config.random_init:
        LOGGER.warning("features: --models random-init: features come from RANDOM weights")
    pipeline = beam.Pipeline(options=options)
    progress = ProgressSettings(
        f"{started_at:.6f}", interval_s=progress_interval_s, processes=worker_processes(options)
    )
    _ = pipeline | "Features" >> FeaturesRun(
        config,
        runner_used(pipeline.runner, options),
        started_at,
        progress,
        ModelStages.from_options(options),
    )
    result = pipeline.run()
    if not waits(options):
        print(
            f"features: submitted ({type(pipeline.runner).__name__}); when the job finishes it "
            f"commits the next version of {config.features_dir} and writes "
            f"{FileSystems.join(config.output, RUN_FILE)}"
        )
        return 0
    result.wait_until_finish()
    return report(result, config, time.monotonic() - started)


def report(result: PipelineResult, config: FeaturesConfig, wall_s: float) -> int:
    """After a waited-for run: add the Beam metrics (stage timings, unresolved names) to the
    run file the pipeline wrote, print its problems and a summary line; the exit code."""
    from pipelines.stages import UNRESOLVED_NAMES

    path = FileSystems.join(config.output, RUN_FILE)
    with FileSystems.open(path) as handle:
        summary = json.load(handle)
    summary["timings_s"] = {
        **summary["timings_s"],
        **stage_timings_s(result, "features"),
        "total": round(wall_s, 3),
    }
    summary[UNRESOLVED_NAMES] = counter_total(result, UNRESOLVED_NAMES)
    write_json(path, summary)
    for line in summary["problems"]:
        print(line)
    counts = summary["counts"]
    version = summary["version"]
    committed = (
        f"version {version} of {config.features_dir}"
        if version is not None
        else f"nothing committed to {config.features_dir}"
    )
    print(
        f"features: {counts['ok']} shapes written, {counts['skipped_cached']} reused "
        f"({counts['with_warnings']} with warnings), {counts['failed']} failed -> "
        f"{committed} ({summary['timings_s']['total']} s)"
    )
    return 0 if counts["ok"] + counts["skipped_cached"] else 1
