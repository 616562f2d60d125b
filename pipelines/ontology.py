"""``--pipeline ontology``: dataset vocabularies -> one part ontology and an alias mapping log.

Graph (``ontology/`` does the work; this module wires it into Beam)::

    vocabulary table
      -> category names -> UnifyNames(categories) -> category of each raw category
      -> part names per unified category -> UnifyNames(parts)
      -> WriteOntology: categories.parquet, parts.parquet, alias_log.jsonl, review.csv

    UnifyNames: describe (global, LLM budget) -> embed (global: TF-IDF is fitted on all
    names) -> per scope: candidates (faiss) -> verify (global, LLM budget) -> per scope:
    grouping and canonical names.

The LLM stages gather their inputs so that one budget (``--max-llm-calls``) is spent
in a deterministic order; the number of calls made so far flows between them as a
singleton side input. ``OUT/ontology_run.json`` records config, versions, counts and
timings. ``--output`` defaults to ``output-ontology`` (``pipelines.registry``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
import polars as pl
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pvalue import AsSingleton

from ontology.candidates import scope_candidates
from ontology.config import DESCRIBERS, EMBEDDERS, VERIFIERS, OntologyConfig, prepare
from ontology.embed import DEFAULT_MPNET_MODEL, EmbedderSpec, ModelUnavailableError, entity_text
from ontology.entities import (
    CATEGORY,
    CATEGORY_SCOPE,
    PART,
    Entity,
    category_entities,
    part_entities,
)
from ontology.gemini import DEFAULT_MODEL, GeminiSettings, MissingApiKeyError
from ontology.outputs import OntologyOutputs, build_outputs
from ontology.overrides import Override
from ontology.resolve import ResolvedScope, resolve_scope
from ontology.verdicts import Judged, utc_now
from ontology.verify import judge
from pipelines.options import CommonOptions
from pipelines.run_info import package_versions
from pipelines.sinks import write_json
from schemas.ontology import ONTOLOGY_SCHEMA_VERSION, categories_schema, parts_schema

log = logging.getLogger(__name__)

METRICS = "partbank.ontology"
_VERSIONED_PACKAGES = (
    "apache-beam",
    "numpy",
    "pyarrow",
    "polars",
    "faiss-cpu",
    "faiss-gpu",
    "scikit-learn",
)
#: The run summary's name inside ``--output``.
RUN_FILE = "ontology_run.json"
_MPNET_PACKAGES = ("sentence-transformers", "transformers", "torch")
_GEMINI_PACKAGES = ("google-genai",)

ScopeOverrides = dict[str, dict[tuple[str, str], Override]]


class OntologyOptions(PipelineOptions):
    """Flags of the ontology pipeline."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--vocab",
            action="append",
            default=None,
            metavar="NAME[=PATH]",
            help="a vocabulary to unify (repeatable): partnet (the bundled PartNet label "
            "lists) or partnet=DIR (<Cat>.txt label lists), 3dcompat (the bundled "
            "3DCoMPaT++ metadata) or 3dcompat=DIR, find3d=DIR (label_map.json folders), "
            "generic=FILE.csv (dataset,category,part[,path,count]), shards=DIR (the raw part "
            "names of a features pipeline output)",
        )
        parser.add_argument(
            "--embedder", choices=EMBEDDERS, default="mpnet", help="text embedder (default mpnet)"
        )
        parser.add_argument(
            "--embedder-model",
            default=DEFAULT_MPNET_MODEL,
            help="SentenceTransformer hub id or local folder for --embedder mpnet "
            f"(default {DEFAULT_MPNET_MODEL})",
        )
        parser.add_argument(
            "--describer",
            choices=DESCRIBERS,
            default="gemini",
            help="who writes descriptions: gemini, or template (offline); default gemini",
        )
        parser.add_argument(
            "--verifier",
            choices=VERIFIERS,
            default="gemini",
            help="who decides what rules leave open: gemini, or rules (offline: left to "
            "review); default gemini",
        )
        parser.add_argument(
            "--overrides", default=None, metavar="FILE.csv", help="a person's decisions on pairs"
        )
        parser.add_argument(
            "--threshold",
            type=float,
            default=0.8,
            help="minimum cosine similarity of a candidate pair (default 0.8)",
        )
        parser.add_argument(
            "--max-group-size",
            type=int,
            default=8,
            help="largest group merged without review (default 8)",
        )
        parser.add_argument(
            "--max-llm-calls",
            type=int,
            default=None,
            metavar="N",
            help="most Gemini HTTP requests the run sends, retries included (default: unlimited)",
        )
        parser.add_argument(
            "--gemini-model", default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}"
        )
        parser.add_argument(
            "--gemini-base-url", default=None, help="Gemini API endpoint (a proxy, or a test fake)"
        )
        parser.add_argument(
            "--gemini-timeout",
            type=float,
            default=GeminiSettings.timeout_s,
            help=f"seconds per request (default {GeminiSettings.timeout_s:g})",
        )
        parser.add_argument(
            "--gemini-attempts",
            type=int,
            default=GeminiSettings.http_attempts,
            help="tries per request on 429/5xx/timeouts, with exponential backoff; each try "
            f"counts against --max-llm-calls (default {GeminiSettings.http_attempts})",
        )
        parser.add_argument(
            "--llm-batch-size",
            type=int,
            default=GeminiSettings.batch_size,
            help=f"names or pairs per Gemini request (default {GeminiSettings.batch_size})",
        )
        parser.add_argument(
            "--llm-workers",
            type=int,
            default=GeminiSettings.workers,
            help=f"Gemini requests in flight at once (default {GeminiSettings.workers})",
        )
        parser.add_argument(
            "--cache-dir",
            default=None,
            help="description and verdict cache (default OUTPUT/cache); keep it to make "
            "reruns free",
        )


