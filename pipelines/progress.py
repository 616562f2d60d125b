"""Progress of a features run: shapes done, skipped and failed of the total, shapes/s, ETA.

On every runner the Beam counters ``features/shapes_done``, ``shapes_skipped`` and
``shapes_failed`` carry the counts. Beam's local ``FnApiRunner`` runs the whole pipeline
inside the launcher's ``pipeline.run()`` and reports metrics only once it has finished,
so the progress line comes from the workers themselves: each worker process counts the
outcomes it has seen and logs one line at most every ``interval_s`` seconds, and one
when it has seen its share of the total (``total / processes``; a line of a process
among several says so, as its counts are its own). Progress goes to the logs only,
never to outputs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import TypeVar

from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

#: What can become of a shape; each shape ends in exactly one.
OUTCOMES = ("done", "skipped", "failed")
_COUNTERS = {outcome: Metrics.counter("features", f"shapes_{outcome}") for outcome in OUTCOMES}


@dataclass(frozen=True)
class ProgressSettings:
    """How a run reports progress.

    Attributes:
        run: names the run (its launcher's start), so that runs in one process keep
            separate counts.
        total: shapes in the run, when the launcher knows it; the pipeline passes the
            count its workers found to ``count_progress`` instead.
        interval_s: seconds between two lines of one worker process.
        processes: worker processes sharing the shapes (each sees about
            ``total / processes`` of them).
    """

    run: str
    total: int = 0
    interval_s: float = 10.0
    processes: int = 1


class _Tally:
    """One worker process's counts for one run."""

    def __init__(self, settings: ProgressSettings):
        self.settings = settings
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.total = settings.total
        self.started = time.monotonic()
        self.logged = self.started

    def add(self, outcome: str, total: int) -> str | None:
        """Count one shape of ``total``; returns the progress line when one is due."""
        self.total = total
        self.counts[outcome] += 1
        now = time.monotonic()
        share = self.share
        seen = sum(self.counts.values())
        if now - self.logged < self.settings.interval_s and seen != share:
            return None
        self.logged = now
        return self.line(seen, share, now - self.started)

    @property
    def share(self) -> int:
        """The shapes this process expects to see: its part of the total."""
        return -(-self.total // self.settings.processes)

    def line(self, seen: int, share: int, elapsed_s: float) -> str:
        settings = self.settings
        rate = seen / elapsed_s if elapsed_s > 0 else 0.0
        remaining = max(share - seen, 0)
        eta = f"{remaining / rate:.0f} s" if rate > 0 else "unknown"
        of = f"{share}" if settings.processes == 1 else f"~{share}"
        where = (
            ""
            if settings.processes == 1
            else f" (worker pid {os.getpid()}, one of {settings.processes} processes, "
            f"{self.total} shapes in all)"
        )
        counts = ", ".join(f"{self.counts[outcome]} {outcome}" for outcome in OUTCOMES)
        return (
            f"features progress{where}: {seen} of {of} shapes ({counts}), "
            f"{rate:.2f} shapes/s, ETA {eta}"
        )


_TALLIES: dict[ProgressSettings, _Tally] = {}
_LOCK = threading.Lock()


def count_progress(
    element: T, settings: ProgressSettings, outcome: str, total: int | None = None
) -> T:
    """Count a shape's outcome (one of ``OUTCOMES``) in its Beam counter and in this
    process's tally, logging the progress line when one is due; returns ``element``.

    ``total``: the run's shapes, when the pipeline counted them (default: the settings').
    """
    _COUNTERS[outcome].inc()
    with _LOCK:
        tally = _TALLIES.get(settings)
        if tally is None:
            tally = _TALLIES[settings] = _Tally(settings)
        line = tally.add(outcome, settings.total if total is None else total)
    if line is not None:
        LOGGER.info("%s", line)
    return element


def worker_processes(options: PipelineOptions) -> int:
    """How many worker processes share a local run's shapes: ``--direct_num_workers``
    under ``--direct_running_mode=multi_processing`` (0: one per core), else 1 (threads
    share one tally)."""
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode == "multi_processing":
        return direct.direct_num_workers or os.cpu_count() or 1
    return 1
