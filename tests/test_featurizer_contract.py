"""The featurizer contract: a featurizer registered from this module alone runs end to end.

``distance`` (the distance of each point from the shape's bounding-box center, times its
own ``--distance-scale``, float32) and ``twice`` (a model featurizer whose "model"
multiplies the points' z by the factor in its weights file, ``--twice-weights``; it
exercises the RunInference path and the weights check of the contract) are registered
here, nowhere else.
"""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter

import beam_runner
from featurizers import catalog
from featurizers.config import FeaturesConfig
from featurizers.contract import (
    FeaturizerSpec,
    Flag,
    ModelSpec,
    PointColumn,
    Prepared,
    ShapeInputs,
    config_entries,
    feature_columns,
)
from pipelines.features import FeaturesRun
from schemas.common import ModelUnavailableError
from schemas.features import features_schema, is_per_point
from schemas.reader import ShardReader
from tests.dataset_fixtures import DATASETS
from tests.features_output import committed_shards, latest_manifest


def distance_columns(config) -> tuple[PointColumn, ...]:
    return (PointColumn("distance", pa.float32()),)


def distance_step(inputs: ShapeInputs, config) -> Prepared:
    distance = config.option("distance_scale") * np.linalg.norm(inputs.sample.points, axis=1)
    return Prepared(columns={"distance": distance.astype(np.float32)})


