"""Rendering speed and the rgb round trip (render unlit, lift the colors back onto points).

Prints, on this machine (EGL: Mesa llvmpipe without a GPU, the NVIDIA driver with one):
  * the first render's time (GL context creation), then render ms/view at
    ``--image-size`` px on a vertex-colored torus of ~50k faces (shaded and unlit; all
    views of a shape per call);
  * one round-trip line per test shape and per bundled sample: points seen by >= 1 view,
    and seen points whose lifted color is within 8/255 of their true surface color.

    python benchmarks/render_views.py [--views 12] [--image-size 448] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from featurizers.cameras import orbit_rig
from featurizers.lifting import lift_rgb, locate_points
from featurizers.rendering import render_shape
from featurizers.sampling import sample_shape
from featurizers.shapes import ShapeRecord
from pipelines import sample_data
from pipelines.sources import SOURCES
from tests import render_fixtures


def render_speed(views: int, size: int, repeats: int) -> None:
    shape = render_fixtures.record(render_fixtures.colored_torus(), shape_id="bench/torus")
    rig = orbit_rig(views, size)
    lo, hi = shape.geometry.bounds
    center, scale = (lo + hi) / 2, float((hi - lo).max())
    start = time.perf_counter()
    render_shape(shape, rig, center, scale)
    first = 1000 * (time.perf_counter() - start)
    print(f"first render of {views} views (GL context, shaders, framebuffer): {first:.0f} ms")
    for mode in ("shaded", "unlit"):
        start = time.perf_counter()
        for _ in range(repeats):
            render_shape(shape, rig, center, scale, mode)
        per_view = 1000 * (time.perf_counter() - start) / (repeats * views)
        print(
            f"render {mode:6s}: {per_view:6.1f} ms/view  ({len(shape.geometry.faces)} faces, "
            f"{views} views of {size}x{size} px)"
        )


def round_trip(name: str, shape: ShapeRecord, views: int, size: int) -> None:
    sample = sample_shape(shape)
    if sample.colors is None:
        print(f"rgb round trip {name:32s}: no colors")
        return
    renders = render_shape(shape, orbit_rig(views, size), sample.center, sample.scale, "unlit")
    known_normals = sample.normals if sample.normals.any() else None
    located = locate_points(sample.points, renders, sample.face_index, known_normals)
    seen = located.views_seen > 0
    error = np.abs(lift_rgb(renders, located).astype(int) - sample.colors.astype(int)).max(1)
    print(
        f"rgb round trip {name:32s}: seen {100 * seen.mean():5.1f}%  "
        f"within 8/255 {100 * (error[seen] <= 8).mean():6.2f}% of seen"
    )


def bundled_samples():
    for name, source_class in SOURCES.items():
        source = source_class()
        for source_input in source.discover(str(sample_data.SAMPLES_DIR / name)):
            shape = source.load(source_input)
            yield shape.shape_id, shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=12)
    parser.add_argument("--image-size", type=int, default=448)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    render_speed(args.views, args.image_size, args.repeats)
    fixtures = {
        "vertex-colored box": render_fixtures.record(render_fixtures.vertex_colored_box()),
        "textured glTF box": render_fixtures.record(render_fixtures.textured_box_glb()),
        "dense sphere (82k faces)": render_fixtures.record(
            render_fixtures.smooth_colored_sphere(6)
        ),
    }
    for name, shape in [*fixtures.items(), *bundled_samples()]:
        round_trip(name, shape, args.views, args.image_size)


if __name__ == "__main__":
    main()
