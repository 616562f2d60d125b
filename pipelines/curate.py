"""``--pipeline curate``: a listing of web assets -> which of them to featurize, and why.

Graph (``pipelines.curate_steps`` does the work in plain Python)::

    listing file -> its rows (read on a worker) -> CheckAssets (per row: hashes, mesh
      read, cheap checks; a previous run's results reused by row_key) -> all rows as
      one element -> Decide (duplicates, Gemini over thumbnail + metadata in batches,
      decisions)
      -> OUT/selection.parquet, OUT/selected.csv (path,category), OUT/curate_run.json

Deciding is one element for the reasons the ontology's unifying is: duplicates need every
row, and one ``--judge-max-calls`` budget is spent in listing order, ``--judge-workers``
requests at a time. ``--output`` defaults to ``output-curate`` (``pipelines.registry``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from dataclasses import asdict

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from featurizers.curation import CheckLimits
from featurizers.listing import ListingError, ListingRow, read_listing
from ontology.gemini import MissingApiKeyError, api_key_from_environment
from pipelines.curate_options import JUDGE_FLAGS, CurateOptions
from pipelines.curate_steps import (
    AssetCheck,
    JudgeSetup,
    Selection,
    check_asset,
    decide,
    limits_key,
    previous_checks,
)
from pipelines.options import CommonOptions
from pipelines.run_info import package_versions, stage_timings_s, write_run_summary
from pipelines.sources.base import SourceError, read_file
from schemas.curation import SELECTION_SCHEMA
from schemas.locations import Location

log = logging.getLogger(__name__)

METRICS = "partbank.curate"
SELECTION_FILE = "selection.parquet"
SELECTED_FILE = "selected.csv"
NO_KEY = "checks (no Gemini API key: set GEMINI_API_KEY for the Gemini judge)"
_VERSIONED_PACKAGES = ("apache-beam", "numpy", "pyarrow", "trimesh", "scipy", "pillow")


def run(options: PipelineOptions) -> int:
    """Run the curate pipeline; 0 on success, 2 when the listing or flags are unusable."""
    started = time.time()
    flags = options.view_as(CurateOptions)
    output = options.view_as(CommonOptions).output.rstrip("/")
    try:
        listing, rows, limits, judge, judge_label = _prepare(flags, output)
    except (ValueError, SourceError) as error:
        print(f"beam_runner.py --pipeline curate: {error}", file=sys.stderr)
        return 2
    log.info("curate: %d listed assets, judge %s -> %s", rows, judge_label, output)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, listing, limits, judge, output)
    result = pipeline.run()
    result.wait_until_finish()
    counts = _counts(result)
    write_run_summary(
        output,
        "curate",
        started,
        stage_timings_s(result, METRICS),
        package_versions(_VERSIONED_PACKAGES + (("google-genai",) if judge else ())),
        config={
            "listing": flags.listing,
            "judge": judge_label,
            "limits": asdict(limits),
            "judge_model": judge.settings.model if judge else None,
            "judge_batch_size": judge.settings.batch_size if judge else None,
            "output": output,
        },
        counts=counts,
    )
    log.info(
        "curate: %d kept, %d rejected of %d (%d reused, %d Gemini calls) -> %s/%s",
        counts.get("kept", 0),
        counts.get("rejected", 0),
        counts.get("listed", 0),
        counts.get("reused", 0),
        counts.get("llm_calls", 0),
        output,
        SELECTED_FILE,
    )
    return 0


def build_pipeline(
    pipeline: beam.Pipeline,
    listing: str,
    limits: CheckLimits,
    judge: JudgeSetup | None,
    output: str,
) -> None:
    """Add the curate graph for the listing file at ``listing`` to ``pipeline``.

    The listing is read on a worker (the job graph holds its location, not its rows);
    each worker reads the previous run's selection table once.
    """
    selection = (
        pipeline
        | "Listing" >> beam.Create([listing])
        | "ListingRows"
        >> beam.FlatMap(lambda location: read_listing(read_file(location), location))
        | "Spread" >> beam.Reshuffle()
        | "CheckAssets" >> beam.ParDo(CheckAssets(limits, f"{output}/{SELECTION_FILE}"))
        | "AllRows" >> beam.combiners.ToList()
        | "Decide" >> beam.Map(_decide, judge)
    )
    _ = (
        selection
        | "SelectionTable" >> beam.Map(lambda s: s.table)
        | "WriteSelection"
        >> beam.io.WriteToParquetBatched(
            f"{output}/{SELECTION_FILE}",
            schema=SELECTION_SCHEMA,
            codec="zstd",
            num_shards=1,
            shard_name_template="",
        )
    )
    _ = (
        selection
        | "SelectedCsv" >> beam.Map(lambda s: s.selected_csv)
        | "WriteSelected"
        >> beam.io.WriteToText(f"{output}/{SELECTED_FILE}", num_shards=1, shard_name_template="")
    )


class CheckAssets(beam.DoFn):
    """Listing rows -> ``AssetCheck``s, reusing the previous selection table's results."""

    def __init__(self, limits: CheckLimits, previous_selection: str) -> None:
        self._limits = limits
        self._limits_json = limits_key(limits)
        self._previous_selection = previous_selection
        self._previous: dict[str, dict] = {}

    def setup(self) -> None:
        self._previous = _previous(self._previous_selection)

    def process(self, row: ListingRow):
        begun = time.perf_counter()
        yield check_asset(row, self._limits, self._limits_json, self._previous)
        elapsed_ms = round(1000 * (time.perf_counter() - begun))
        Metrics.distribution(METRICS, "check_ms").update(elapsed_ms)


