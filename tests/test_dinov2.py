"""DINOv2 featurizer: patch grids, preprocessing backends, weights resolution and errors.

Only tiny randomly initialized models; nothing is downloaded (HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import logging
import sys

import huggingface_hub
import numpy as np
import pytest
import torch
from transformers import Dinov2Config, Dinov2Model, Dinov2WithRegistersConfig

from featurizers.dinov2 import (
    Dinov2Featurizer,
    ModelUnavailableError,
    ViewPreprocessor,
    input_size,
    load_dinov2,
    patch_features,
    resolve_weights,
)

TINY = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "patch_size": 14}


def views(count: int = 3, size: int = 112, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def test_random_init_is_reproducible_and_gives_patch_grids():
    config = Dinov2Config(num_hidden_layers=2, **TINY)
    first = Dinov2Featurizer("tiny", config=config, random_init=True)
    second = Dinov2Featurizer("tiny", config=config, random_init=True)
    grids = first(views())
    assert grids.shape == (3, 32, 8, 8) and grids.dtype == torch.float32
    assert first.dim == 32
    torch.testing.assert_close(grids, second(views()))


def test_patch_tokens_land_on_their_grid_cells():
    """Without transformer layers every output token depends on its own patch only, so
    changing the patch at (row 1, column 3) changes exactly grid cell (1, 3)."""
    model = Dinov2Model(Dinov2Config(num_hidden_layers=0, **TINY)).eval()
    pixels = torch.randn(1, 3, 56, 56)
    changed = pixels.clone()
    changed[:, :, 14:28, 42:56] += 1.0
    difference = (patch_features(model, changed) - patch_features(model, pixels)).abs().sum(1)[0]
    assert difference[1, 3] > 0
    difference[1, 3] = 0
    assert difference.max() == 0


def test_register_tokens_are_dropped():
    config = Dinov2WithRegistersConfig(num_hidden_layers=1, num_register_tokens=4, **TINY)
    model = load_dinov2("tiny-registers", random_init=True, config=config, device="cpu")
    assert patch_features(model, torch.randn(2, 3, 42, 42)).shape == (2, 32, 3, 3)


def test_published_variants_build_offline_with_random_weights():
    model = load_dinov2("facebook/dinov2-with-registers-small", random_init=True, device="cpu")
    assert model.config.hidden_size == 384 and model.config.num_register_tokens == 4


def test_input_size_is_the_nearest_patch_multiple():
    assert [input_size(s) for s in (448, 224, 500, 5)] == [448, 224, 504, 14]


@pytest.mark.gpu_extra
def test_dali_and_torch_preprocessing_agree():
    pytest.importorskip("nvidia.dali")
    dali = ViewPreprocessor(14, "cpu")
    assert dali.backend == "dali-cpu"
    reference = ViewPreprocessor(14, "cpu")
    reference.backend = "torch"
    torch.testing.assert_close(dali(views()), reference(views()), atol=1e-5, rtol=0)
    resized = views(size=150)
    assert (dali(resized) - reference(resized)).abs().mean() < 0.02  # resampling filters differ
    assert dali(views(count=5)).shape == (5, 3, 112, 112)  # larger batch: rebuilt pipeline


def test_torch_fallback_when_dali_is_missing(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "nvidia.dali", None)  # import raises ImportError
    with caplog.at_level(logging.INFO, logger="featurizers.dinov2"):
        preprocess = ViewPreprocessor(14, "cpu")
    assert preprocess.backend == "torch"
    assert "DALI unavailable" in caplog.text
    batch = preprocess(views())
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = (torch.from_numpy(views()).permute(0, 3, 1, 2) / 255 - mean) / std
    torch.testing.assert_close(batch, expected)


def test_missing_weights_stop_with_one_line_naming_the_model(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailableError) as caught:
        resolve_weights("facebook/dinov2-base")
    message = str(caught.value)
    assert "\n" not in message
    assert "'facebook/dinov2-base'" in message and "HF_HUB_OFFLINE" in message
    assert "hf download facebook/dinov2-base" in message and "random-init" in message
    with pytest.raises(ModelUnavailableError):
        Dinov2Featurizer("facebook/dinov2-base")


def test_local_folder_with_weights_loads(tmp_path):
    original = Dinov2Model(Dinov2Config(num_hidden_layers=1, **TINY))
    original.save_pretrained(tmp_path)
    assert resolve_weights(str(tmp_path)) == tmp_path
    loaded = load_dinov2(str(tmp_path), device="cpu")
    for name, tensor in original.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)


def test_folder_without_weights_or_unknown_random_init_name_is_an_error(tmp_path):
    Dinov2Config(**TINY).save_pretrained(tmp_path)
    with pytest.raises(ModelUnavailableError, match="lacks config"):
        resolve_weights(str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="no known architecture"):
        load_dinov2("someone/some-model", random_init=True)
