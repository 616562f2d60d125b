"""End-to-end throughput of render + DINOv2 + lift (``--featurizers dinov2``), in process.

Each shape: sample 10k points, render ``--views`` shaded views at ``--image-size`` px,
DINOv2 patch grids of all views (``--batch-shapes`` shapes per forward pass, as
RunInference batches them), lift onto the points (float16). Random weights with the
published architectures, so nothing is downloaded. Prints per-stage ms/shape and shapes/s
of this sequential loop, and DINOv2 alone in shapes/s:

  * always, on the CPU: ``facebook/dinov2-small``-sized weights;
  * when CUDA is available, on the GPU: ``facebook/dinov2-base``-sized weights at 12 x 448,
    with the mean GPU utilization (``nvidia-smi``) over the timed loop.

    python benchmarks/dinov2_lift.py [--shapes 3] [--gpu-shapes 64] [--views 12]
        [--image-size 448] [--batch-shapes 8]
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

from featurizers.cameras import orbit_rig
from featurizers.dinov2 import Dinov2Featurizer
from featurizers.lifting import lift, locate_points
from featurizers.rendering import render_shape
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


def run(model: str, device: str, shapes: int, views: int, size: int, batch: int) -> None:
    featurizer = Dinov2Featurizer(model, random_init=True, image_size=size, device=device)
    rig = orbit_rig(views, size)
    shape = render_fixtures.record(render_fixtures.colored_torus(), shape_id="bench/torus")
    print(
        f"{model} (random weights) on {featurizer.device}, preprocessing: "
        f"{featurizer.preprocess.backend}; {len(shape.geometry.faces)}-face mesh, "
        f"{views} x {size} px views, {batch} shape(s) per DINOv2 batch"
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
    if utilization:
        print(f"  GPU utilization: mean {np.mean(utilization):.0f}% over {len(utilization)} polls")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=3, help="timed shapes on the CPU")
    parser.add_argument("--gpu-shapes", type=int, default=64, help="timed shapes on the GPU")
    parser.add_argument("--views", type=int, default=12)
    parser.add_argument("--image-size", type=int, default=448)
    parser.add_argument("--batch-shapes", type=int, default=8, help="shapes per GPU batch")
    args = parser.parse_args()
    size, views = args.image_size, args.views
    run("facebook/dinov2-small", "cpu", args.shapes, views, size, batch=1)
    if torch.cuda.is_available():
        run("facebook/dinov2-base", "cuda", args.gpu_shapes, views, size, args.batch_shapes)
    else:
        print("no CUDA device: GPU figures (dinov2-base, 12 x 448) skipped")


if __name__ == "__main__":
    main()
