"""The GPU paths, checked against their CPU counterparts on an NVIDIA GPU.

Every test here is marked ``cuda``: the default run deselects them (pyproject's addopts
``-m "not cuda"``), ``benchmarks/gpu_check.sh`` runs them with ``pytest -m cuda`` on a GPU
machine. A test whose optional package is missing there (DALI, moderngl, Beam) is skipped
with the package named. Random weights only; nothing is downloaded.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from featurizers.config import FeaturesConfig

pytestmark = pytest.mark.cuda

REPO_ROOT = Path(__file__).resolve().parent.parent
#: llvmpipe renders of ``benchmarks/llvmpipe_reference.py``'s scene, made by gpu_prepare.sh.
LLVMPIPE_REFERENCE = Path(
    os.environ.get("PARTBANK_LLVMPIPE_REFERENCE", REPO_ROOT / ".gpu-carry" / "llvmpipe_renders.npz")
)


@pytest.fixture(autouse=True)
def cuda() -> Iterator[None]:
    """Fail (not skip) without a GPU; TF32 off as in the pipeline's model stages."""
    if not torch.cuda.is_available():
        pytest.fail("no CUDA device: these tests run on a GPU machine (benchmarks/gpu_check.sh)")
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def need(module: str) -> ModuleType:
    """``module`` imported, or the test skipped naming the package that is not installed
    (e.g. DALI, moderngl or Beam, which the GPU machine may lack)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if module == error.name or module.startswith(f"{error.name}."):
            pytest.skip(f"{module} not installed")
        pytest.skip(f"{error.name} not installed (needed by {module})")


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """||actual - expected|| / ||expected|| over all elements, on the CPU in float32."""
    actual, expected = actual.float().cpu(), expected.float().cpu()
    return ((actual - expected).norm() / expected.norm()).item()


def uint8_views(count: int, size: int, seed: int = 0) -> np.ndarray:
    """(count, size, size, 3) random uint8 RGB images."""
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def test_dinov2_under_autocast_on_cuda_matches_fp32_on_cpu():
    from transformers import Dinov2Config

    dinov2 = need("featurizers.dinov2")
    config = Dinov2Config(
        hidden_size=96, num_hidden_layers=4, num_attention_heads=4, intermediate_size=384
    )
    views = uint8_views(6, 112)  # the model input size: no resampling on either path
    on_cpu = dinov2.Dinov2Featurizer("tiny", config=config, random_init=True, device="cpu")
    on_gpu = dinov2.Dinov2Featurizer("tiny", config=config, random_init=True, device="cuda")
    expected, actual = on_cpu(views), on_gpu(views)
    assert actual.is_cuda and actual.dtype == torch.float32
    assert actual.shape == expected.shape == (6, 96, 8, 8)
    assert relative_error(actual, expected) < 0.05  # bf16 (or fp16) autocast
    cosine = torch.nn.functional.cosine_similarity(actual.cpu(), expected, dim=1)
    assert cosine.min() > 0.98


def test_dali_gpu_preprocessing_matches_torch_ops():
    need("nvidia.dali")
    dinov2 = need("featurizers.dinov2")

    dali = dinov2.ViewPreprocessor(14, "cuda")
    assert dali.backend == "dali-gpu"
    reference = dinov2.ViewPreprocessor(14, "cuda")
    reference.backend = "torch"
    exact = uint8_views(4, 112)
    out = dali(exact)
    assert out.is_cuda and out.shape == (4, 3, 112, 112)
    torch.testing.assert_close(out, reference(exact), atol=1e-5, rtol=0)
    resized = uint8_views(4, 150, seed=1)
    assert (dali(resized) - reference(resized)).abs().mean() < 0.02  # resampling filters differ
    assert dali(uint8_views(7, 112)).shape == (7, 3, 112, 112)  # larger batch: rebuilt pipeline


def partfield_inputs(points: int, queries: int, batch: int = 1) -> tuple[torch.Tensor, ...]:
    """(batch, points, 3) encoder points and (batch, queries, 3) queries in PartField's box."""
    generator = torch.Generator().manual_seed(batch)
    xyz = torch.rand(batch, points + queries, 3, generator=generator) * 1.8 - 0.9
    return xyz[:, :points], xyz[:, points:]


def test_partfield_on_cuda_fp32_matches_cpu_and_fp16_autocast_stays_close():
    partfield = need("featurizers.partfield")

    torch.manual_seed(0)
    model = partfield.PartField().eval()
    points, query = partfield_inputs(10_000, 2_000)
    expected = model.features(points, query)
    model = model.cuda()
    exact = model.features(points.cuda(), query.cuda())
    with torch.autocast("cuda", dtype=torch.float16):
        mixed = model.features(points.cuda(), query.cuda())
    assert exact.shape == mixed.shape == expected.shape
    assert torch.isfinite(mixed).all()
    assert relative_error(exact, expected) < 1e-3
    assert relative_error(mixed, exact) < 0.05


