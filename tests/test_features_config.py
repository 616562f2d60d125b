"""The features config and input discovery: the launcher's checks called as plain functions,
and what discovery inside the pipeline gives, read from a real run's manifest."""

from __future__ import annotations

import subprocess
import sys

import pytest

from featurizers.config import ConfigError, FeaturesConfig
from featurizers.dinov2 import DEFAULT_MODEL as DINOV2_DEFAULT_MODEL
from featurizers.partfield import DEFAULT_PARTFIELD_POINTS
from featurizers.sampling import DEFAULT_SHAPE_POINTS
from pipelines import sample_data
from pipelines.sources import SOURCES
from pipelines.sources.discovery import bundled_samples, check_location, paired_inputs
from schemas.common import ModelUnavailableError
from tests.conftest import REPO_ROOT
from tests.features_output import latest_manifest
from tests.test_features_robustness import folders_sharing_a_shape_id, run_features


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


def test_a_run_rejects_shared_shape_ids_and_cuts_to_the_limit_by_shape_id(tmp_path):
    first, second = folders_sharing_a_shape_id(tmp_path)
    args = ["--source", "glb", "--input", str(second), "--source", "glb", "--input", str(first)]
    args += ["--featurizers", "none"]

    out = tmp_path / "all"
    assert run_features(*args, "--output", str(out)) == 0
    manifest = latest_manifest(out)
    assert manifest.select("shape_id", "status").rows() == [
        ("glb/chair", "ok"),
        ("glb/lamp", "ok"),
        ("glb/mug", "failed"),
        ("glb/mug", "failed"),
    ]
    assert "2 inputs share the shape id glb/mug" in manifest["error"][2]
    assert manifest["uri"][2:].to_list() == sorted(
        [str(first / "mug.glb"), str(second / "mug.glb")]
    )

    limited = tmp_path / "limited"
    assert run_features(*args, "--limit", "1", "--output", str(limited)) == 0
    assert latest_manifest(limited).select("shape_id", "status").rows() == [("glb/chair", "ok")]


def test_a_location_that_matches_nothing_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"--source glb --input .*nothing-here matches nothing"):
        check_location("glb", str(tmp_path / "nothing-here"))
    with pytest.raises(ConfigError, match="matches nothing"):
        check_location("partnet", str(tmp_path / "nothing-*"))


def test_a_malformed_metadata_csv_is_a_config_error_and_a_good_one_passes(tmp_path):
    folder = tmp_path / "assets"
    sample_data.write_glb(folder / "mug.glb", sample_data.mug())
    (folder / "metadata.csv").write_text("path,category\nmug.glb,mug\n")
    check_location("glb", str(folder))
    (folder / "metadata.csv").write_text('path,category\n"mug.glb,mug\n')
    with pytest.raises(ConfigError, match=r"metadata\.csv"):
        check_location("glb", str(folder))


def test_the_bundled_samples_of_every_source_are_found_sorted():
    for name, location in paired_inputs([]):
        check_location(name, location)
        found = SOURCES[name]().discover(location)
        assert found, name
        assert {i.shape_id.split("/", 1)[0] for i in found} == {name}
        ids = [i.shape_id for i in found]
        assert ids == sorted(set(ids))  # sorted, and no shape id shared (none would run)
