"""Progress of a features run: the logged line and the Beam counters."""

from __future__ import annotations

import logging
import os
import re

import apache_beam as beam
from apache_beam.metrics import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import features
from pipelines.progress import ProgressSettings, count_progress, worker_processes
from pipelines.sources import SOURCES
from tests.dataset_fixtures import DATASETS

LINE = re.compile(
    r"features progress: (\d+) of (\d+) shapes \((\d+) done, (\d+) skipped, (\d+) failed\), "
    r"(\d+\.\d\d) shapes/s, ETA (\d+ s|unknown)"
)


def test_a_run_logs_done_and_failed_shapes_of_the_total(tmp_path, caplog):
    folder, failures = DATASETS["partnet"](tmp_path / "data")
    total = len(SOURCES["partnet"]().discover(str(folder)))
    options = PipelineOptions(
        [
            *("--source", "partnet", "--input", str(folder)),
            *("--output", str(tmp_path / "out"), "--featurizers", "none"),
            "--runner=FnApiRunner",
        ]
    )
    caplog.set_level(logging.INFO, logger="pipelines.progress")
    assert features.run(options, progress_interval_s=0) == 0

    lines = [r.getMessage() for r in caplog.records if r.name == "pipelines.progress"]
    parsed = [LINE.fullmatch(line) for line in lines]
    assert all(parsed), lines
    # interval 0: one line per shape, each counting one more of the same total
    seen = [int(match[1]) for match in parsed]
    assert sorted(seen) == list(range(1, total + 1))
    assert {int(match[2]) for match in parsed} == {total}
    for match in parsed:
        assert int(match[3]) + int(match[4]) + int(match[5]) == int(match[1])
    last = parsed[seen.index(total)]
    assert (int(last[3]), int(last[4]), int(last[5])) == (total - len(failures), 0, len(failures))
    assert last[7] == "0 s"


def test_a_long_interval_logs_only_when_the_share_is_seen(caplog):
    settings = ProgressSettings("interval", total=5, interval_s=3600)
    caplog.set_level(logging.INFO, logger="pipelines.progress")
    for outcome in ("done", "failed", "done", "skipped", "done"):
        count_progress(None, settings, outcome)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "pipelines.progress"]
    assert LINE.fullmatch(line)
    assert line.startswith("features progress: 5 of 5 shapes (3 done, 1 skipped, 1 failed), ")


def test_a_worker_process_reports_its_share(caplog):
    settings = ProgressSettings("share", total=7, interval_s=0, processes=2)
    caplog.set_level(logging.INFO, logger="pipelines.progress")
    count_progress(None, settings, "done")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "pipelines.progress"]
    assert line.startswith(
        f"features progress (worker pid {os.getpid()}, one of 2 processes, 7 shapes in all): "
        "1 of ~4 shapes (1 done, 0 skipped, 0 failed), "
    )


def test_beam_counters_carry_the_counts():
    settings = ProgressSettings("counters", total=5, interval_s=3600)
    pipeline = beam.Pipeline(runner="FnApiRunner")
    shapes = pipeline | beam.Create(["a", "b", "c", "d", "e"])
    _ = (
        shapes
        | "Done" >> beam.Filter(lambda s: s != "e")
        | "CountDone" >> beam.Map(count_progress, settings, "done")
    )
    _ = (
        shapes
        | "Failed" >> beam.Filter(lambda s: s == "e")
        | "CountFailed" >> beam.Map(count_progress, settings, "failed")
    )
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("features"))["counters"]
    totals = {c.key.metric.name: c.committed for c in counters}
    assert totals == {"shapes_done": 4, "shapes_failed": 1}


def test_worker_processes_follow_the_direct_running_mode():
    assert worker_processes(PipelineOptions([])) == 1
    assert worker_processes(PipelineOptions(["--direct_num_workers=3"])) == 1
    multi = ["--direct_running_mode=multi_processing", "--direct_num_workers=3"]
    assert worker_processes(PipelineOptions(multi)) == 3
