"""End-to-end throughput of render + DINOv2 + lift (``--featurizers dinov2``), in process.

Each shape: sample 10k points, render ``--views`` shaded views at ``--image-size`` px,
DINOv2 patch grids of all views (``--batch-shapes`` shapes per forward pass, as
RunInference batches them), lift onto the points (float16). Random weights with the
published architectures, so nothing is downloaded. Prints per-stage ms/shape and shapes/s
of this sequential loop, and DINOv2 alone in shapes/s:

  * on the CPU (unless ``--no-cpu``): ``facebook/dinov2-small``-sized weights;
  * when CUDA is available, on the GPU: ``facebook/dinov2-base``-sized weights at 12 x 448,
    with render ms/view (and which OpenGL renderer drew them), DINOv2 views/s, lift
    ms/shape, peak GPU memory and the mean GPU utilization (``nvidia-smi``) over the timed
    loop; ``--rows PATH`` appends these GPU figures for ``gpu_check.sh``.

    python benchmarks/dinov2_lift.py [--shapes 3] [--gpu-shapes 64] [--views 12]
        [--image-size 448] [--batch-shapes 8] [--no-cpu] [--rows PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.figures import add_rows_option, append_rows
from featurizers.cameras import orbit_rig
from featurizers.dinov2 import Dinov2Featurizer
from featurizers.lifting import lift, locate_points
from featurizers.rendering import gl_renderer, render_shape
from featurizers.sampling import sample_shape
from tests import render_fixtures


@contextlib.contextmanager
def gpu_utilization(samples: list[float]):
    """Poll ``nvidia-smi`` every 0.2 s while the block runs, appending percentages."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.2):
            with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                    check=True,
                ).stdout
                samples.append(float(out.split()[0]))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run(
    model: str, device: str, shapes: int, views: int, size: int, batch: int
) -> list[tuple[str, str]]:
    """Time ``shapes`` shapes in batches of ``batch``; print and return the figures."""
    featurizer = Dinov2Featurizer(model, random_init=True, device=device)
    rig = orbit_rig(views, size)
    shape = render_fixtures.record(render_fixtures.colored_torus(), shape_id="bench/torus")
    print(
        f"{model} (random weights) on {featurizer.device}, preprocessing: "
        f"{featurizer.preprocess.backend}; {len(shape.geometry.faces)}-face mesh, "
        f"{views} x {size} px views, {batch} shape(s) per DINOv2 batch; "
        f"rendering on {gl_renderer()}"
    )

    def one_batch(count: int, timings: dict[str, float]) -> None:
        clock = time.perf_counter()
        samples = [sample_shape(shape) for _ in range(count)]
        now = time.perf_counter()
        timings["sample"] += now - clock
        clock = now
        renders = [render_shape(shape, rig, s.center, s.scale) for s in samples]
        now = time.perf_counter()
        timings["render"] += now - clock
        clock = now
        grids = featurizer(np.concatenate([r.rgb for r in renders]))
        if grids.is_cuda:
            torch.cuda.synchronize()
        now = time.perf_counter()
        timings["dinov2"] += now - clock
        clock = now
        for k, (s, r) in enumerate(zip(samples, renders, strict=True)):
            located = locate_points(s.points, r, s.face_index, s.normals, device=device)
            lift(grids[k * views : (k + 1) * views], located).half().cpu().numpy()
        timings["lift"] += time.perf_counter() - clock

    one_batch(batch, dict.fromkeys(("sample", "render", "dinov2", "lift"), 0.0))  # warm up
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    timings = dict.fromkeys(("sample", "render", "dinov2", "lift"), 0.0)
    utilization: list[float] = []
    monitor = gpu_utilization(utilization) if device == "cuda" else contextlib.nullcontext()
    start = time.perf_counter()
    with monitor:
        for first in range(0, shapes, batch):
            one_batch(min(batch, shapes - first), timings)
    total = time.perf_counter() - start
    stages = "  ".join(f"{name} {1000 * t / shapes:.0f}" for name, t in timings.items())
    print(f"  ms/shape: {stages}")
    print(
        f"  end to end: {shapes / total:.2f} shapes/s (sequential, one process); "
        f"DINOv2 alone: {shapes / timings['dinov2']:.2f} shapes/s"
    )
    figures = [
        (f"render ms/view ({gl_renderer()})", f"{1000 * timings['render'] / shapes / views:.2f}"),
        (
            f"{model.split('/')[-1]} {views}x{size} views/s ({featurizer.preprocess.backend})",
            f"{shapes * views / timings['dinov2']:.1f}",
        ),
        ("lift ms/shape", f"{1000 * timings['lift'] / shapes:.1f}"),
        ("end to end shapes/s (sequential)", f"{shapes / total:.2f}"),
    ]
    print(f"  DINOv2: {figures[1][1]} views/s")
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
        figures.append(("peak GPU memory GiB (torch)", f"{peak:.2f}"))
        print(f"  peak GPU memory (torch allocations): {peak:.2f} GiB")
    if utilization:
        print(f"  GPU utilization: mean {np.mean(utilization):.0f}% over {len(utilization)} polls")
        figures.append(("GPU utilization % (mean)", f"{np.mean(utilization):.0f}"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=3, help="timed shapes on the CPU")
    parser.add_argument("--gpu-shapes", type=int, default=64, help="timed shapes on the GPU")
    parser.add_argument("--views", type=int, default=12)
    parser.add_argument("--image-size", type=int, default=448)
    parser.add_argument("--batch-shapes", type=int, default=8, help="shapes per GPU batch")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU measurements")
    add_rows_option(parser)
    args = parser.parse_args()
    size, views = args.image_size, args.views
    if not args.no_cpu:
        run("facebook/dinov2-small", "cpu", args.shapes, views, size, batch=1)
    if torch.cuda.is_available():
        figures = run(
            "facebook/dinov2-base", "cuda", args.gpu_shapes, views, size, args.batch_shapes
        )
        append_rows(args.rows, "dinov2_lift", figures)
    else:
        print("no CUDA device: GPU figures (dinov2-base, 12 x 448) skipped")
        append_rows(args.rows, "dinov2_lift", [("GPU figures", "not run: no CUDA device")])


if __name__ == "__main__":
    main()
