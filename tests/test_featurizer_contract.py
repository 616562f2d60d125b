"""The featurizer contract: a featurizer registered from this module alone runs end to end.

``distance`` (the distance of each point from the shape's bounding-box center, float32)
and ``twice`` (a model featurizer whose "model" doubles the points' z; it exercises the
RunInference path of the contract) are registered here, nowhere else.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter

from featurizers import catalog
from featurizers.config import FeaturesConfig
from featurizers.contract import (
    FeaturizerSpec,
    ModelSpec,
    PointColumn,
    Prepared,
    ShapeInputs,
    config_entries,
    feature_columns,
)
from pipelines.features import FeaturesPipeline
from pipelines.sinks import write_manifest
from pipelines.sources.discovery import discover_all
from schemas.features import features_schema, is_per_point
from schemas.reader import ShardReader
from tests.dataset_fixtures import DATASETS


def distance_columns(config) -> tuple[PointColumn, ...]:
    return (PointColumn("distance", pa.float32()),)


def distance_step(inputs: ShapeInputs, config) -> Prepared:
    points = inputs.sample.points
    return Prepared(columns={"distance": np.linalg.norm(points, axis=1).astype(np.float32)})


class Doubler:
    """A stand-in model (RunInference keeps models by weak reference)."""

    factor = 2.0


def twice_columns(config) -> tuple[PointColumn, ...]:
    return (PointColumn("twice", pa.float64(), 2),)


def twice_step(inputs: ShapeInputs, config) -> Prepared:
    return Prepared(model_input=inputs.sample.points[:, 2].astype(np.float64), state="xy")


def twice_batch(model: Doubler, inputs) -> list[np.ndarray]:
    return [model.factor * z for z in inputs]


def twice_finish(state: str, doubled: np.ndarray) -> dict[str, np.ndarray]:
    assert state == "xy"  # the state crossed the model stage
    return {"twice": np.stack([doubled, -doubled], axis=1)}


DISTANCE = FeaturizerSpec("distance", distance_columns, distance_step)
TWICE = FeaturizerSpec(
    "twice",
    twice_columns,
    twice_step,
    config_entries=lambda config: {"twice_factor": Doubler.factor},
    model=ModelSpec(load=lambda config: Doubler(), run_batch=twice_batch, finish=twice_finish),
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
    discovered = discover_all(config)
    pipeline = beam.Pipeline(runner="FnApiRunner")
    _ = (
        pipeline
        | FeaturesPipeline(config, discovered, {})
        | beam.combiners.ToList()
        | beam.Map(write_manifest, config.features_dir)
    )
    result = pipeline.run()
    result.wait_until_finish()

    shard = sorted((tmp_path / "out" / "features").glob("part-*.parquet"))[0]
    schema = pq.read_schema(shard)
    assert schema.field("distance").type == pa.list_(pa.float32())
    assert schema.field("twice").type == pa.list_(pa.list_(pa.float64(), 2))
    assert schema.names.index("partfield") < schema.names.index("distance")  # registered after
    shapes = list(ShardReader(tmp_path / "out" / "features"))
    assert len(shapes) == len(discovered.inputs) - len(failures) > 0
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


def test_built_in_flags_match_the_command_line_defaults():
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.options import FeaturesOptions

    parsed = PipelineOptions([]).view_as(FeaturesOptions)
    for spec in catalog.FEATURIZERS.values():
        for flag in spec.flags:
            assert getattr(parsed, flag.attribute) == flag.default, flag.flag


@pytest.mark.parametrize(
    "names", [("rgb",), ("dinov2", "partfield"), ("dinov2", "partfield", "rgb")]
)
def test_specs_give_the_config_hash_entries_of_their_featurizers(names, tmp_path):
    weights = tmp_path / "model.ckpt"
    weights.write_bytes(b"0" * 10)
    config = FeaturesConfig(output=str(tmp_path), featurizers=names, partfield_weights=str(weights))
    entries = config_entries(catalog.requested(names), config)
    assert entries == {k: v for k, v in config.numeric_config.items() if k in entries}
    assert ("partfield_weights" in entries) == ("partfield" in names)
    if "partfield" in names:
        assert entries["partfield_weights"] == "model.ckpt:10"
