"""The features config and input discovery, called as plain functions (no pipeline runs)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from featurizers.config import ConfigError, FeaturesConfig
from featurizers.dinov2 import DEFAULT_MODEL as DINOV2_DEFAULT_MODEL
from featurizers.partfield import DEFAULT_PARTFIELD_POINTS
from featurizers.sampling import DEFAULT_SHAPE_POINTS
from pipelines.sources import SOURCES
from pipelines.sources.discovery import bundled_samples, discover_all, paired_inputs
from schemas.common import ModelUnavailableError
from tests.conftest import REPO_ROOT
from tests.test_features_robustness import folders_sharing_a_shape_id


def test_the_config_and_the_registry_import_no_beam_torch_transformers_trimesh_or_gl():
    heavy = ("apache_beam", "torch", "transformers", "trimesh", "moderngl")
    code = (
        "import sys, featurizers.config, featurizers.catalog; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_featurizer_registered_at_run_time_is_accepted_and_classified(monkeypatch):
    from featurizers import catalog
    from featurizers.contract import FeaturizerSpec, Prepared

    monkeypatch.setattr(catalog, "FEATURIZERS", dict(catalog.FEATURIZERS))
    catalog.register(FeaturizerSpec("curvature", lambda config: (), lambda i, c: Prepared()))
    config = FeaturesConfig("out", featurizers=("curvature",)).validated()
    assert [spec.name for spec in config.specs] == ["curvature"]
    assert not config.lifted and not config.uses_models and config.model_weights is None
    assert config.numeric_config["featurizers"] == ["curvature"]
    mixed = FeaturesConfig("out", featurizers=("curvature", "dinov2", "rgb")).validated()
    assert mixed.lifted == {"dinov2", "rgb"} and mixed.model_weights == "pretrained"


def test_the_config_defaults_are_the_featurizers_own():
    assert FeaturesConfig.num_points == DEFAULT_SHAPE_POINTS
    config = FeaturesConfig("out")
    assert config.option("partfield_points") == DEFAULT_PARTFIELD_POINTS
    assert config.option("dinov2_model") == DINOV2_DEFAULT_MODEL
    assert config.option("partfield_checkpoint") is None
    with pytest.raises(KeyError, match="no registered featurizer has the option 'radius'"):
        config.option("radius")


def test_featurizer_options_are_given_or_default_and_filled_in_once_valid():
    given = FeaturesConfig("out", options={"partfield_points": 2048})
    assert given.option("partfield_points") == 2048
    assert given.option("dinov2_model") == DINOV2_DEFAULT_MODEL
    assert given.validated().options == {
        "dinov2_model": DINOV2_DEFAULT_MODEL,
        "partfield_checkpoint": None,
        "partfield_points": 2048,
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"featurizers": ("rgb", "curvature")}, "--featurizers: unknown or unavailable curvature"),
        ({"num_points": 0}, "--num-points must be at least 1, got 0"),
        ({"views": -1}, "--views must be at least 1"),
        ({"image_size": 0}, "--image-size must be at least 1"),
        ({"options": {"partfield_points": 0}}, "--partfield-points must be at least 1, got 0"),
        ({"options": {"radius": 2}}, "options: no registered featurizer has radius"),
        ({"shapes_per_shard": 0}, "--shapes-per-shard"),
        ({"shapes_per_row_group": 0}, "--shapes-per-row-group"),
        ({"limit": 0}, "--limit must be at least 1"),
        ({"featurizers": ("partfield",), "emit_views": True}, "--emit-views needs a lifted"),
        ({"ontology": "no/such/ontology"}, "--ontology no/such/ontology"),
    ],
)
def test_options_that_cannot_run_are_refused_naming_the_flag(values, message):
    with pytest.raises(ConfigError) as caught:
        FeaturesConfig("out", **values).validated()
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_featurizers_are_sorted_once_and_name_the_folders():
    config = FeaturesConfig("gs://bucket/run/", featurizers=("rgb", "dinov2", "rgb")).validated()
    assert config.featurizers == ("dinov2", "rgb")
    assert config.lifted == {"dinov2", "rgb"} and config.uses_models
    assert (config.features_dir, config.views_dir) == (
        "gs://bucket/run/features",
        "gs://bucket/run/views",
    )
    assert not FeaturesConfig("out", featurizers=("rgb",)).random_init


def test_the_config_hash_follows_the_numbers_and_nothing_else():
    base = FeaturesConfig("out", featurizers=("rgb", "partfield"), models="random-init")
    same = FeaturesConfig("elsewhere", featurizers=("partfield", "rgb"), models="random-init")
    assert base.validated().config_hash == same.validated().config_hash
    assert len(base.config_hash) == 16
    changed = [
        FeaturesConfig("out", featurizers=("rgb", "partfield"), models="random-init", **change)
        for change in ({"num_points": 2048}, {"views": 6}, {"options": {"partfield_points": 5000}})
    ]
    hashes = {base.config_hash, *(config.config_hash for config in changed)}
    assert len(hashes) == 4
    # flags of featurizers that do not run change nothing
    plain = FeaturesConfig("out", featurizers=())
    other = FeaturesConfig("out", options={"partfield_points": 7}, views=3)
    assert plain.config_hash == other.config_hash
    assert "rig" not in plain.numeric_config and "models" not in plain.numeric_config


def test_a_local_checkpoint_is_located_and_fingerprinted_by_name_and_size(tmp_path):
    checkpoint = tmp_path / "weights.ckpt"
    checkpoint.write_bytes(b"\0" * 1234)
    for spelled in (str(checkpoint), checkpoint.as_uri()):
        config = FeaturesConfig(
            "out", featurizers=("partfield",), options={"partfield_checkpoint": spelled}
        ).with_weights()
        assert config.weights == {"partfield_weights": spelled}
        assert config.numeric_config["partfield_weights"] == "weights.ckpt:1234"
    other = tmp_path / "other" / "weights.ckpt"
    other.parent.mkdir()
    other.write_bytes(b"\0" * 1235)
    moved = FeaturesConfig(
        "out", featurizers=("partfield",), options={"partfield_checkpoint": str(other)}
    )
    assert moved.with_weights().config_hash != config.config_hash


def test_a_missing_checkpoint_stops_the_config_in_one_line(tmp_path):
    missing = str(tmp_path / "missing.ckpt")
    config = FeaturesConfig(
        "out", featurizers=("partfield",), options={"partfield_checkpoint": missing}
    )
    with pytest.raises(ModelUnavailableError, match=f"--partfield-checkpoint {missing}: no such"):
        config.with_weights()
    # random weights need no file
    random = FeaturesConfig("out", featurizers=("partfield",), models="random-init")
    assert random.with_weights() == random
    assert random.numeric_config["partfield_weights"] is None


def test_inputs_pair_with_the_source_before_them():
    given = [["--source", "glb"], ["--input", "a/"], ["--source", "partnet"]]
    assert paired_inputs(given) == (("glb", "a/"), ("partnet", bundled_samples("partnet")))
    assert paired_inputs([]) == tuple((name, bundled_samples(name)) for name in sorted(SOURCES))
    with pytest.raises(ConfigError, match="--input needs --source: a/"):
        paired_inputs([["--input", "a/"]])
    with pytest.raises(ConfigError, match="is given 2 times"):
        paired_inputs([["--source", "glb"], ["--input", "a/"]] * 2)


def test_discovery_sorts_cuts_to_the_limit_and_rejects_shared_shape_ids(tmp_path):
    first, second = folders_sharing_a_shape_id(tmp_path)
    inputs = (("glb", str(second)), ("glb", str(first)))

    found = discover_all(FeaturesConfig("out", inputs=inputs))
    assert [i.shape_id for i in found.inputs] == ["glb/chair", "glb/lamp"]
    assert [(e.shape_id, e.status) for e in found.rejected] == [("glb/mug", "failed")] * 2
    assert "2 inputs share the shape id glb/mug" in found.rejected[0].error
    assert found.candidates == 4
    limited = discover_all(FeaturesConfig("out", inputs=inputs, limit=1))
    assert [i.shape_id for i in limited.inputs] == ["glb/chair"] and not limited.rejected


def test_a_location_that_matches_nothing_is_a_config_error(tmp_path):
    config = FeaturesConfig("out", inputs=(("glb", str(tmp_path / "nothing-here")),))
    with pytest.raises(ConfigError, match="nothing-here"):
        discover_all(config)


def test_the_bundled_samples_of_every_source_are_found():
    config = FeaturesConfig("out", inputs=paired_inputs([]))
    found = discover_all(config)
    sources = {source_input.shape_id.split("/", 1)[0] for source_input in found.inputs}
    assert sources == set(SOURCES) and not found.rejected
    assert [i.shape_id for i in found.inputs] == sorted(i.shape_id for i in found.inputs)
