"""Mesa llvmpipe renders of one fixed scene, the reference of the NVIDIA EGL test.

The GPU machine has the NVIDIA driver's EGL but no Mesa, so the llvmpipe side of
``tests/test_cuda.py::test_egl_on_nvidia_draws_what_llvmpipe_draws`` is rendered here, on
a machine without a GPU, by ``benchmarks/gpu_prepare.sh``, and carried along. The file
records a fingerprint of the sources that decide what is drawn, so a reference rendered
by other code is refused rather than compared.

    python benchmarks/llvmpipe_reference.py OUT.npz

The scene: a glTF-textured box, a vertex-colored box and a smoothly colored sphere, each
its own piece, in 4 views of 160 px, in ``"shaded"`` and ``"unlit"`` modes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from featurizers.cameras import orbit_rig
from featurizers.rendering import gl_renderer, render_shape
from featurizers.sampling import sample_shape
from featurizers.shapes import ShapeRecord
from tests import render_fixtures

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Files whose content decides the reference images (repository-relative).
SOURCES = (
    "featurizers/rendering.py",
    "featurizers/cameras.py",
    "featurizers/sampling.py",
    "featurizers/shapes.py",
    "tests/render_fixtures.py",
    "benchmarks/llvmpipe_reference.py",
)

MODES = ("shaded", "unlit")


def fingerprint() -> str:
    """SHA-256 over the ``SOURCES`` files, in order."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode())
        digest.update((REPO_ROOT / name).read_bytes())
    return digest.hexdigest()


def scene() -> ShapeRecord:
    """Three pieces: textured box, vertex-colored box, smoothly colored sphere."""
    textured = render_fixtures.textured_box_glb()
    painted = render_fixtures.vertex_colored_box((0.5, 0.9, 0.4)).apply_translation([1.0, 0, 0])
    sphere = render_fixtures.smooth_colored_sphere(4)
    sphere.apply_scale(0.35).apply_translation([-0.2, 0.3, 0.7])
    return render_fixtures.record(textured, painted, sphere, shape_id="gpu_check/reference")


def render_scene() -> dict[str, np.ndarray]:
    """Buffers of the scene: ``rgb_<mode>`` (V, S, S, 3) uint8 per mode, and ``depth``
    (V, S, S) float32 and ``face_id`` (V, S, S) int32 of the shaded renders."""
    record = scene()
    sample = sample_shape(record)
    rig = orbit_rig(4, 160)
    arrays = {}
    for mode in MODES:
        renders = render_shape(record, rig, sample.center, sample.scale, mode=mode)
        arrays[f"rgb_{mode}"] = renders.rgb
        arrays["depth"], arrays["face_id"] = renders.depth, renders.face_id
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="the .npz file to write")
    args = parser.parse_args()
    renderer = gl_renderer()
    if "llvmpipe" not in renderer:
        raise SystemExit(f"llvmpipe_reference.py: EGL renders on {renderer!r}, not llvmpipe")
    arrays = render_scene()
    np.savez_compressed(args.output, fingerprint=fingerprint(), renderer=renderer, **arrays)
    print(f"wrote {args.output}: {', '.join(sorted(arrays))} rendered on {renderer}")


if __name__ == "__main__":
    main()
