"""Lifting 2D maps onto the sampled points: RGB round trip, visibility, DINOv2 against a
slow reference, unseen-point filling, per-view label maps."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import Dinov2Config

from featurizers.cameras import orbit_rig
from featurizers.dinov2 import Dinov2Featurizer
from featurizers.lifting import PointViews, lift, lift_rgb, locate_points
from featurizers.rendering import Renders, render_shape
from featurizers.sampling import (
    CLAMP_TO_EDGE,
    MIRRORED_REPEAT,
    SAMPLER_INFO_KEY,
    SurfaceSample,
    sample_shape,
)
from featurizers.shapes import PointCloud, ShapeRecord
from featurizers.views import element_parts, label_maps, view_records
from tests.render_fixtures import (
    SIDE_COLORS,
    box_sides,
    face_colored_box,
    layered_box_gltf,
    load_gltf,
    record,
    smooth_colored_sphere,
    table,
    textured_box_glb,
    textured_box_obj,
    textured_sphere_gltf,
    tiled_box_gltf,
    vertex_colored_box,
)


def render_and_locate(
    shape: ShapeRecord, rig=None, mode="unlit", normals=True
) -> tuple[SurfaceSample, Renders, PointViews]:
    sample = sample_shape(shape)
    renders = render_shape(shape, rig or orbit_rig(), sample.center, sample.scale, mode)
    located = locate_points(
        sample.points, renders, sample.face_index, sample.normals if normals else None
    )
    return sample, renders, located


def tiled_box(folder, sampler=None) -> ShapeRecord:
    """The tiled glTF box (UVs far outside 0..1), its texture wrapped by ``sampler`` (which
    trimesh's glTF loader does not keep, so it is attached after loading)."""
    shape = load_gltf(tiled_box_gltf(folder))
    if sampler is not None:
        shape.pieces[0].mesh.visual.material.baseColorTexture.info[SAMPLER_INFO_KEY] = sampler
    return shape


@pytest.mark.parametrize(
    "kind",
    [
        "vertex_colors", "gltf_texture", "obj_texture", "dense", "tiled_gltf",
        "tiled_gltf_mirrored", "tiled_gltf_clamped", "textured_sphere_gltf",
    ],
)  # fmt: skip
def test_rgb_round_trip_with_the_default_rig(tmp_path, kind):
    """Surfaces of known colors, textures read by glTF's rules (texel centers, wrap modes,
    filters) by the sampler and the renderer alike: the lifted render color is within
    8/255 of the true surface color for >= 99% of seen points, and >= 95% of points are
    seen."""
    shape = {
        "vertex_colors": lambda: record(vertex_colored_box()),
        "gltf_texture": lambda: record(textured_box_glb()),
        "obj_texture": lambda: record(textured_box_obj(tmp_path)),
        "dense": lambda: record(smooth_colored_sphere()),
        "tiled_gltf": lambda: tiled_box(tmp_path),
        "tiled_gltf_mirrored": lambda: tiled_box(
            tmp_path, {"wrapS": MIRRORED_REPEAT, "wrapT": MIRRORED_REPEAT}
        ),
        "tiled_gltf_clamped": lambda: tiled_box(tmp_path, {"wrapS": CLAMP_TO_EDGE}),
        "textured_sphere_gltf": lambda: load_gltf(textured_sphere_gltf(tmp_path)),
    }[kind]()
    sample, renders, located = render_and_locate(shape)
    seen = located.views_seen > 0
    error = np.abs(lift_rgb(renders, located).astype(int) - sample.colors.astype(int)).max(1)
    assert seen.mean() >= 0.95
    assert (error[seen] <= 8).mean() >= 0.99


@pytest.mark.parametrize("dense", [False, True])
def test_depth_visibility_sees_dense_meshes_and_undersides(dense):
    """Every part of a table, the underside of its top included, is seen; on the dense
    table, face-id equality would reject most of what the depth test accepts."""
    shape = table(dense)
    sample, _, located = render_and_locate(shape)
    seen = located.views_seen > 0
    assert seen.mean() >= 0.95
    underside = (sample.point_part == 0) & (sample.normals[:, 1] < -0.9)
    assert underside.sum() > 100 and seen[underside].mean() >= 0.95
    visible = located.visible.numpy()
    same_face = located.face_id.numpy() == sample.face_index[None]
    if dense:
        assert same_face[visible].mean() < 0.6
    else:
        assert same_face[visible].mean() > 0.98


def test_a_layer_just_above_hides_the_surface_below(tmp_path):
    """Decal plates 0.3% of the box's size above the central half of every side (about
    one pixel footprint): base points under them are seen by no view, and no seen point
    takes its color from the other layer."""
    shape = load_gltf(layered_box_gltf(tmp_path))
    sample, renders, located = render_and_locate(shape)
    base = sample.point_part == shape.part_names.index("base")
    world = sample.points * sample.scale + sample.center
    half = np.array([1.0, 0.6, 0.8]) / 2
    inward = np.abs(world) < half * 0.5 - 0.02  # per axis: inside the decals' outline
    under = base & (inward.sum(1) == 2)  # on a side (one axis at the box), under its decal
    seen = located.views_seen > 0
    assert under.sum() > 500 and not seen[under].any()
    assert seen[base & ~under].mean() >= 0.95 and seen[~base].mean() >= 0.95
    error = np.abs(lift_rgb(renders, located).astype(int) - sample.colors.astype(int)).max(1)
    assert (error[seen] <= 8).mean() >= 0.99 and (error[seen] <= 24).mean() >= 0.999


def test_back_faces_along_silhouettes_are_not_seen():
    """Points on a side facing away from a camera, next to the silhouette edge it shares
    with a visible side, pass the depth test but must not count as seen."""
    sample, renders, located = render_and_locate(record(vertex_colored_box()))
    rig = renders.rig
    eyes = -np.einsum("vji,vj->vi", rig.extrinsics[:, :3, :3], rig.extrinsics[:, :3, 3])
    toward_camera = np.einsum("vnj,nj->vn", eyes[:, None] - sample.points[None], sample.normals)
    assert not (located.visible.numpy() & (toward_camera < 0)).any()


@pytest.mark.parametrize("dense", [False, True])
def test_label_maps_agree_with_point_labels(dense):
    shape = table(dense)
    sample, renders, located = render_and_locate(shape)
    labels = label_maps(renders.face_id, element_parts(shape)).reshape(renders.rig.num_views, -1)
    size = renders.rig.image_size
    pixel = located.uv.floor().long().clamp(0, size - 1).numpy()
    at_pixel = np.take_along_axis(labels, pixel[..., 1] * size + pixel[..., 0], axis=1)
    visible = located.visible.numpy()
    assert (at_pixel == sample.point_part[None])[visible].mean() >= 0.99


def test_view_records_hold_pngs_labels_and_cameras():
    shape = table()
    sample = sample_shape(shape)
    rig = orbit_rig(num_views=2, image_size=64)
    renders = render_shape(shape, rig, sample.center, sample.scale)
    records = view_records(renders, element_parts(shape))
    labels = label_maps(renders.face_id, element_parts(shape))
    assert [r["view"] for r in records] == [0, 1]
    for v, row in enumerate(records):
        assert (np.asarray(Image.open(io.BytesIO(row["rgb_png"]))) == renders.rgb[v]).all()
        label_png = np.asarray(Image.open(io.BytesIO(row["label_png"])))
        assert (label_png.astype(int) - 1 == labels[v]).all()
        assert row["intrinsics"].shape == (3, 3) and row["extrinsics"].shape == (4, 4)
    assert set(np.unique(labels)) == {-1, 0, 1, 2, 3, 4}


def _reference_lift(points, feature_maps, renders, tolerance_px=1.0):
    """Slow and obvious: per point and view, project, depth-test, bilinear-sample by hand."""
    rig, size = renders.rig, renders.rig.image_size
    maps = feature_maps.numpy()
    _, channels, grid_h, grid_w = maps.shape
    lifted = np.zeros((len(points), channels))
    for i, point in enumerate(points.astype(np.float64)):
        total, count = np.zeros(channels), 0
        for v in range(rig.num_views):
            x, y, z = rig.extrinsics[v, :3, :3] @ point + rig.extrinsics[v, :3, 3]
            fx, fy, cx, cy = (rig.intrinsics[v][a, b] for a, b in ((0, 0), (1, 1), (0, 2), (1, 2)))
            u, w = fx * x / z + cx, fy * y / z + cy
            col, row = int(np.floor(u)), int(np.floor(w))
            if not (0 <= col < size and 0 <= row < size):
                continue
            if abs(z - renders.depth[v, row, col]) > tolerance_px * z / fx:
                continue
            gx = min(max(u / size * grid_w - 0.5, 0), grid_w - 1)  # patch centers, border
            gy = min(max(w / size * grid_h - 0.5, 0), grid_h - 1)
            x0, y0 = min(int(gx), grid_w - 2), min(int(gy), grid_h - 2)
            ax, ay = gx - x0, gy - y0
            total += (
                (1 - ax) * (1 - ay) * maps[v, :, y0, x0]
                + ax * (1 - ay) * maps[v, :, y0, x0 + 1]
                + (1 - ax) * ay * maps[v, :, y0 + 1, x0]
                + ax * ay * maps[v, :, y0 + 1, x0 + 1]
            )
            count += 1
        lifted[i] = total / max(count, 1)
    return lifted


def test_lifted_dinov2_features_match_a_slow_reference():
    config = Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    featurizer = Dinov2Featurizer("tiny", config=config, random_init=True)
    shape = record(vertex_colored_box())
    sample = sample_shape(shape, 2000)
    renders = render_shape(shape, orbit_rig(6, 224), sample.center, sample.scale, "shaded")
    grids = featurizer(renders.rgb)
    assert grids.shape == (6, 32, 16, 16)
    located = locate_points(sample.points, renders)
    lifted = lift(grids, located).numpy()
    seen = np.flatnonzero(located.views_seen > 0)[:300]
    assert len(seen) == 300
    expected = _reference_lift(sample.points[seen], grids, renders)
    np.testing.assert_allclose(lifted[seen], expected, atol=1e-4, rtol=1e-4)


def test_unseen_points_take_the_nearest_seen_feature():
    """Points on a box sealed inside another are seen by no view."""
    outer, _ = box_sides((1.0, 1.0, 1.0))
    inner = face_colored_box((0.3, 0.3, 0.3), SIDE_COLORS[0])
    shape = record(outer, inner)
    sample, renders, located = render_and_locate(shape)
    seen = located.views_seen > 0
    assert not seen[sample.point_part == 1].any() and seen[sample.point_part == 0].all()
    maps = torch.randn(renders.rig.num_views, 5, 32, 32, generator=torch.Generator().manual_seed(0))
    lifted = lift(maps, located).numpy()
    distance = np.linalg.norm(sample.points[~seen, None] - sample.points[None, seen], axis=-1)
    np.testing.assert_array_equal(lifted[~seen], lifted[seen][distance.argmin(1)])


def test_point_cloud_round_trip():
    box, side = box_sides((1.0, 0.6, 0.8))
    points, faces = box.sample(20_000, return_index=True)
    cloud = PointCloud(
        points.astype(np.float32),
        side[faces].astype(np.int16),
        normals=box.face_normals[faces].astype(np.float32),
        colors=SIDE_COLORS[side[faces]],
    )
    shape = ShapeRecord("test/cloud", "test", "", tuple("abcdef"), cloud=cloud)
    sample, renders, located = render_and_locate(shape)
    seen = located.views_seen > 0
    error = np.abs(lift_rgb(renders, located).astype(int) - sample.colors.astype(int)).max(1)
    assert seen.mean() >= 0.95 and (error[seen] <= 8).mean() >= 0.95


def test_read_mode_errors():
    _, _, located = render_and_locate(record(vertex_colored_box()), orbit_rig(2, 64))
    with pytest.raises(ValueError, match="image-sized"):
        lift(torch.zeros(2, 3, 8, 8), located, mode="surface")
    with pytest.raises(ValueError, match="read mode"):
        lift(torch.zeros(2, 3, 8, 8), located, mode="nearest")
