"""The features pipeline: meshes -> Parquet shards of sampled, labelled points.

Graph::

    inputs (discovered up front, sorted, assigned to shards)
      -> Reshuffle -> LoadAndSample (source reader + surface sampling; failures tagged)
      -> ToShardRow -> GroupByKey(shard) -> WriteShardFile
      -> manifest (ok rows from the writer + failed rows) -> _manifest.parquet
    then run.json with config, versions, counts and timings.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import metadata, resources
from typing import Any

import apache_beam as beam
import polars as pl
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from featurizers.sampling import DEFAULT_NUM_POINTS, SurfaceSample, sample_shape
from featurizers.shapes import ShapeRecord
from pipelines.options import CommonOptions
from pipelines.sinks import (
    MANIFEST_FILE,
    ManifestEntry,
    WriteShardFile,
    remove_stale_shards,
    write_json,
    write_manifest,
)
from pipelines.sources import SOURCES, SourceInput
from schemas.features import SCHEMA_VERSION, Part, ShardRow, features_schema

LOGGER = logging.getLogger(__name__)

#: Featurizers this version can run (``none`` = sampling and labels only).
FEATURIZERS: tuple[str, ...] = ()
#: Bumped when sampling changes the numbers it produces (part of the config hash).
SAMPLER_VERSION = 1


class FeaturesOptions(PipelineOptions):
    """Options of ``--pipeline features``."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--source",
            choices=sorted(SOURCES),
            help="dataset format of --input (required with --input)",
        )
        parser.add_argument(
            "--input",
            help="folder, glob or list file of the source's inputs (local or gs://); "
            "default: the bundled samples of every source",
        )
        parser.add_argument(
            "--num-points",
            dest="num_points",
            type=int,
            default=DEFAULT_NUM_POINTS,
            help="surface points per shape (default %(default)s)",
        )
        parser.add_argument(
            "--featurizers",
            default="none",
            help="comma-separated featurizers to run, or 'none' (default); "
            f"available: {', '.join(FEATURIZERS) or 'none'}",
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="process only the first N inputs (sorted)"
        )
        parser.add_argument(
            "--shapes-per-shard",
            dest="shapes_per_shard",
            type=int,
            default=32,
            help="shapes per output shard file (default %(default)s)",
        )
        parser.add_argument(
            "--shapes-per-row-group",
            dest="shapes_per_row_group",
            type=int,
            default=4,
            help="shapes per Parquet row group (default %(default)s)",
        )


OPTIONS = FeaturesOptions


class ConfigError(ValueError):
    """Options that cannot run; the message says which and why."""


