"""The features pipeline end to end on Beam's local runner, through the CLI entry point."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import trimesh

import beam_runner
import pipelines
from featurizers.sampling import sample_shape
from pipelines.incremental import shard_bucket
from pipelines.sources import SOURCES
from schemas.features import SCHEMA_VERSION
from schemas.reader import ShardReader
from tests.dataset_fixtures import DATASETS
from tests.features_output import committed_shards, latest_manifest

SAMPLES = Path(pipelines.__file__).parent / "samples"


def run_features(*args: str) -> int:
    return beam_runner.main(["--pipeline", "features", *args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each source's fixture dataset run twice (3 shapes per shard) into two outputs."""
    root = tmp_path_factory.mktemp("features")
    results = {}
    for name, build in DATASETS.items():
        folder, failures = build(root / "data")
        outputs = []
        for attempt in ("a", "b"):
            out = root / f"{name}-{attempt}"
            code = run_features(
                "--source",
                name,
                "--input",
                str(folder),
                "--output",
                str(out),
                "--featurizers",
                "none",
                "--shapes-per-shard",
                "3",
            )
            assert code == 0
            outputs.append(out)
        results[name] = (folder, failures, outputs)
    return results


@pytest.mark.parametrize("source_name", sorted(DATASETS))
def test_every_input_has_a_manifest_row_and_good_ones_a_shard_row(runs, source_name):
    folder, failures, (out, _) = runs[source_name]
    manifest = latest_manifest(out)
    discovered = {i.shape_id for i in SOURCES[source_name]().discover(str(folder))}
    assert set(manifest["shape_id"]) == discovered and manifest.height == len(discovered)
    failed = manifest.filter(pl.col("status") == "failed")
    assert dict(zip(failed["shape_id"], failed["error"], strict=True)).keys() == failures.keys()
    for shape_id, error in zip(failed["shape_id"], failed["error"], strict=True):
        assert failures[shape_id] in error and "\n" not in error

    shapes = list(ShardReader(out / "features"))
    ok = manifest.filter(pl.col("status") == "ok")
    assert sorted(s["shape_id"] for s in shapes) == sorted(ok["shape_id"])
    for shape in shapes:
        assert shape["points"].shape == (10_000, 3)
        assert shape["point_part"].shape == (10_000,)
        assert shape["schema_version"] == SCHEMA_VERSION
        assert "dino" not in shape and "partfield" not in shape  # null until featurized
    for shard in ok["shard"].unique():
        assert (out / "features" / shard).exists()
    run = json.loads((out / "features_run.json").read_text())
    with_warnings = ok.filter(pl.col("warnings").list.len() > 0).height
    assert run["counts"] == {
        "ok": ok.height,
        "skipped_cached": 0,
        "failed": failed.height,
        "with_warnings": with_warnings,
    }
    assert run["inputs"] == manifest.height
    assert run["version"] == 1 and run["shards"] == sorted(ok["shard"].unique())
    # the shared run-file layout; per-stage seconds summed from the shapes' own timings
    assert run["pipeline"] == "features" and run["started_at"] <= run["finished_at"]
    assert run["versions"]["apache-beam"] and run["versions"]["python"]
    timings = run["timings_s"]
    assert {"pipeline", "load", "featurize", "total"} <= set(timings)
    assert all(seconds >= 0 for seconds in timings.values()) and timings["load"] > 0
    assert timings["pipeline"] <= timings["total"]


@pytest.mark.parametrize("source_name", ["partnet", "3dcompat", "glb"])
def test_point_part_agrees_with_the_face_each_point_lies_on(runs, source_name):
    folder, _, (out, _) = runs[source_name]
    source = SOURCES[source_name]()
    inputs = {i.shape_id: i for i in source.discover(str(folder))}
    for shape in ShardReader(out / "features"):
        record = source.load(inputs[shape["shape_id"]])
        names = [p["name_raw"] for p in shape["parts"]]
        assert names == list(record.part_names)
        world = shape["points"].astype(np.float64) * shape["scale"] + shape["center"]
        geometry = record.geometry
        # every point lies on the triangle it names, and carries that triangle's part
        closest = trimesh.triangles.closest_point(geometry.triangles[shape["face_index"]], world)
        assert np.abs(closest - world).max() < 1e-4 * shape["scale"]
        np.testing.assert_array_equal(shape["point_part"], record.face_part[shape["face_index"]])


def test_find3d_points_keep_their_source_labels(runs):
    folder, _, (out, _) = runs["find3d"]
    source = SOURCES["find3d"]()
    inputs = {i.shape_id: i for i in source.discover(str(folder))}
    for shape in ShardReader(out / "features"):
        cloud = source.load(inputs[shape["shape_id"]]).cloud
        world = shape["points"] * shape["scale"] + shape["center"]
        np.testing.assert_allclose(world, cloud.points[shape["face_index"]], atol=1e-5)
        np.testing.assert_array_equal(shape["point_part"], cloud.point_part[shape["face_index"]])


@pytest.mark.parametrize("source_name", sorted(DATASETS))
def test_two_runs_give_identical_points_and_labels(runs, source_name):
    _, _, (first, second) = runs[source_name]
    a = {s["shape_id"]: s for s in ShardReader(first / "features")}
    b = {s["shape_id"]: s for s in ShardReader(second / "features")}
    assert a.keys() == b.keys() and a
    for shape_id in a:
        np.testing.assert_array_equal(a[shape_id]["points"], b[shape_id]["points"])
        np.testing.assert_array_equal(a[shape_id]["point_part"], b[shape_id]["point_part"])


