"""Rendering speed and the rgb round trip (render unlit, lift the colors back onto points).

Prints, on this machine (EGL: Mesa llvmpipe without a GPU, the NVIDIA driver with one):
  * the first render's time (GL context creation), then render ms/view at
    ``--image-size`` px on a vertex-colored torus of ~50k faces (shaded and unlit; all
    views of a shape per call);
  * one round-trip line per test shape and per bundled sample: points seen by >= 1 view,
    seen points whose lifted color is within 8/255 and 24/255 of their true surface color
    (``surface_color``: the texture sampled at the point), and the median error; the
    textured shapes include real glTF files written here: a box tiled by a texture with
    UVs far outside 0..1 (REPEAT), the same with decal plates 0.3% of its size above
    every side (two close layers of different colors), and a sphere with fine texture;
  * over the textured shapes: the median share within 8/255 and the lowest within 24/255.

    python benchmarks/render_views.py [--views 12] [--image-size 448] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from featurizers.cameras import orbit_rig
from featurizers.lifting import lift_rgb, locate_points
from featurizers.rendering import render_shape
from featurizers.sampling import material_color, sample_shape
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


def round_trip(name: str, shape: ShapeRecord, views: int, size: int) -> tuple[float, float]:
    """Print the shape's round-trip line; returns its shares of seen points within 8/255
    and 24/255 (NaN without colors)."""
    sample = sample_shape(shape)
    if sample.colors is None:
        print(f"rgb round trip {name:32s}: no colors")
        return np.nan, np.nan
    renders = render_shape(shape, orbit_rig(views, size), sample.center, sample.scale, "unlit")
    known_normals = sample.normals if sample.normals.any() else None
    located = locate_points(sample.points, renders, sample.face_index, known_normals)
    seen = located.views_seen > 0
    error = np.abs(lift_rgb(renders, located).astype(int) - sample.colors.astype(int)).max(1)
    within_8, within_24 = (100 * (error[seen] <= bound).mean() for bound in (8, 24))
    print(
        f"rgb round trip {name:32s}: seen {100 * seen.mean():5.1f}%  within 8/255 "
        f"{within_8:6.2f}%  within 24/255 {within_24:6.2f}% of seen  "
        f"median error {np.median(error[seen]):4.1f}/255"
    )
    return within_8, within_24


def is_textured(shape: ShapeRecord) -> bool:
    return any(
        piece.mesh.visual.kind == "texture"
        and material_color(piece.mesh.visual.material)[1] is not None
        for piece in shape.pieces
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
    folder = Path(tempfile.mkdtemp(prefix="render_views_"))
    fixtures = {
        "vertex-colored box": render_fixtures.record(render_fixtures.vertex_colored_box()),
        "textured glTF box": render_fixtures.record(render_fixtures.textured_box_glb()),
        "dense sphere (82k faces)": render_fixtures.record(
            render_fixtures.smooth_colored_sphere(6)
        ),
        "tiled glTF box (UV -3..6)": render_fixtures.load_gltf(
            render_fixtures.tiled_box_gltf(folder)
        ),
        "layered glTF box (decals)": render_fixtures.load_gltf(
            render_fixtures.layered_box_gltf(folder)
        ),
        "textured glTF sphere": render_fixtures.load_gltf(
            render_fixtures.textured_sphere_gltf(folder)
        ),
    }
    textured = []
    for name, shape in [*fixtures.items(), *bundled_samples()]:
        shares = round_trip(name, shape, args.views, args.image_size)
        if is_textured(shape):
            textured.append(shares)
    within_8, within_24 = np.array(textured).T
    print(
        f"textured shapes ({len(textured)}): median within 8/255 {np.median(within_8):.2f}% "
        f"of seen, lowest within 24/255 {within_24.min():.2f}%"
    )


if __name__ == "__main__":
    main()
