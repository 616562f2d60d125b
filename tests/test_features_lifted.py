"""--featurizers rgb,dinov2 and --emit-views through the pipeline on the local runner."""

from __future__ import annotations

import io
import json

import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image
from transformers import Dinov2Config

import beam_runner
from featurizers.cameras import orbit_rig
from featurizers.dinov2 import Dinov2Featurizer
from featurizers.lifting import lift, locate_points
from featurizers.rendering import render_shape
from featurizers.sampling import sample_shape
from pipelines import sample_data
from pipelines.features import RUN_FILE
from pipelines.sources import SOURCES
from schemas.reader import ShardReader
from tests.features_output import committed_shards
from tests.render_fixtures import layered_box_gltf, tiled_box_gltf

VIEWS, IMAGE_SIZE = 12, 448  # the default rig


@pytest.fixture(scope="module")
def tiny_dinov2(tmp_path_factory):
    """A local model folder holding only a tiny DINOv2 architecture (for random init)."""
    folder = tmp_path_factory.mktemp("dinov2-tiny")
    config = Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    config.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def colored_dataset(tmp_path_factory):
    """3DCoMPaT++-format shapes whose parts have flat, distinct base colors."""
    folder = tmp_path_factory.mktemp("colored")
    sample_data.write_gltf(folder / "models" / "0c_001.gltf", sample_data.chair())
    sample_data.write_gltf(folder / "models" / "25_001.gltf", sample_data.table())
    return folder


@pytest.fixture(scope="module")
def lifted_run(tmp_path_factory, colored_dataset, tiny_dinov2):
    out = tmp_path_factory.mktemp("lifted")
    args = [
        "--pipeline", "features", "--source", "3dcompat", "--input", str(colored_dataset),
        "--output", str(out), "--featurizers", "rgb,dinov2", "--models", "random-init",
        "--dinov2-model", str(tiny_dinov2), "--views", str(VIEWS),
        "--image-size", str(IMAGE_SIZE), "--num-points", "3000", "--emit-views",
    ]  # fmt: skip
    assert beam_runner.main(args) == 0
    return out


def test_rgb_round_trip_gives_true_surface_colors(lifted_run, colored_dataset):
    source = SOURCES["3dcompat"]()
    inputs = {i.shape_id: i for i in source.discover(str(colored_dataset))}
    shapes = list(ShardReader(lifted_run / "features"))
    assert len(shapes) == 2
    for shape in shapes:
        truth = sample_shape(source.load(inputs[shape["shape_id"]]), 3000).colors
        seen = shape["views_seen"] > 0
        assert seen.mean() >= 0.95
        error = np.abs(shape["rgb"].astype(int) - truth.astype(int)).max(axis=1)
        assert (error[seen] <= 8).mean() >= 0.99


def test_rgb_of_tiled_and_layered_gltf_files(tmp_path):
    """glTF files through the ``glb`` source and the pipeline: a texture tiled with UVs far
    outside 0..1 and decal plates just above a base come back as the sampler's colors,
    the base under the decals seen by no view."""
    dataset = tmp_path / "assets"
    tiled_box_gltf(dataset)
    layered_box_gltf(dataset)
    args = [
        "--pipeline", "features", "--source", "glb", "--input", str(dataset),
        "--output", str(tmp_path / "out"), "--featurizers", "rgb", "--num-points", "3000",
    ]  # fmt: skip
    assert beam_runner.main(args) == 0
    shapes = {shape["shape_id"]: shape for shape in ShardReader(tmp_path / "out" / "features")}
    source = SOURCES["glb"]()
    inputs = {i.shape_id: i for i in source.discover(str(dataset))}
    assert sorted(shapes) == sorted(inputs) == ["glb/layered/layered", "glb/tiled/tiled"]
    for name, shape in shapes.items():
        truth = sample_shape(source.load(inputs[name]), 3000)
        seen = shape["views_seen"] > 0
        error = np.abs(shape["rgb"].astype(int) - truth.colors.astype(int)).max(axis=1)
        assert (error[seen] <= 8).mean() >= 0.99, name
    record = source.load(inputs["glb/layered/layered"])
    truth = sample_shape(record, 3000)
    world = truth.points * truth.scale + truth.center
    inside = np.abs(world) < np.array([1.0, 0.6, 0.8]) / 4 - 0.02  # the decals' outline
    under = (truth.point_part == record.part_names.index("base")) & (inside.sum(axis=1) == 2)
    layered = shapes["glb/layered/layered"]
    assert under.sum() > 100 and (layered["views_seen"][under] == 0).all()


