"""The run file both pipelines write: one layout, stage timings from Beam's metrics."""

from __future__ import annotations

import json
import time
from datetime import datetime

import apache_beam as beam
import pytest
from apache_beam.metrics import Metrics

from pipelines.run_info import package_versions, stage_timings_s, write_run_summary


def test_the_run_file_has_the_common_keys_then_the_pipelines_own(tmp_path):
    started = time.time() - 2.5
    document = write_run_summary(
        str(tmp_path),
        "features",
        started,
        {"load": 1.25},
        package_versions(["numpy"]),
        counts={"ok": 3},
    )

    written = json.loads((tmp_path / "features_run.json").read_text())
    assert written == document
    assert written["pipeline"] == "features"
    assert written["counts"] == {"ok": 3}
    assert set(written["versions"]) == {"python", "partbank", "numpy"}
    begun = datetime.fromisoformat(written["started_at"])
    ended = datetime.fromisoformat(written["finished_at"])
    assert begun.utcoffset().total_seconds() == 0
    assert 2 <= (ended - begun).total_seconds() <= 60
    assert written["timings_s"]["load"] == 1.25
    assert 2.5 <= written["timings_s"]["total"] < 60


@pytest.mark.parametrize(
    ("timings", "fields"), [({"total": 1.0}, {}), ({}, {"finished_at": "2026-01-01"})]
)
def test_a_field_cannot_overwrite_a_common_key(tmp_path, timings, fields):
    with pytest.raises(ValueError, match="common keys"):
        write_run_summary(str(tmp_path), "ontology", time.time(), timings, {}, **fields)
    assert not (tmp_path / "ontology_run.json").exists()


def _timed(stage: str, milliseconds: int):
    def record(element):
        Metrics.distribution("test", f"{stage}_ms").update(milliseconds)
        Metrics.distribution("other", f"{stage}_ms").update(100_000)
        return element

    return record


def test_stage_timings_sum_each_stages_milliseconds_into_seconds():
    pipeline = beam.Pipeline()
    _ = (
        pipeline
        | beam.Create([1, 2, 3])
        | "Load" >> beam.Map(_timed("load", 1500))
        | "Render" >> beam.Map(_timed("render", 250))
    )
    result = pipeline.run()
    result.wait_until_finish()

    assert stage_timings_s(result, "test") == {"load": 4.5, "render": 0.75}
