"""PartField port: parity with upstream (tests/fixtures/partfield), checkpoints, preprocessing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from featurizers.partfield import (
    CheckpointError,
    PartField,
    from_partbank_frame,
    normalize_mesh,
    sample_points,
)
from featurizers.partfield.featurizer import TINY_ARCHITECTURE
from tests.conftest import FIXTURES


class Hyper(dict):
    """Stands for a config object pickled into a Lightning checkpoint (e.g. yacs' CfgNode)."""


def is_norm_scale(key: str) -> bool:
    parts = key.split(".")
    return parts[-1] == "weight" and parts[-2].startswith("norm")


def fill_weights(model: PartField) -> PartField:
    """The fixture's fill rule: one seeded generator, keys in sorted order, 0.02 * randn (+1)."""
    generator = torch.Generator().manual_seed(1234)
    state = model.state_dict()
    with torch.no_grad():
        for key in sorted(state):
            value = torch.randn(state[key].shape, generator=generator, dtype=torch.float32) * 0.02
            state[key].copy_(value + 1.0 if is_norm_scale(key) else value)
    return model


@pytest.fixture(scope="module")
def fixture_dir() -> Path:
    return FIXTURES / "partfield"


@pytest.fixture(scope="module")
def filled(fixture_dir: Path) -> PartField:
    return fill_weights(PartField()).eval()


def tiny_model(seed: int = 0) -> PartField:
    torch.manual_seed(seed)
    return PartField(TINY_ARCHITECTURE).eval()


def test_state_dict_is_upstreams(fixture_dir: Path) -> None:
    expected = json.loads((fixture_dir / "state_dict_shapes.json").read_text())
    got = [
        [k, list(v.shape), str(v.dtype).removeprefix("torch.")]
        for k, v in PartField().state_dict().items()
    ]
    assert got == expected


def test_fill_matches_checksums(filled: PartField, fixture_dir: Path) -> None:
    state = filled.state_dict()
    records = json.loads((fixture_dir / "filled_weights_checksums.json").read_text())
    assert sum(r["is_norm_scale"] for r in records) == 31
    for record in records[:: len(records) // 12] + records[-1:]:
        value = state[record["key"]]
        digest = hashlib.sha256(value.numpy().astype("<f4").tobytes()).hexdigest()
        assert digest == record["sha256_le_bytes"], record["key"]
        assert is_norm_scale(record["key"]) == record["is_norm_scale"]


def test_parity_with_upstream(filled: PartField, fixture_dir: Path) -> None:
    points = torch.from_numpy(np.load(fixture_dir / "input_points.npy"))
    query = torch.from_numpy(np.load(fixture_dir / "query_points.npy"))
    expected = np.load(fixture_dir / "expected_part_features.npy").astype(np.float64)
    got = filled.features(points, query)
    assert got.shape == (2000, 448) and got.dtype == torch.float32
    diff = got.numpy().astype(np.float64) - expected
    max_abs = np.abs(diff).max()
    rel_fro = np.linalg.norm(diff) / np.linalg.norm(expected)
    assert max_abs <= 2e-4 and rel_fro <= 2e-5, (
        f"max abs {max_abs:.3g}, rel Frobenius {rel_fro:.3g}"
    )


def test_lightning_checkpoint_loads(filled: PartField, tmp_path: Path) -> None:
    path = tmp_path / "model.ckpt"
    torch.save(
        {
            "epoch": 3,
            "state_dict": {f"model.{k}": v for k, v in filled.state_dict().items()},
            "optimizer_states": [{"state": {0: {"exp_avg": torch.zeros(2)}}, "param_groups": []}],
            "hyper_parameters": {"cfg": Hyper(lr=1e-4)},
        },
        path,
    )
    model = PartField().load_checkpoint(path)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in filled.state_dict().items())


def test_bare_state_dict_loads(tmp_path: Path) -> None:
    source, target = tiny_model(0), tiny_model(1)
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    assert target.load_checkpoint(tmp_path / "weights.pt") is target
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_missing_key_is_named(tmp_path: Path) -> None:
    state = tiny_model().state_dict()
    del state["pvcnn.unet_encoder.conv_final.bias"]
    torch.save({"state_dict": state}, tmp_path / "broken.ckpt")
    with pytest.raises(
        CheckpointError, match=r"missing key 'pvcnn\.unet_encoder\.conv_final\.bias'"
    ):
        tiny_model().load_checkpoint(tmp_path / "broken.ckpt")


def test_misshapen_key_is_named(tmp_path: Path) -> None:
    state = tiny_model().state_dict()
    state["triplane_transformer.pos_embed"] = torch.zeros(1, 5, 32)
    torch.save(state, tmp_path / "broken.pt")
    with pytest.raises(
        CheckpointError, match=r"'triplane_transformer\.pos_embed' has shape \(1, 5, 32\)"
    ):
        tiny_model().load_checkpoint(tmp_path / "broken.pt")


def test_unexpected_key_is_named(tmp_path: Path) -> None:
    state = {**tiny_model().state_dict(), "extra.weight": torch.zeros(1)}
    torch.save(state, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match=r"unexpected key 'extra\.weight'"):
        tiny_model().load_checkpoint(tmp_path / "broken.pt")


def test_batch_matches_single_shapes() -> None:
    model = tiny_model()
    generator = torch.Generator().manual_seed(0)
    points = torch.rand(2, 500, 3, generator=generator) * 1.8 - 0.9
    query = torch.rand(2, 40, 3, generator=generator) * 1.8 - 0.9
    batched = model.features(points, query)
    assert batched.shape == (2, 40, TINY_ARCHITECTURE.part_channels)
    for b in range(2):
        torch.testing.assert_close(batched[b], model.features(points[b], query[b]))
    assert model.features(points[0]).shape == (500, TINY_ARCHITECTURE.part_channels)


def test_autocast_gives_float32_close_to_fp32() -> None:
    model = tiny_model()
    points = torch.rand(300, 3, generator=torch.Generator().manual_seed(1)) * 1.8 - 0.9
    reference = model.features(points)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model.features(points)
    assert mixed.dtype == torch.float32
    assert (mixed - reference).norm() / reference.norm() < 0.05


def test_preprocessing_frames() -> None:
    mesh = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    mesh.apply_translation((3.0, -1.0, 0.25))
    normalized = normalize_mesh(mesh)
    np.testing.assert_allclose(normalized.bounds, [[-0.9, -0.45, -0.225], [0.9, 0.45, 0.225]])
    points = sample_points(mesh, num_points=1000, seed=3)
    assert points.shape == (1000, 3) and points.dtype == np.float32
    assert np.abs(points).max() <= 0.9 + 1e-6
    # partbank's frame: (xyz - bbox centre) / longest side.
    center, longest = mesh.bounds.mean(axis=0), mesh.extents.max()
    xyz = np.asarray(mesh.vertices)
    np.testing.assert_allclose(
        from_partbank_frame((xyz - center) / longest), normalized.vertices, atol=1e-6
    )


def test_no_beam_import() -> None:
    code = "import sys, featurizers.partfield; assert 'apache_beam' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