def test_dino_equals_the_featurizers_run_directly(lifted_run, colored_dataset, tiny_dinov2):
    source = SOURCES["3dcompat"]()
    inputs = {i.shape_id: i for i in source.discover(str(colored_dataset))}
    shape = next(iter(ShardReader(lifted_run / "features")))
    assert shape["dino"].shape == (3000, 32) and shape["dino"].dtype == np.float16
    record = source.load(inputs[shape["shape_id"]])
    sample = sample_shape(record, 3000)
    renders = render_shape(
        record, orbit_rig(VIEWS, IMAGE_SIZE), sample.center, sample.scale, mode="shaded"
    )
    located = locate_points(sample.points, renders, sample.face_index, sample.normals, device="cpu")
    np.testing.assert_array_equal(shape["views_seen"], located.views_seen)
    featurizer = Dinov2Featurizer(str(tiny_dinov2), random_init=True, device="cpu")
    grids = featurizer(renders.rgb).to(torch.float16).float()
    expected = lift(grids, located).numpy()
    np.testing.assert_allclose(shape["dino"].astype(np.float32), expected, atol=2e-2, rtol=1e-2)


def test_random_init_dinov2_marked(lifted_run):
    run = json.loads((lifted_run / RUN_FILE).read_text())
    assert run["models"] == "random-init"
    assert run["config"]["rig"] == {"views": VIEWS, "image_size": IMAGE_SIZE}
    assert "llvmpipe" in run["renderer"] or run["renderer"]


def located_points(shape_id: str, dataset):
    """The shape's sampled points located in the default rig (the pipeline's visibility)."""
    source = SOURCES["3dcompat"]()
    (source_input,) = [i for i in source.discover(str(dataset)) if i.shape_id == shape_id]
    record = source.load(source_input)
    sample = sample_shape(record, 3000)
    renders = render_shape(
        record, orbit_rig(VIEWS, IMAGE_SIZE), sample.center, sample.scale, mode="shaded"
    )
    return locate_points(sample.points, renders, sample.face_index, sample.normals, device="cpu")


def test_emitted_label_maps_agree_with_point_labels(lifted_run, colored_dataset):
    # each committed shard's views file has the shard's name
    views = pl.concat(
        pl.read_parquet(lifted_run / "views" / shard.name) for shard in committed_shards(lifted_run)
    )
    shapes = {s["shape_id"]: s for s in ShardReader(lifted_run / "features")}
    assert views.height == VIEWS * len(shapes)
    agree = total = 0
    for (shape_id,), group in views.group_by("shape_id"):
        shape = shapes[shape_id]
        located = located_points(shape_id, colored_dataset)
        homogeneous = np.c_[shape["points"], np.ones(len(shape["points"]))]
        for row in group.iter_rows(named=True):
            labels = np.asarray(Image.open(io.BytesIO(row["label_png"]))).astype(np.int32) - 1
            assert np.asarray(Image.open(io.BytesIO(row["rgb_png"]))).shape == (
                IMAGE_SIZE, IMAGE_SIZE, 3,
            )  # fmt: skip
            # project with the table's own camera
            camera = (np.reshape(row["extrinsics"], (4, 4)) @ homogeneous.T)[:3]
            pixel = np.reshape(row["intrinsics"], (3, 3)) @ camera
            column, line = np.floor(pixel[:2] / pixel[2]).astype(int).clip(0, IMAGE_SIZE - 1)
            seen = located.visible[row["view"]].numpy()
            agree += (labels[line, column][seen] == shape["point_part"][seen]).sum()
            total += seen.sum()
    assert total > 0 and agree / total >= 0.99


def test_missing_dinov2_weights_stop_the_run(tmp_path, capsys):
    code = beam_runner.main(
        ["--pipeline", "features", "--featurizers", "dinov2", "--output", str(tmp_path)]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "facebook/dinov2-base" in err[0]


def test_emit_views_needs_a_lifted_featurizer(tmp_path, capsys):
    code = beam_runner.main(["--pipeline", "features", "--emit-views", "--output", str(tmp_path)])
    assert code == 2 and "--emit-views" in capsys.readouterr().err


def test_pretrained_dinov2_from_a_local_folder(tmp_path, colored_dataset):
    import torch
    from transformers import Dinov2Model

    folder = tmp_path / "dinov2-local"
    torch.manual_seed(1)
    Dinov2Model(
        Dinov2Config(
            hidden_size=48, num_hidden_layers=1, num_attention_heads=2, intermediate_size=96
        )
    ).save_pretrained(folder)
    out = tmp_path / "out"
    args = [
        "--pipeline", "features", "--source", "3dcompat", "--input", str(colored_dataset),
        "--output", str(out), "--featurizers", "dinov2", "--dinov2-model", str(folder),
        "--views", "4", "--image-size", "112", "--num-points", "500", "--limit", "1",
    ]  # fmt: skip
    assert beam_runner.main(args) == 0
    (shape,) = list(ShardReader(out / "features"))
    assert shape["dino"].shape == (500, 48)
    run = json.loads((out / RUN_FILE).read_text())
    assert run["models"] == "pretrained" and run["config"]["dinov2_model"] == str(folder)