@dataclass(frozen=True)
class FeaturesConfig:
    """The validated configuration of one features run."""

    output: str
    inputs: tuple[tuple[str, str], ...]  # (source, location)
    num_points: int
    featurizers: tuple[str, ...]
    limit: int | None
    shapes_per_shard: int
    shapes_per_row_group: int

    @classmethod
    def from_options(cls, options: PipelineOptions) -> FeaturesConfig:
        own = options.view_as(FeaturesOptions)
        if own.input and not own.source:
            raise ConfigError("--input needs --source (one of: " + ", ".join(sorted(SOURCES)) + ")")
        if own.input:
            inputs = ((own.source, own.input),)
        else:
            samples = resources.files("pipelines") / "samples"
            inputs = tuple((name, str(samples / name)) for name in SOURCES)
        names = tuple(
            n for n in (s.strip() for s in own.featurizers.split(",")) if n and n != "none"
        )
        unknown = sorted(set(names) - set(FEATURIZERS))
        if unknown:
            raise ConfigError(
                f"--featurizers: unknown or unavailable {', '.join(unknown)} "
                f"(available: {', '.join(FEATURIZERS) or 'none'})"
            )
        for flag, value in (
            ("--num-points", own.num_points),
            ("--shapes-per-shard", own.shapes_per_shard),
            ("--shapes-per-row-group", own.shapes_per_row_group),
        ):
            if value < 1:
                raise ConfigError(f"{flag} must be at least 1, got {value}")
        if own.limit is not None and own.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {own.limit}")
        return cls(
            output=options.view_as(CommonOptions).output,
            inputs=inputs,
            num_points=own.num_points,
            featurizers=names,
            limit=own.limit,
            shapes_per_shard=own.shapes_per_shard,
            shapes_per_row_group=own.shapes_per_row_group,
        )

    @property
    def features_dir(self) -> str:
        return FileSystems.join(self.output, "features")

    def numeric_config(self) -> dict[str, Any]:
        """Every option that changes the numbers in a shard."""
        return {
            "num_points": self.num_points,
            "featurizers": sorted(self.featurizers),
            "sampler_version": SAMPLER_VERSION,
            "schema_version": SCHEMA_VERSION,
        }

    @property
    def config_hash(self) -> str:
        canonical = json.dumps(self.numeric_config(), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def discover_inputs(config: FeaturesConfig) -> list[SourceInput]:
    """All inputs of the run, sorted by shape id and cut to ``--limit``.

    Raises:
        ConfigError: an input location matches nothing.
    """
    found: list[SourceInput] = []
    for source_name, location in config.inputs:
        try:
            found.extend(SOURCES[source_name]().discover(location))
        except FileNotFoundError as exc:
            raise ConfigError(str(exc)) from exc
    found.sort()
    duplicates = sorted(
        {a.shape_id for a, b in itertools.pairwise(found) if a.shape_id == b.shape_id}
    )
    if duplicates:
        raise ConfigError(f"inputs share shape ids: {', '.join(duplicates[:5])}")
    return found[: config.limit]


@dataclass
class SampledShape:
    """A shape moving through the graph: its record, its sample and its shard."""

    shard: int
    source_input: SourceInput
    record: ShapeRecord
    sample: SurfaceSample


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and message."""
    message = " ".join(str(exc).split()) or repr(exc)
    return f"{type(exc).__name__}: {message}"


class LoadAndSample(beam.DoFn):
    """Reads one input with its source and samples its surface.

    Main output: ``SampledShape``; tagged output ``failed``: ``ManifestEntry`` rows.
    """

    FAILED = "failed"

    def __init__(self, num_points: int):
        self.num_points = num_points
        self.loaded = Metrics.counter("features", "shapes_sampled")
        self.failed = Metrics.counter("features", "shapes_failed")

    def process(self, element: tuple[int, SourceInput]) -> Iterator[Any]:
        shard, source_input = element
        source = SOURCES[source_input.shape_id.split("/", 1)[0]]()
        try:
            record = source.load(source_input)
            sample = sample_shape(record, self.num_points)
        except Exception as exc:  # any bad input becomes a failed manifest row
            reason = one_line(exc)
            LOGGER.warning("failed %s (%s): %s", source_input.shape_id, source_input.uri, reason)
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(
                self.FAILED,
                ManifestEntry(source_input.shape_id, source_input.uri, "failed", reason),
            )
            return
        self.loaded.inc()
        yield SampledShape(shard, source_input, record, sample)


def to_shard_row(shape: SampledShape, config_hash: str) -> tuple[int, tuple[str, ShardRow]]:
    """(shard, (uri, row)) for the shard writer."""
    record, sample = shape.record, shape.sample
    return shape.shard, (
        shape.source_input.uri,
        ShardRow(
            shape_id=record.shape_id,
            source=record.source,
            category_raw=record.category_raw,
            category=record.category_raw,
            mesh_sha256=record.mesh_sha256,
            config_hash=config_hash,
            center=sample.center,
            scale=sample.scale,
            points=sample.points,
            normals=sample.normals,
            face_index=sample.face_index,
            point_part=sample.point_part,
            parts=tuple(Part(name, name) for name in record.part_names),
        ),
    )


class FeaturesPipeline(beam.PTransform):
    """Inputs -> shard files and manifest entries (a PCollection of ``ManifestEntry``)."""

    def __init__(self, config: FeaturesConfig, inputs: list[SourceInput], run_metadata: dict):
        super().__init__()
        self.config = config
        self.inputs = inputs
        self.run_metadata = run_metadata

    @property
    def shard_count(self) -> int:
        return max(1, math.ceil(len(self.inputs) / self.config.shapes_per_shard))

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        config = self.config
        keyed = [(i // config.shapes_per_shard, item) for i, item in enumerate(self.inputs)]
        sampled = (
            pbegin
            | "Inputs" >> beam.Create(keyed)
            | "Distribute" >> beam.Reshuffle()
            | "LoadAndSample"
            >> beam.ParDo(LoadAndSample(config.num_points)).with_outputs(
                LoadAndSample.FAILED, main="ok"
            )
        )
        written = (
            sampled.ok
            | "ToShardRow" >> beam.Map(to_shard_row, config.config_hash)
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShards"
            >> beam.ParDo(
                WriteShardFile(
                    config.features_dir,
                    self.shard_count,
                    features_schema(run_metadata=self.run_metadata),
                    config.shapes_per_row_group,
                )
            )
        )
        return (written, sampled[LoadAndSample.FAILED]) | "Manifest" >> beam.Flatten()


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape the outputs."""
    found = {"python": platform.python_version()}
    for package in ("partbank", "apache-beam", "numpy", "pyarrow", "trimesh", "polars"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def run(options: PipelineOptions) -> int:
    """Run the features pipeline; returns 0 when at least one shape was written."""
    started = time.time()
    try:
        config = FeaturesConfig.from_options(options)
        inputs = discover_inputs(config)
    except ConfigError as exc:
        print(f"beam_runner.py --pipeline features: {exc}", file=sys.stderr)
        return 2
    LOGGER.info(
        "features: %d inputs from %s -> %s",
        len(inputs),
        ", ".join(f"{s}:{loc}" for s, loc in config.inputs),
        config.features_dir,
    )
    run_metadata = {
        "config": config.numeric_config(),
        "config_hash": config.config_hash,
        "versions": versions(),
    }

    with beam.Pipeline(options=options) as pipeline:
        _ = (
            pipeline
            | "Features" >> FeaturesPipeline(config, inputs, run_metadata)
            | "CollectManifest" >> beam.combiners.ToList()
            | "WriteManifest" >> beam.Map(write_manifest, config.features_dir)
        )

    manifest = pl.read_parquet(FileSystems.join(config.features_dir, MANIFEST_FILE))
    written_shards = manifest.filter(pl.col("status") == "ok")["shard"].unique().to_list()
    stale = remove_stale_shards(config.features_dir, written_shards)
    counts = dict(manifest.group_by("status").len().iter_rows())
    summary = {
        "pipeline": "features",
        **run_metadata,
        "options": asdict(config),
        "runner": options.view_as(StandardOptions).runner,
        "inputs": len(inputs),
        "counts": {status: counts.get(status, 0) for status in ("ok", "failed")},
        "shards": sorted(written_shards),
        "removed_stale_shards": stale,
        "seconds": round(time.time() - started, 3),
    }
    write_json(FileSystems.join(config.output, "run.json"), summary)
    failed = manifest.filter(pl.col("status") == "failed")
    for shape_id, error in failed.select("shape_id", "error").iter_rows():
        print(f"failed: {shape_id}: {error}")
    print(
        f"features: {summary['counts']['ok']} shapes written, {summary['counts']['failed']} failed "
        f"-> {config.features_dir} ({summary['seconds']} s)"
    )
    return 0 if summary["counts"]["ok"] else 1
