"""--featurizers partfield through RunInference on the local runner (random weights).

The wiring runs a tiny PartField network (``TINY_ARCHITECTURE``, registered for these
tests); tests/test_partfield.py checks the real architecture against upstream.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import beam_runner
from featurizers import catalog
from featurizers.partfield import PartField, encoder_points, from_partbank_frame
from featurizers.partfield.featurizer import TINY_ARCHITECTURE, partfield_featurizer
from featurizers.sampling import shape_seed
from pipelines.sources import SOURCES
from schemas.reader import ShardReader
from tests.dataset_fixtures import DATASETS
from tests.features_output import committed_shards, latest_manifest


@pytest.fixture(scope="module", autouse=True)
def tiny_partfield():
    """The ``partfield`` featurizer with the tiny network, for every test here."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(catalog.FEATURIZERS, "partfield", partfield_featurizer(TINY_ARCHITECTURE))
        yield


@pytest.fixture(scope="module")
def partfield_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("partfield")
    folder, _ = DATASETS["find3d"](root / "data")
    out = root / "out"
    args = [
        "--pipeline", "features", "--source", "find3d", "--input", str(folder),
        "--output", str(out), "--featurizers", "partfield", "--models", "random-init",
        "--partfield-points", "2048", "--num-points", "500", "--limit", "3",
    ]  # fmt: skip
    assert beam_runner.main(args) == 0
    return folder, out


def test_partfield_column_matches_the_network_run_directly(partfield_run):
    folder, out = partfield_run
    shapes = list(ShardReader(out / "features"))
    assert shapes, "no shape written"
    source = SOURCES["find3d"]()
    inputs = {i.shape_id: i for i in source.discover(str(folder))}
    import torch

    torch.manual_seed(0)
    model = PartField(TINY_ARCHITECTURE).eval()
    width = TINY_ARCHITECTURE.part_channels
    for shape in shapes[:1]:
        assert shape["partfield"].shape == (500, width) and shape["partfield"].dtype == np.float16
        cloud = source.load(inputs[shape["shape_id"]]).cloud
        rng = np.random.default_rng([shape_seed(shape["shape_id"]), 1])
        points = encoder_points(cloud.points, shape["center"], shape["scale"], 2048, seed=rng)
        expected = model.features(
            torch.from_numpy(points), torch.from_numpy(from_partbank_frame(shape["points"]))
        ).numpy()
        np.testing.assert_allclose(shape["partfield"], expected, atol=2e-3, rtol=2e-3)


def test_random_init_is_marked_in_run_json_and_shard_metadata(partfield_run):
    _, out = partfield_run
    run = json.loads((out / "features_run.json").read_text())
    assert run["models"] == "random-init" and run["device"] == "cpu"
    shard = committed_shards(out)[0]
    metadata = json.loads(pq.read_schema(shard).metadata[b"partbank.run"])
    assert metadata["models"] == "random-init"


def test_failed_shapes_stay_failed_with_partfield(partfield_run):
    _, out = partfield_run
    manifest = latest_manifest(out)
    assert set(manifest["status"]) == {"ok", "failed"}  # broken fixture inputs kept


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--partfield-checkpoint PATH"),  # HF_HUB_OFFLINE=1 in tests: the remedy
        (["--partfield-checkpoint", "/nonexistent/model.ckpt"], "/nonexistent/model.ckpt"),
    ],
)
def test_missing_weights_stop_the_run_before_any_work(args, message, tmp_path, capsys):
    code = beam_runner.main(
        ["--pipeline", "features", "--featurizers", "partfield", "--output", str(tmp_path), *args]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "features").exists()


def test_model_accelerator_hint_lands_on_the_model_stage_only(tmp_path):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.features import FeaturesPipeline, config_from_options

    hint = "type:nvidia-l4;count:1;install-nvidia-driver"
    options = PipelineOptions(
        [
            *("--featurizers", "partfield", "--models", "random-init"),
            *("--output", str(tmp_path), "--model-accelerator", hint),
        ]
    )
    config = config_from_options(options)
    pipeline = beam.Pipeline(runner="FnApiRunner")
    _ = pipeline | FeaturesPipeline(config, {})
    proto = pipeline.to_runner_api()

    def accelerated(transform) -> bool:
        environment = proto.components.environments.get(transform.environment_id)
        return environment is not None and any(
            "accelerator" in key for key in environment.resource_hints
        )

    names = [t.unique_name for t in proto.components.transforms.values() if accelerated(t)]
    assert names and all("/partfield/RunInference" in name for name in names)
