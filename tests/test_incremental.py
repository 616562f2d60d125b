"""Reruns over one output: what is done is skipped, what changed is redone, a killed run
resumes without duplicates or leftovers, and a run that wrote nothing changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import beam_runner
from pipelines import sample_data
from schemas.reader import ShardReader
from schemas.table import FeatureTable

ROOT = Path(__file__).resolve().parents[1]


def features_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        *("--pipeline", "features", "--source", "partnet", "--input", str(data)),
        *("--output", str(out), "--num-points", "500", *extra),
    ]


def run_features(data: Path, out: Path, *extra: str) -> int:
    return beam_runner.main(features_args(data, out, *extra))


def manifest(out: Path, version: int | None = None) -> pl.DataFrame:
    return pl.from_arrow(FeatureTable(out / "features").manifest(version))


def statuses(out: Path) -> dict[str, str]:
    return dict(manifest(out).select("shape_id", "status").iter_rows())


def file_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def shape_ids_read(out: Path) -> list[str]:
    return [shape["shape_id"] for shape in ShardReader(out / "features", columns=["shape_id"])]


def assert_no_leftovers(out: Path) -> None:
    features = out / "features"
    assert FeatureTable(features).unreferenced_files() == []
    assert not [p for p in features.rglob("*.tmp")]


@pytest.fixture
def corpus(tmp_path) -> Path:
    return sample_data.write_partnet_corpus(tmp_path / "data_v0", 6)


def test_an_unchanged_rerun_reuses_every_shape_and_rewrites_no_shard(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_features(corpus, out, "--shapes-per-shard", "2") == 0
    first = file_bytes(out / "features")
    assert set(statuses(out).values()) == {"ok"}

    assert run_features(corpus, out, "--shapes-per-shard", "2") == 0
    assert set(statuses(out).values()) == {"skipped_cached"}
    assert FeatureTable(out / "features").versions() == [1, 2]
    after = file_bytes(out / "features")
    shards = {name: data for name, data in first.items() if name.startswith("part-")}
    assert {name: after[name] for name in shards} == shards  # untouched, same bytes
    assert sorted(shape_ids_read(out)) == sorted(statuses(out))
    assert "0 shapes written, 6 reused" in capsys.readouterr().out


def test_a_changed_file_recomputes_that_shape_only(corpus, tmp_path):
    out = tmp_path / "out"
    assert run_features(corpus, out, "--shapes-per-shard", "2") == 0
    before = {row["shape_id"]: row for row in ShardReader(out / "features")}
    obj = sorted((corpus / "20003" / "objs").glob("*.obj"))[0]
    with obj.open("a") as handle:  # other bytes, the same geometry
        handle.write("# edited\n")

    assert run_features(corpus, out, "--shapes-per-shard", "2") == 0
    now = statuses(out)
    assert now.pop("partnet/20003") == "ok"
    assert set(now.values()) == {"skipped_cached"}
    after = {row["shape_id"]: row for row in ShardReader(out / "features")}
    assert sorted(after) == sorted(before) and len(shape_ids_read(out)) == len(before)
    assert after["partnet/20003"]["mesh_sha256"] != before["partnet/20003"]["mesh_sha256"]
    for shape_id in now:  # moved or kept, every reused row is the same row
        assert after[shape_id]["mesh_sha256"] == before[shape_id]["mesh_sha256"]
        assert (after[shape_id]["points"] == before[shape_id]["points"]).all()


def test_a_changed_config_recomputes_every_shape(corpus, tmp_path):
    out = tmp_path / "out"
    assert run_features(corpus, out) == 0
    assert run_features(corpus, out, "--num-points", "400") == 0
    assert set(statuses(out).values()) == {"ok"}
    assert {len(shape["points"]) for shape in ShardReader(out / "features")} == {400}
    assert FeatureTable(out / "features").manifest(1)["status"].to_pylist() == ["ok"] * 6


def test_added_inputs_are_featurized_alone_and_leave_old_shards_untouched(corpus, tmp_path):
    out = tmp_path / "out"
    assert run_features(corpus, out, "--shapes-per-shard", "2") == 0
    first = {n: b for n, b in file_bytes(out / "features").items() if n.startswith("part-")}
    sample_data.write_partnet_corpus(corpus, 3, first=6)

    assert run_features(corpus, out, "--shapes-per-shard", "2") == 0
    now = statuses(out)
    assert sorted(k for k, v in now.items() if v == "ok") == [
        f"partnet/{20_000 + i}" for i in (6, 7, 8)
    ]
    assert sum(v == "skipped_cached" for v in now.values()) == 6
    after = file_bytes(out / "features")
    assert {name: after[name] for name in first} == first
    committed = set(FeatureTable(out / "features").shard_names())
    assert set(first) <= committed  # the old shards are committed again as they are
    assert sorted(shape_ids_read(out)) == sorted(now)


def test_a_run_where_every_input_fails_leaves_the_table_unchanged(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_features(corpus, out) == 0
    before = file_bytes(out / "features")
    for result in corpus.glob("*/result.json"):
        result.write_text("{ not json")

    assert run_features(corpus, out) == 1
    assert file_bytes(out / "features") == before  # no version, nothing deleted
    assert FeatureTable(out / "features").versions() == [1]
    assert "nothing committed" in capsys.readouterr().out


def test_shapes_no_longer_among_the_inputs_leave_the_latest_version_only(corpus, tmp_path):
    out = tmp_path / "out"
    assert run_features(corpus, out) == 0
    assert run_features(corpus, out, "--limit", "2") == 0
    assert len(shape_ids_read(out)) == 2
    assert len(ShardReader(out / "features", version=1)) == 6  # versions are kept


def wait_for(predicate, process: subprocess.Popen, timeout_s: float = 120.0) -> bool:
    """Poll ``predicate`` every 5 ms while ``process`` runs; whether it came true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def shard_files(out: Path) -> list[Path]:
    return sorted((out / "features").glob("part-*.parquet"))