OPTIONS = OntologyOptions


@dataclass(frozen=True)
class StageResult:
    """What an LLM stage hands on: its items, and the LLM calls made so far in the run."""

    items: list[Any]
    calls: int


class DescribeNames(beam.DoFn):
    """All names of one kind -> the same names with descriptions."""

    def __init__(self, config: OntologyConfig, kind: str) -> None:
        self._config = config
        self._kind = kind

    def setup(self) -> None:
        self._describer = self._config.make_describer()

    def process(self, entities: list[Entity], calls_before: int) -> Iterator[StageResult]:
        started = time.monotonic()
        budget = self._config.budget(calls_before)
        described = self._describer.describe(sorted(entities, key=_entity_order), budget)
        _record_stage(self._kind, "describe", started, budget.used)
        yield StageResult(described, calls_before + budget.used)


class EmbedNames(beam.DoFn):
    """All described names of one kind -> ``(scope, (entity, (d,) vector))`` per name."""

    def __init__(self, config: OntologyConfig, kind: str) -> None:
        self._config = config
        self._kind = kind

    def setup(self) -> None:
        self._embedder = self._config.embedder.build()

    def process(self, described: StageResult) -> Iterator[tuple[str, tuple[Entity, np.ndarray]]]:
        started = time.monotonic()
        vectors = self._embedder.embed([entity_text(entity) for entity in described.items])
        _record_stage(self._kind, "embed", started)
        for entity, vector in zip(described.items, vectors, strict=True):
            yield entity.scope, (entity, vector)


class VerifyCandidates(beam.DoFn):
    """All candidate pairs of one kind -> a ``StageResult`` of ``Judged`` pairs."""

    def __init__(self, config: OntologyConfig, kind: str, at: str) -> None:
        self._config = config
        self._kind = kind
        self._at = at

    def setup(self) -> None:
        self._verifier = self._config.make_verifier()

    def process(
        self, candidates: list, calls_before: int, overrides: ScopeOverrides
    ) -> Iterator[StageResult]:
        started = time.monotonic()
        budget = self._config.budget(calls_before)
        ordered = sorted(candidates, key=lambda c: (c.scope, -round(c.similarity, 6), c.names))
        judged = judge(ordered, overrides, self._verifier, budget, self._at)
        _record_stage(self._kind, "verify", started, budget.used)
        decisions = Counter((j.verdict.verifier, j.verdict.decision) for j in judged)
        for (verifier, decision), count in decisions.items():
            Metrics.counter(METRICS, f"{self._kind}_verdicts_{verifier}_{decision}").inc(count)
        yield StageResult(judged, calls_before + budget.used)


