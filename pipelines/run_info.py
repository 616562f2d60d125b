"""The run file every pipeline writes (``OUT/features_run.json``, ``OUT/ontology_run.json``).

Both pipelines share one layout: ``pipeline``, ``started_at`` and ``finished_at`` (ISO 8601
UTC, seconds), ``versions`` (Python's and each package's), ``timings_s`` (seconds per stage
and ``total``), then the pipeline's own fields.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, PortableOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.portability.portable_runner import PortableRunner

from pipelines.sinks import write_json

#: Keys every run file has; a pipeline's own fields may not reuse them.
COMMON_KEYS = ("pipeline", "started_at", "finished_at", "versions", "timings_s")


def package_versions(packages: Iterable[str]) -> dict[str, str | None]:
    """Python's version and each installed package's (None where it is not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("partbank", *packages):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def iso_utc(seconds: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC with seconds (``2026-12-03T11:13:26+00:00``)."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def stage_timings_s(result: beam.runners.runner.PipelineResult, namespace: str) -> dict[str, float]:
    """Seconds per stage from a finished run's ``{stage}_ms`` distributions in ``namespace``.

    Each stage's milliseconds are summed over its elements (and workers), so a stage's
    figure is the work it did, not its wall time. Sorted by stage name.
    """
    query = result.metrics().query(MetricsFilter().with_namespace(namespace))
    totals: dict[str, int] = {}
    for distribution in query["distributions"]:
        name = distribution.key.metric.name
        if name.endswith("_ms") and distribution.committed is not None:
            stage = name.removesuffix("_ms")
            totals[stage] = totals.get(stage, 0) + distribution.committed.sum
    return {stage: round(totals[stage] / 1000, 3) for stage in sorted(totals)}


def counter_total(result: beam.runners.runner.PipelineResult, name: str) -> int:
    """The committed total of a pipeline counter, over all steps (0 when it never counted)."""
    counters = result.metrics().query(MetricsFilter().with_name(name))["counters"]
    return sum(counter.committed or 0 for counter in counters)


def runner_used(runner: beam.runners.PipelineRunner, options: PipelineOptions) -> dict[str, Any]:
    """What ran a pipeline: the runner's class ``name`` and how it ran the workers.

    A portable runner (``PortableRunner`` and its Flink and Spark subclasses) adds its
    ``job_endpoint`` and the workers' ``environment_type`` (Beam's default, ``DOCKER``, where
    none is given) and ``environment_config``; the local ``FnApiRunner`` adds its
    ``running_mode`` and ``num_workers`` (0: one per CPU). Other runners give their name only.
    """
    used: dict[str, Any] = {"name": type(runner).__name__}
    if isinstance(runner, PortableRunner):
        portable = options.view_as(PortableOptions)
        used["job_endpoint"] = portable.job_endpoint
        used["environment_type"] = portable.environment_type or "DOCKER"
        used["environment_config"] = portable.environment_config
    elif isinstance(runner, FnApiRunner):
        direct = options.view_as(DirectOptions)
        used["running_mode"] = direct.direct_running_mode
        used["num_workers"] = direct.direct_num_workers
    return used


def run_file_name(pipeline: str) -> str:
    """The run file's name inside ``--output``: ``{pipeline}_run.json``."""
    return f"{pipeline}_run.json"


def write_run_summary(
    output: str,
    pipeline: str,
    started_at: float,
    timings_s: Mapping[str, float],
    versions: Mapping[str, str | None],
    **fields: Any,
) -> dict[str, Any]:
    """Write ``output/{pipeline}_run.json`` atomically; returns the document written.

    Args:
        output: the run's ``--output`` folder (local path or URI Beam can write).
        pipeline: ``features`` or ``ontology``.
        started_at: when the run started, seconds since the epoch (``time.time()``).
        timings_s: seconds per stage; ``total`` (start to now) is added here.
        versions: ``package_versions(...)`` of the packages the run used.
        **fields: the pipeline's own fields.

    Raises:
        ValueError: a field reuses one of ``COMMON_KEYS`` or ``timings_s`` has ``total``.
    """
    clashes = sorted(set(fields) & set(COMMON_KEYS))
    if clashes or "total" in timings_s:
        raise ValueError(f"run summary fields reuse common keys: {clashes or ['total']}")
    finished_at = time.time()
    document = {
        "pipeline": pipeline,
        "started_at": iso_utc(started_at),
        "finished_at": iso_utc(finished_at),
        "versions": dict(versions),
        "timings_s": {**timings_s, "total": round(finished_at - started_at, 3)},
        **fields,
    }
    write_json(FileSystems.join(output, run_file_name(pipeline)), document)
    return document
