"""``--pipeline ontology``: dataset vocabularies -> one part ontology and an alias mapping log.

Graph (``ontology.unify`` does the work in plain Python; this module wires it into Beam)::

    vocabulary table -> Unify (one element: ontology.unify.unify) -> OntologyOutputs
      -> categories.parquet, parts.parquet, alias_log.jsonl, review.csv (OUT/ontology)

Why one element: describing, embedding and verifying need all names of a kind at once
(a fitted IDF, one LLM budget spent in a fixed order), and the Gemini requests inside
them already run ``--llm-workers`` at a time; the README's ontology section says more.
``unify``'s counts and timings travel as Beam metrics (so they survive any runner) into
``OUT/ontology_run.json``: config, versions, counts and timings. ``--output`` defaults
to ``output-ontology`` (``pipelines.registry``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter

import apache_beam as beam
import polars as pl
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from ontology.config import OntologyConfig, prepare
from ontology.gemini import MissingApiKeyError
from ontology.outputs import OntologyOutputs
from ontology.unify import unify
from pipelines.ontology_options import GEMINI_FLAGS, OntologyOptions
from pipelines.options import CommonOptions
from pipelines.run_info import iso_utc, package_versions, stage_timings_s, write_run_summary
from schemas.common import ModelUnavailableError
from schemas.ontology import ONTOLOGY_SCHEMA_VERSION, categories_schema, parts_schema

log = logging.getLogger(__name__)

METRICS = "partbank.ontology"
_VERSIONED_PACKAGES = (
    "apache-beam",
    "numpy",
    "pyarrow",
    "polars",
    "scikit-learn",
)
_MPNET_PACKAGES = ("sentence-transformers", "transformers", "torch")
_GEMINI_PACKAGES = ("google-genai",)


class WriteOntology(beam.PTransform):
    """``OntologyOutputs`` (one element) -> the files of ``OUT/ontology``."""

    def __init__(self, folder: str, config: OntologyConfig) -> None:
        super().__init__()
        self._folder = folder
        self._config = config

    def expand(self, outputs: beam.PCollection) -> None:
        spec = self._config.embedder
        schema_args = (spec.dimensions, spec.kind, spec.label)
        for name, table, schema in (
            ("categories", lambda o: o.categories, categories_schema(*schema_args)),
            ("parts", lambda o: o.parts, parts_schema(*schema_args)),
        ):
            _ = (
                outputs
                | f"{name.title()}Table" >> beam.Map(table)
                | f"Write{name.title()}"
                >> beam.io.WriteToParquetBatched(
                    f"{self._folder}/{name}.parquet",
                    schema=schema,
                    codec="zstd",
                    num_shards=1,
                    shard_name_template="",
                )
            )
        for name, text in (
            ("alias_log.jsonl", OntologyOutputs.alias_log_text),
            ("review.csv", OntologyOutputs.review_csv_text),
        ):
            _ = (
                outputs
                | f"Render {name}" >> beam.Map(text)
                | f"Write {name}"
                >> beam.io.WriteToText(
                    f"{self._folder}/{name}", num_shards=1, shard_name_template=""
                )
            )


def build_pipeline(
    pipeline: beam.Pipeline, config: OntologyConfig, vocabulary: pl.DataFrame, folder: str, at: str
) -> None:
    """Add the ontology graph for ``vocabulary`` (a vocabulary table) to ``pipeline``."""
    _ = (
        pipeline
        | "Vocabulary" >> beam.Create([vocabulary])
        | "Unify" >> beam.Map(_unify, config, at)
        | "WriteOntology" >> WriteOntology(folder, config)
    )


def run(options: PipelineOptions) -> int:
    """Run the ontology pipeline; 0 on success, 2 when the inputs or models are unusable."""
    started = time.time()
    at = iso_utc(started)
    flags = options.view_as(OntologyOptions)
    output = options.view_as(CommonOptions).output.rstrip("/")
    try:
        config, vocabulary = _prepare(flags, output)
    except (ValueError, ModelUnavailableError, MissingApiKeyError) as error:
        print(f"beam_runner.py --pipeline ontology: {error}", file=sys.stderr)
        return 2
    folder = f"{output}/ontology"
    log.info(
        "ontology: %d vocabulary rows, embedder %s, describer %s, verifier %s -> %s",
        vocabulary.height,
        config.embedder.kind,
        config.describer,
        config.verifier,
        folder,
    )
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, config, vocabulary, folder, at)
    result = pipeline.run()
    result.wait_until_finish()
    counts = _counts(result)
    summary = write_run_summary(
        output,
        "ontology",
        started,
        stage_timings_s(result, METRICS),
        _versions(config),
        schema_version=ONTOLOGY_SCHEMA_VERSION,
        config={**config.summary(), "output": output},
        counts=counts,
    )
    seconds = summary["timings_s"]["total"]
    log.info("ontology: %s in %.1f s -> %s", _summary_line(counts), seconds, folder)
    return 0


def _prepare(flags: OntologyOptions, output: str) -> tuple[OntologyConfig, pl.DataFrame]:
    gemini = GEMINI_FLAGS.settings(flags)
    return prepare(
        flags.vocab or [],
        embedder=flags.embedder,
        embedder_model=flags.embedder_model,
        describer=flags.describer,
        verifier=flags.verifier,
        gemini=gemini,
        overrides_path=flags.overrides,
        threshold=flags.threshold,
        max_group_size=flags.max_group_size,
        max_llm_calls=flags.max_llm_calls,
        cache_dir=flags.cache_dir or f"{output}/cache",
    )


def _unify(vocabulary: pl.DataFrame, config: OntologyConfig, at: str) -> OntologyOutputs:
    """``unify``, its counts and timings reported as metrics (``{stage}_ms``)."""
    unified = unify(vocabulary, config, at)
    for name, count in unified.counts.items():
        Metrics.counter(METRICS, name).inc(count)
    for stage, seconds in unified.timings_s.items():
        Metrics.distribution(METRICS, f"{stage}_ms").update(round(1000 * seconds))
    return unified.outputs


def _counts(result: beam.runners.runner.PipelineResult) -> dict[str, int]:
    """The run's counters, summed over steps, sorted by name."""
    counts: Counter[str] = Counter()
    for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS))["counters"]:
        counts[counter.key.metric.name] += counter.committed
    return dict(sorted(counts.items()))


def _summary_line(counts: dict[str, int]) -> str:
    names = ("categories", "parts", "merges", "rejections", "review_items", "llm_calls")
    line = ", ".join(f"{counts.get(name, 0)} {name.replace('_', ' ')}" for name in names)
    entities = counts.get("category_entities", 0) + counts.get("part_entities", 0)
    pairs = counts.get("category_candidates", 0) + counts.get("part_candidates", 0)
    per_entity = 2 * pairs / entities if entities else 0.0
    return f"{line}, {per_entity:.2f} candidates per name"


def _versions(config: OntologyConfig) -> dict[str, str | None]:
    packages = list(_VERSIONED_PACKAGES)
    if config.embedder.kind == "mpnet":
        packages += _MPNET_PACKAGES
    if config.uses_gemini:
        packages += _GEMINI_PACKAGES
    return package_versions(packages)