class UnifyNames(beam.PTransform):
    """(names, LLM calls so far, overrides by scope) -> resolved scopes and LLM calls after.

    Input: a tuple of PCollections: ``Entity`` of one kind; a singleton count of the LLM
    calls already made; a singleton ``{scope: {name pair: Override}}``.
    Output: ``{"resolved": ResolvedScope per scope, "calls": singleton count}``.
    """

    def __init__(self, config: OntologyConfig, kind: str, at: str) -> None:
        super().__init__()
        self._config = config
        self._kind = kind
        self._at = at

    def expand(self, inputs: tuple) -> dict[str, beam.PCollection]:
        names, calls_before, overrides = inputs
        config, kind = self._config, self._kind
        described = (
            names
            | "GatherNames" >> beam.combiners.ToList()
            | "Describe" >> beam.ParDo(DescribeNames(config, kind), AsSingleton(calls_before))
        )
        scoped = (
            described
            | "Embed" >> beam.ParDo(EmbedNames(config, kind))
            | "GroupByScope" >> beam.GroupByKey()
            | "SortByName" >> beam.MapTuple(lambda scope, items: (scope, _by_name(items)))
        )
        calls_after_describe = described | "CallsAfterDescribe" >> beam.Map(_calls)
        verified = (
            scoped
            | "FindCandidates"
            >> beam.FlatMap(_candidates, config.threshold, AsSingleton(overrides))
            | "GatherCandidates" >> beam.combiners.ToList()
            | "Verify"
            >> beam.ParDo(
                VerifyCandidates(config, kind, self._at),
                AsSingleton(calls_after_describe),
                AsSingleton(overrides),
            )
        )
        judged = verified | "ByScope" >> beam.FlatMap(
            lambda result: ((j.candidate.scope, j) for j in result.items)
        )
        resolved = (
            {"names": scoped, "judged": judged}
            | "JoinVerdicts" >> beam.CoGroupByKey()
            | "GroupAndName" >> beam.Map(_resolve, kind, config.max_group_size)
        )
        return {
            "resolved": resolved,
            "calls": verified | "CallsAfterVerify" >> beam.Map(_calls),
        }


class WriteOntology(beam.PTransform):
    """(category scope, part scopes) -> the files of ``OUT/ontology``."""

    def __init__(self, folder: str, config: OntologyConfig, at: str) -> None:
        super().__init__()
        self._folder = folder
        self._config = config
        self._at = at

    def expand(self, inputs: tuple) -> None:
        categories, parts = inputs
        spec = self._config.embedder
        outputs = (
            parts
            | "GatherParts" >> beam.combiners.ToList()
            | "Build" >> beam.Map(_build_outputs, AsSingleton(categories), spec, self._at)
        )
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
    table = pipeline | "Vocabulary" >> beam.Create([vocabulary])
    categories = (
        table | "CategoryNames" >> beam.FlatMap(category_entities),
        pipeline | "NoLlmCallsYet" >> beam.Create([0]),
        pipeline
        | "CategoryOverrides"
        >> beam.Create([{CATEGORY_SCOPE: config.overrides.for_scope(CATEGORY)}]),
    ) | "UnifyCategories" >> UnifyNames(config, CATEGORY, at)
    category_of = categories["resolved"] | "CategoryOf" >> beam.Map(ResolvedScope.canonical_of)
    parts = (
        table | "PartNames" >> beam.FlatMap(part_entities, AsSingleton(category_of)),
        categories["calls"],
        category_of | "PartOverrides" >> beam.Map(_part_overrides, config),
    ) | "UnifyParts" >> UnifyNames(config, PART, at)
    _ = (categories["resolved"], parts["resolved"]) | "WriteOntology" >> WriteOntology(
        folder, config, at
    )


def run(options: PipelineOptions) -> int:
    """Run the ontology pipeline; 0 on success, 2 when the inputs or models are unusable."""
    started, at = time.monotonic(), utc_now()
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
    seconds = time.monotonic() - started
    counts, timings = _metrics(result)
    write_json(
        f"{output}/{RUN_FILE}",
        {
            "pipeline": "ontology",
            "schema_version": ONTOLOGY_SCHEMA_VERSION,
            "started_at": at,
            "finished_at": utc_now(),
            "config": {**config.summary(), "output": output},
            "versions": _versions(config),
            "counts": counts,
            "timings_s": {"total": round(seconds, 3), **timings},
        },
    )
    log.info("ontology: %s in %.1f s -> %s", _summary_line(counts), seconds, folder)
    return 0