def _decide(checks: list[AssetCheck], judge: JudgeSetup | None) -> Selection:
    begun = time.perf_counter()
    selection = decide(checks, judge)
    for name, count in selection.counts.items():
        Metrics.counter(METRICS, name).inc(count)
    Metrics.distribution(METRICS, "decide_ms").update(round(1000 * (time.perf_counter() - begun)))
    return selection


def _prepare(
    flags: CurateOptions, output: str
) -> tuple[str, int, CheckLimits, JudgeSetup | None, str]:
    """The listing's location and row count (read once here, to stop a bad listing before
    any work), the check limits and the judge; ValueError on a usage error."""
    if not flags.listing:
        raise ValueError("--listing FILE is required (a .csv, .jsonl or metadata .json)")
    # a local listing's rows are located from its absolute path, so that selected.csv,
    # read from another folder, names the same files
    listing = flags.listing if "://" in flags.listing else os.path.abspath(flags.listing)
    try:
        rows = len(read_listing(read_file(listing), listing))
    except ListingError as error:
        raise ValueError(str(error)) from error
    licenses = flags.licenses.strip()
    limits = CheckLimits(
        min_triangles=flags.min_triangles,
        max_triangles=flags.max_triangles,
        require_texture=flags.require_texture,
        max_objects=flags.max_objects,
        max_aspect=flags.max_aspect,
        licenses=()
        if licenses == "any"
        else tuple(key.strip() for key in licenses.split(",") if key.strip()),
    )
    if flags.judge == "checks":
        return listing, rows, limits, None, "checks (--judge checks)"
    try:
        api_key_from_environment()
    except MissingApiKeyError:
        log.warning("curate: no GEMINI_API_KEY or GOOGLE_API_KEY: the cheap checks alone decide")
        return listing, rows, limits, None, NO_KEY
    if not 1 <= flags.judge_min_quality <= 5:
        raise ValueError(f"--judge-min-quality {flags.judge_min_quality}: give 1 to 5")
    settings = JUDGE_FLAGS.settings(flags)
    judge = JudgeSetup(
        settings,
        flags.judge_cache_dir or f"{output}/cache",
        _categories(flags.judge_categories),
        flags.judge_min_quality,
        flags.judge_max_calls,
    )
    return listing, rows, limits, judge, f"gemini ({settings.model})"


def _categories(location: str | None) -> tuple[str, ...]:
    """Category names from an ontology output folder or a one-per-line text file."""
    if not location:
        return ()
    place = Location.of(location)
    if place.is_dir():
        for table in (place / "ontology" / "categories.parquet", place / "categories.parquet"):
            if table.exists():
                names = pq.read_table(table.path, filesystem=table.filesystem)["name"]
                return tuple(names.to_pylist())
        raise ValueError(f"--judge-categories {location}: no ontology/categories.parquet in it")
    if not place.exists():
        raise ValueError(f"--judge-categories {location}: no such file or folder")
    names = [line.strip() for line in place.read_text().splitlines()]
    return tuple(dict.fromkeys(name for name in names if name))


def _previous(selection: str) -> dict[str, dict]:
    """A previous run's check results by row key (empty without a readable table)."""
    place = Location.of(selection)
    if not place.exists():
        return {}
    try:
        return previous_checks(pq.read_table(place.path, filesystem=place.filesystem))
    except (OSError, ValueError, KeyError) as error:
        log.warning("curate: ignoring unreadable %s (%s); checking every asset", place, error)
        return {}


def _counts(result: beam.runners.runner.PipelineResult) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS))["counters"]:
        counts[counter.key.metric.name] += counter.committed
    return dict(sorted(counts.items()))