@pytest.mark.parametrize("killed_after_shards", [0, 1, 3])
def test_a_run_killed_at_any_point_resumes_exactly_once_without_leftovers(
    killed_after_shards, tmp_path
):
    data = sample_data.write_partnet_corpus(tmp_path / "data_v0", 10)
    out = tmp_path / "out"
    # a committed first version over half of the corpus: the killed run must not harm it
    assert run_features(data, out, "--limit", "5", "--shapes-per-shard", "2") == 0
    committed = file_bytes(out / "features")
    args = features_args(data, out, "--featurizers", "rgb", "--views", "2", "--image-size", "64")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "beam_runner.py"), *args, "--shapes-per-shard", "2"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        baseline = len(shard_files(out))
        reached = wait_for(lambda: len(shard_files(out)) >= baseline + killed_after_shards, process)
        assert reached, "the run ended before the kill point"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert FeatureTable(out / "features").versions() == [1]
    assert {n: b for n, b in file_bytes(out / "features").items() if n in committed} == committed

    # the same command, with another --shapes-per-shard: every shape once, nothing left over
    assert beam_runner.main([*args, "--shapes-per-shard", "3"]) == 0
    ids = shape_ids_read(out)
    assert sorted(ids) == [f"partnet/{20_000 + i}" for i in range(10)]
    reused = sum(status == "skipped_cached" for status in statuses(out).values())
    assert reused >= 2 * killed_after_shards  # the killed run's finished shards are not redone
    assert_no_leftovers(out)


def test_without_waiting_the_pipeline_itself_commits_and_writes_the_run_file(
    corpus, tmp_path, capsys
):
    out = tmp_path / "out"
    assert run_features(corpus, out, "--no-wait") == 0
    assert "submitted" in capsys.readouterr().out
    run = json.loads((out / "features_run.json").read_text())
    assert run["version"] == 1 and run["counts"]["ok"] == 6
    assert run["shards"] == FeatureTable(out / "features").shard_names()
    assert set(run["timings_s"]) == {"pipeline", "total"}  # no launcher waited to add more
    assert "unresolved_names" not in run


def test_a_reused_row_keeps_its_warnings(tmp_path):
    data = tmp_path / "objs"
    data.mkdir()
    (data / "crate.obj").write_text(
        "mtllib missing.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n"
        "g lid\nf 1 3 2\nf 1 2 4\ng side\nf 1 4 3\nf 2 3 4\n"
    )
    out = tmp_path / "out"
    args = ["--pipeline", "features", "--source", "glb", "--input", str(data)]
    args += ["--output", str(out), "--num-points", "200"]
    assert beam_runner.main(args) == 0
    first = manifest(out).row(0, named=True)
    assert first["status"] == "ok" and "missing.mtl" in first["warnings"][0]

    assert beam_runner.main(args) == 0
    again = manifest(out).row(0, named=True)
    assert again["status"] == "skipped_cached" and again["warnings"] == first["warnings"]


def test_rerunning_the_ontology_recomputes_no_shape(corpus, tmp_path):
    ontology = tmp_path / "ontology-out"
    offline = ["--describer", "template", "--verifier", "rules", "--embedder", "lexical"]
    command = ["--pipeline", "ontology", "--vocab", "partnet", *offline]
    assert beam_runner.main([*command, "--output", str(ontology)]) == 0
    out = tmp_path / "out"
    assert run_features(corpus, out, "--ontology", str(ontology)) == 0
    log = ontology / "ontology" / "alias_log.jsonl"
    first = log.read_bytes()

    assert beam_runner.main([*command, "--output", str(ontology)]) == 0
    assert log.read_bytes() != first  # written anew: other times, the same resolutions
    assert run_features(corpus, out, "--ontology", str(ontology)) == 0
    assert set(statuses(out).values()) == {"skipped_cached"}