def _prepare(flags: OntologyOptions, output: str) -> tuple[OntologyConfig, pl.DataFrame]:
    gemini = GeminiSettings(
        model=flags.gemini_model,
        base_url=flags.gemini_base_url,
        timeout_s=flags.gemini_timeout,
        http_attempts=flags.gemini_attempts,
        batch_size=flags.llm_batch_size,
        workers=flags.llm_workers,
    )
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


def _calls(result: StageResult) -> int:
    return result.calls


def _entity_order(entity: Entity) -> tuple[str, str]:
    return entity.scope, entity.name


def _by_name(items: Iterable[tuple[Entity, np.ndarray]]) -> list[tuple[Entity, np.ndarray]]:
    return sorted(items, key=lambda item: item[0].name)


def _candidates(
    scoped: tuple[str, list[tuple[Entity, np.ndarray]]],
    threshold: float,
    overrides: ScopeOverrides,
) -> list:
    scope, items = scoped
    entities = [entity for entity, _ in items]
    vectors = np.stack([vector for _, vector in items])
    forced = overrides.get(scope, {}).keys()
    found = scope_candidates(entities, vectors, threshold, forced)
    Metrics.counter(METRICS, f"{entities[0].kind}_candidates").inc(len(found))
    return found


def _resolve(scoped: tuple[str, dict[str, list]], kind: str, max_group_size: int) -> ResolvedScope:
    scope, joined = scoped
    (items,) = joined["names"]
    judged: list[Judged] = sorted(
        joined["judged"], key=lambda j: (-round(j.candidate.similarity, 6), j.candidate.names)
    )
    entities = [entity for entity, _ in items]
    vectors = np.stack([vector for _, vector in items])
    return resolve_scope(kind, scope, entities, vectors, judged, max_group_size)


def _part_overrides(category_of: dict[str, str], config: OntologyConfig) -> ScopeOverrides:
    """A person's part decisions by canonical category (rows may use any spelling of it)."""
    spellings: dict[str, set[str]] = {}
    for raw, canonical in category_of.items():
        spellings.setdefault(canonical, {canonical}).add(raw)
    return {
        canonical: config.overrides.for_scope(PART, names) for canonical, names in spellings.items()
    }


def _build_outputs(
    parts: list[ResolvedScope],
    categories: ResolvedScope,
    embedder: EmbedderSpec,
    at: str,
) -> OntologyOutputs:
    outputs = build_outputs(categories, parts, embedder, at)
    for name, count in outputs.counts().items():
        Metrics.counter(METRICS, name).inc(count)
    return outputs


def _record_stage(kind: str, stage: str, started: float, llm_calls: int | None = None) -> None:
    Metrics.distribution(METRICS, f"{kind}_{stage}_ms").update(
        int(1000 * (time.monotonic() - started))
    )
    if llm_calls is not None:
        Metrics.counter(METRICS, "llm_calls").inc(llm_calls)


def _metrics(result: beam.runners.runner.PipelineResult) -> tuple[dict[str, int], dict[str, float]]:
    """Counters (summed over steps) and stage timings in seconds, from Beam's metrics."""
    query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(METRICS))
    counts: Counter[str] = Counter()
    for counter in query["counters"]:
        counts[counter.key.metric.name] += counter.committed
    timings = {
        d.key.metric.name.removesuffix("_ms"): round(d.committed.sum / 1000, 3)
        for d in query["distributions"]
    }
    return dict(sorted(counts.items())), dict(sorted(timings.items()))


def _summary_line(counts: dict[str, int]) -> str:
    names = ("categories", "parts", "merges", "rejections", "review_items", "llm_calls")
    return ", ".join(f"{counts.get(name, 0)} {name.replace('_', ' ')}" for name in names)


def _versions(config: OntologyConfig) -> dict[str, str | None]:
    packages = list(_VERSIONED_PACKAGES)
    if config.embedder.kind == "mpnet":
        packages += _MPNET_PACKAGES
    if config.uses_gemini:
        packages += _GEMINI_PACKAGES
    return package_versions(packages)