def test_partfield_batches_on_cuda_like_single_shapes_and_like_the_cpu():
    featurizer = need("featurizers.partfield.featurizer")
    from featurizers.partfield.config import PartFieldConfig

    points, query = partfield_inputs(8_000, 500, batch=3)
    pairs = zip(points.numpy(), query.numpy(), strict=True)
    examples = [featurizer.PartFieldExample(p, q) for p, q in pairs]
    models = {
        device: featurizer.load_partfield(
            PartFieldConfig(),
            FeaturesConfig("out", featurizers=("partfield",), models="random-init", device=device),
        )
        for device in ("cuda", "cpu")
    }
    assert next(models["cuda"].parameters()).is_cuda
    batched = [torch.from_numpy(f) for f in featurizer.partfield_batch(models["cuda"], examples)]
    for example, features in zip(examples, batched, strict=True):
        assert features.dtype == torch.float16 and features.shape == (500, 448)
        (alone,) = featurizer.partfield_batch(models["cuda"], [example])
        assert relative_error(features, torch.from_numpy(alone)) < 1e-2
    # fp32 on the CPU, stored as fp16
    (reference,) = featurizer.partfield_batch(models["cpu"], examples[:1])
    assert relative_error(batched[0], torch.from_numpy(reference)) < 0.05


def test_lifting_on_cuda_matches_the_cpu():
    render_fixtures = need("tests.render_fixtures")
    need("featurizers.rendering")
    from featurizers.cameras import orbit_rig
    from featurizers.lifting import lift, lift_rgb, locate_points
    from featurizers.rendering import render_shape
    from featurizers.sampling import sample_shape

    record = render_fixtures.table(dense=True)
    sample = sample_shape(record)
    renders = render_shape(record, orbit_rig(8, 224), sample.center, sample.scale)
    located = {
        device: locate_points(
            sample.points, renders, sample.face_index, sample.normals, device=device
        )
        for device in ("cpu", "cuda")
    }
    on_cpu, on_gpu = located["cpu"], located["cuda"]
    assert on_gpu.visible.is_cuda
    agree = (on_gpu.visible.cpu() == on_cpu.visible).float().mean().item()
    assert agree > 0.999  # a visibility test on the tolerance's edge may flip
    grids = torch.randn(8, 16, 16, 16, generator=torch.Generator().manual_seed(0))
    lifted_cpu, lifted_gpu = lift(grids, on_cpu), lift(grids.cuda(), on_gpu)
    same_views = (on_gpu.visible.cpu() == on_cpu.visible).all(0)
    assert same_views.float().mean() > 0.99
    # unseen points are filled from seen neighbours, so compare the points seen alike
    compare = (same_views & on_cpu.visible.any(0)).numpy()
    assert compare.mean() > 0.5
    torch.testing.assert_close(lifted_gpu.cpu()[compare], lifted_cpu[compare], atol=1e-4, rtol=1e-4)
    colors_cpu, colors_gpu = lift_rgb(renders, on_cpu), lift_rgb(renders, on_gpu)
    assert np.abs(colors_gpu[compare].astype(int) - colors_cpu[compare]).max() <= 1


def test_egl_on_nvidia_draws_what_llvmpipe_draws():
    llvmpipe_reference = need("benchmarks.llvmpipe_reference")
    from featurizers.rendering import gl_renderer

    renderer = gl_renderer()
    assert "llvmpipe" not in renderer, f"EGL renders on {renderer!r}, not on the NVIDIA driver"
    if not LLVMPIPE_REFERENCE.is_file():
        pytest.skip(f"no llvmpipe reference at {LLVMPIPE_REFERENCE} (benchmarks/gpu_prepare.sh)")
    reference = np.load(LLVMPIPE_REFERENCE)
    assert str(reference["fingerprint"]) == llvmpipe_reference.fingerprint(), (
        f"{LLVMPIPE_REFERENCE} was rendered by other renderer sources: rerun gpu_prepare.sh"
    )
    nvidia = llvmpipe_reference.render_scene()
    ids_agree = nvidia["face_id"] == reference["face_id"]
    assert ids_agree.mean() > 0.99  # edges may rasterize to the other triangle
    covered = ids_agree & (reference["face_id"] >= 0)
    assert covered.mean() > 0.05  # the scene covers ~15% of the pixels
    depth = np.abs(nvidia["depth"] - reference["depth"])[covered]
    assert depth.max() < 1e-3
    for mode in llvmpipe_reference.MODES:
        key = f"rgb_{mode}"
        difference = np.abs(nvidia[key].astype(int) - reference[key])[covered]
        assert difference.mean() < 1.0, key
        assert np.percentile(difference, 99) <= 8, key  # texture filtering may differ