class Multiplier:
    """A stand-in model (RunInference keeps models by weak reference)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor


def twice_columns(config) -> tuple[PointColumn, ...]:
    return (PointColumn("twice", pa.float64(), 2),)


def twice_step(inputs: ShapeInputs, config) -> Prepared:
    return Prepared(model_input=inputs.sample.points[:, 2].astype(np.float64), state="xy")


def locate_twice(config) -> dict[str, str]:
    weights = config.option("twice_weights")
    if not weights:
        raise ModelUnavailableError("twice weights: pass --twice-weights FILE")
    return {"twice_weights": weights}


def load_twice(config) -> Multiplier:
    weights = None if config.random_init else config.option("twice_weights")
    return Multiplier(float(Path(weights).read_text()) if weights else 2.0)


def twice_batch(model: Multiplier, inputs) -> list[np.ndarray]:
    return [model.factor * z for z in inputs]


def twice_finish(state: str, doubled: np.ndarray) -> dict[str, np.ndarray]:
    assert state == "xy"  # the state crossed the model stage
    return {"twice": np.stack([doubled, -doubled], axis=1)}


DISTANCE = FeaturizerSpec(
    "distance",
    distance_columns,
    distance_step,
    config_entries=lambda config: {"distance_scale": config.option("distance_scale")},
    flags=(
        Flag(
            "--distance-scale",
            "distance_scale",
            1.0,
            "distance featurizer: unit of the distances (default %(default)s)",
            type=float,
            metavar="S",
            minimum=0.0,
        ),
    ),
)
TWICE = FeaturizerSpec(
    "twice",
    twice_columns,
    twice_step,
    config_entries=lambda config: {"twice_weights": config.weights.get("twice_weights")},
    flags=(Flag("--twice-weights", "twice_weights", None, "factor file", metavar="FILE"),),
    model=ModelSpec(
        load=load_twice, run_batch=twice_batch, finish=twice_finish, locate=locate_twice
    ),
)


@pytest.fixture
def toy_featurizers(monkeypatch):
    registry = dict(catalog.FEATURIZERS)
    monkeypatch.setattr(catalog, "FEATURIZERS", registry)
    catalog.register(DISTANCE)
    catalog.register(TWICE)
    return registry


def test_a_featurizer_registered_in_a_test_fills_its_columns(toy_featurizers, tmp_path):
    folder, failures = DATASETS["find3d"](tmp_path / "data")
    config = FeaturesConfig(
        output=str(tmp_path / "out"),
        inputs=(("find3d", str(folder)),),
        featurizers=("distance", "twice"),
        num_points=300,
        shapes_per_shard=2,
    )
    pipeline = beam.Pipeline(runner="FnApiRunner")
    _ = pipeline | FeaturesRun(config)
    result = pipeline.run()
    result.wait_until_finish()

    manifest = latest_manifest(tmp_path / "out")
    failed = manifest.filter(pl.col("status") == "failed")
    assert sorted(failed["shape_id"]) == sorted(failures)
    shard = committed_shards(tmp_path / "out")[0]
    schema = pq.read_schema(shard)
    assert schema.field("distance").type == pa.list_(pa.float32())
    assert schema.field("twice").type == pa.list_(pa.list_(pa.float64(), 2))
    assert schema.names.index("partfield") < schema.names.index("distance")  # registered after
    shapes = list(ShardReader(tmp_path / "out" / "features"))
    assert len(shapes) == manifest.height - len(failures) > 0
    for shape in shapes:
        points = shape["points"]
        np.testing.assert_array_equal(shape["distance"], np.linalg.norm(points, axis=1))
        assert shape["distance"].dtype == np.float32 and shape["distance"].shape == (300,)
        z = points[:, 2].astype(np.float64)
        np.testing.assert_array_equal(shape["twice"], np.stack([2 * z, -2 * z], axis=1))
        assert "dino" not in shape and "rgb" not in shape  # not requested: null

    # milliseconds per shape: each guarded stage, each featurizer's step (and model attach)
    per_shape = {"load": 1, "featurize": 1, "distance": 1, "twice": 2}
    for stage, times in per_shape.items():
        query = result.metrics().query(MetricsFilter().with_name(f"{stage}_ms"))
        timings = [result.committed for result in query["distributions"]]  # one per Beam step
        assert sum(t.count for t in timings) == times * len(shapes), stage
        assert min(t.min for t in timings) >= 0


def test_schema_holds_every_registered_featurizer_in_registration_order(toy_featurizers):
    columns = feature_columns(list(toy_featurizers.values()), ("distance",), None)
    names = [column.name for column in columns]
    assert names == ["dino", "views_seen", "rgb", "partfield", "distance", "twice"]
    schema = features_schema([(c.name, c.arrow_type) for c in columns])
    assert [f.name for f in schema if is_per_point(f.type)] == [
        "points", "normals", "face_index", "point_part", *names,
    ]  # fmt: skip


def test_a_taken_name_or_column_is_refused(toy_featurizers):
    with pytest.raises(ValueError, match="'distance' is registered already"):
        catalog.register(DISTANCE)
    clash = FeaturizerSpec("distance2", distance_columns, distance_step)
    with pytest.raises(ValueError, match="column\\(s\\) distance taken"):
        catalog.register(clash)


def test_a_flag_of_a_featurizer_registered_in_a_test_reaches_its_step_and_config_hash(
    toy_featurizers, tmp_path, capsys
):
    assert beam_runner.main(["--pipeline", "features", "--help"]) == 0
    assert "--distance-scale S distance featurizer: unit of the distances (default 1.0)" in (
        " ".join(capsys.readouterr().out.split())
    )
    folder, _ = DATASETS["find3d"](tmp_path / "data")
    out = tmp_path / "out"
    args = [
        "--pipeline", "features", "--source", "find3d", "--input", str(folder),
        "--output", str(out), "--featurizers", "distance", "--distance-scale", "2.5",
        "--num-points", "200", "--limit", "2",
    ]  # fmt: skip
    assert beam_runner.main(args) == 0

    run = json.loads((out / "features_run.json").read_text())
    assert run["config"]["distance_scale"] == 2.5
    assert run["options"]["options"]["distance_scale"] == 2.5
    same = {"featurizers": ("distance",), "num_points": 200}
    scaled = FeaturesConfig("elsewhere", options={"distance_scale": 2.5}, **same)
    assert run["config_hash"] == scaled.config_hash != FeaturesConfig("else", **same).config_hash
    shapes = list(ShardReader(out / "features"))
    assert shapes
    for shape in shapes:
        norms = np.linalg.norm(shape["points"], axis=1)
        np.testing.assert_allclose(shape["distance"], 2.5 * norms, rtol=1e-6)
        assert shape["config_hash"] == run["config_hash"]

    bad = [*args[:-4], "--distance-scale", "-1"]
    assert beam_runner.main(bad) == 2
    assert "--distance-scale must be at least 0.0, got -1.0" in capsys.readouterr().err
    assert beam_runner.main([*args[:-4], "--distance-scale", "far"]) == 2
    assert "--distance-scale: invalid float value: 'far'" in capsys.readouterr().err


def test_a_featurizer_registered_in_a_test_locates_its_weights_before_any_work(
    toy_featurizers, tmp_path, capsys
):
    folder, _ = DATASETS["find3d"](tmp_path / "data")
    out = tmp_path / "out"
    args = [
        "--pipeline", "features", "--source", "find3d", "--input", str(folder),
        "--output", str(out), "--featurizers", "twice", "--num-points", "100",
    ]  # fmt: skip
    assert beam_runner.main(args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "twice weights: pass --twice-weights FILE" in line
    assert not (out / "features").exists()

    weights = tmp_path / "factor.txt"
    weights.write_text("3.0")
    assert beam_runner.main([*args, "--twice-weights", str(weights)]) == 0
    run = json.loads((out / "features_run.json").read_text())
    assert run["config"]["twice_weights"] == str(weights)
    assert run["options"]["weights"] == {"twice_weights": str(weights)}
    shapes = list(ShardReader(out / "features"))
    assert shapes
    for shape in shapes:
        z = shape["points"][:, 2].astype(np.float64)
        np.testing.assert_array_equal(shape["twice"], np.stack([3 * z, -3 * z], axis=1))


@pytest.mark.parametrize(
    "names", [("rgb",), ("dinov2", "partfield"), ("dinov2", "partfield", "rgb")]
)
def test_specs_give_the_config_hash_entries_of_their_featurizers(names, tmp_path):
    weights = tmp_path / "model.ckpt"
    weights.write_bytes(b"0" * 10)
    located = {"partfield_weights": str(weights)}
    config = FeaturesConfig(str(tmp_path), featurizers=names, weights=located)
    entries = config_entries(catalog.requested(names), config)
    assert entries == {k: v for k, v in config.numeric_config.items() if k in entries}
    assert ("partfield_weights" in entries) == ("partfield" in names)
    if "partfield" in names:
        assert entries["partfield_weights"] == "model.ckpt:10"