def test_rerun_into_the_same_output_neither_duplicates_nor_loses(tmp_path):
    folder, _ = DATASETS["partnet"](tmp_path / "data")
    out = tmp_path / "out"
    args = ["--source", "partnet", "--input", str(folder), "--output", str(out)]
    expected = ["partnet/101", "partnet/102", "partnet/103"]
    inputs = len(SOURCES["partnet"]().discover(str(folder)))  # the 4 bad ones are buckets too

    def shards_of(per_shard: int) -> int:
        """How many shards the good shapes fill: ~per_shard inputs per new shard."""
        return len({shard_bucket(i, math.ceil(inputs / per_shard)) for i in expected})

    def statuses() -> set[str]:
        """The latest manifest's statuses of the good shapes (the bad ones fail each run)."""
        manifest = latest_manifest(out)
        return set(manifest.filter(pl.col("shape_id").is_in(expected))["status"])

    def committed_ids() -> list[str]:
        return sorted(s["shape_id"] for s in ShardReader(out / "features", columns=["shape_id"]))

    assert run_features(*args, "--shapes-per-shard", "1") == 0
    first = committed_shards(out)
    assert len(first) == shards_of(1)
    assert committed_ids() == expected
    # another shard size alone changes nothing written: every row is reused where it is
    assert run_features(*args, "--shapes-per-shard", "2") == 0
    assert statuses() == {"skipped_cached"}
    assert committed_shards(out) == first
    assert sorted((out / "features").glob("part-*.parquet")) == first  # nothing else written
    assert committed_ids() == expected
    # another config recomputes every shape: the new version holds each shape once
    assert run_features(*args, "--shapes-per-shard", "7", "--num-points", "500") == 0
    assert statuses() == {"ok"}
    assert len(committed_shards(out)) == shards_of(7) == 1
    assert not set(committed_shards(out)) & set(first)
    assert committed_ids() == expected
    earlier = ShardReader(out / "features", version=1, columns=["shape_id"])  # versions kept
    assert sorted(s["shape_id"] for s in earlier) == expected


def test_default_run_uses_the_bundled_samples(tmp_path):
    assert run_features("--output", str(tmp_path), "--limit", "3") == 0
    manifest = latest_manifest(tmp_path)
    assert manifest.height == 3 and (manifest["status"] == "ok").all()


def samples_of(source_name: str) -> set[str]:
    return {i.shape_id for i in SOURCES[source_name]().discover(str(SAMPLES / source_name))}


def manifest_ids(out) -> set[str]:
    return set(latest_manifest(out)["shape_id"])


def test_a_source_alone_runs_its_own_samples(tmp_path):
    assert run_features("--source", "glb", "--output", str(tmp_path)) == 0
    assert manifest_ids(tmp_path) == samples_of("glb")


def test_repeated_source_and_input_pairs_all_run(tmp_path):
    partnet, _ = DATASETS["partnet"](tmp_path / "data")
    glb, _ = DATASETS["glb"](tmp_path / "data")
    out = tmp_path / "out"
    args = ["--source", "partnet", "--input", str(partnet), "--source", "glb", "--input", str(glb)]
    assert run_features(*args, "--output", str(out)) == 0
    expected = {i.shape_id for i in SOURCES["partnet"]().discover(str(partnet))}
    expected |= {i.shape_id for i in SOURCES["glb"]().discover(str(glb))}
    assert manifest_ids(out) == expected
    run = json.loads((out / "features_run.json").read_text())
    assert run["options"]["inputs"] == [["partnet", str(partnet)], ["glb", str(glb)]]


def test_a_source_without_input_beside_a_pair_runs_its_samples(tmp_path):
    glb, _ = DATASETS["glb"](tmp_path / "data")
    out = tmp_path / "out"
    assert (
        run_features(
            "--source", "find3d", "--source", "glb", "--input", str(glb), "--output", str(out)
        )
        == 0
    )
    expected = samples_of("find3d") | {i.shape_id for i in SOURCES["glb"]().discover(str(glb))}
    assert manifest_ids(out) == expected


def test_reader_yields_torch_tensors(runs):
    _, _, (out, _) = runs["3dcompat"]
    dataset = ShardReader(out / "features").torch_dataset()
    item = dataset[len(dataset) - 1]
    assert tuple(item["points"].shape) == (10_000, 3)
    assert str(item["point_part"].dtype) == "torch.int64"
    assert len(item["part_names"]) == len(item["part_uid"]) > 0
    expected = sample_shape(
        SOURCES["3dcompat"]().load(
            next(
                i
                for i in SOURCES["3dcompat"]().discover(str(runs["3dcompat"][0]))
                if i.shape_id == item["shape_id"]
            )
        )
    )
    np.testing.assert_array_equal(item["points"].numpy(), expected.points)


@pytest.mark.parametrize("processes", [2, 64])
def test_a_worker_process_among_several_gives_torch_and_llvmpipe_its_share_of_the_cores(
    processes, monkeypatch
):
    import torch

    from pipelines.featurize import FeaturizeStep

    monkeypatch.delenv("LP_NUM_THREADS", raising=False)  # restored after the test
    default = torch.get_num_threads()
    share = max(1, os.cpu_count() // processes)
    try:
        FeaturizeStep(lambda shape: shape, processes=1).setup()
        assert torch.get_num_threads() == default and "LP_NUM_THREADS" not in os.environ
        FeaturizeStep(lambda shape: shape, processes=processes).setup()
        assert torch.get_num_threads() == share
        assert os.environ["LP_NUM_THREADS"] == str(share)
        monkeypatch.setenv("LP_NUM_THREADS", "3")  # the user's own setting is kept
        FeaturizeStep(lambda shape: shape, processes=processes).setup()
        assert os.environ["LP_NUM_THREADS"] == "3"
    finally:
        torch.set_num_threads(default)
