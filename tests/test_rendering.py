"""Real EGL rendering (Mesa llvmpipe without a GPU): buffers, cameras, colors, processes."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import trimesh

from featurizers.cameras import CameraRig, orbit_rig
from featurizers.rendering import Renders, gl_renderer, render_shape
from featurizers.sampling import DEFAULT_COLOR
from featurizers.shapes import PointCloud, ShapeRecord
from tests.render_fixtures import (
    SIDE_COLORS,
    face_colored_box,
    record,
    textured_box_glb,
    textured_box_obj,
    vertex_colored_box,
)

SMALL = 128


def small_rig(num_views: int = 4) -> CameraRig:
    return orbit_rig(num_views=num_views, image_size=SMALL)


def render(shape: ShapeRecord, rig: CameraRig | None = None, mode="unlit") -> Renders:
    """Render a shape in its own normalized frame (bbox center, longest side)."""
    lo, hi = shape.geometry.bounds
    return render_shape(shape, rig or small_rig(), (lo + hi) / 2, float((hi - lo).max()), mode)


def test_default_rig_frames_the_unit_cube_from_above_and_below():
    rig = orbit_rig()
    assert rig.num_views == 12 and rig.image_size == 448
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    camera = np.einsum("vij,nj->vni", rig.extrinsics[:, :3, :3], corners)
    camera += rig.extrinsics[:, None, :3, 3]
    pixels = np.einsum("vij,vnj->vni", rig.intrinsics, camera)
    uv = pixels[..., :2] / pixels[..., 2:]
    assert (uv >= 0).all() and (uv <= 448).all()
    assert (camera[..., 2] > rig.near).all() and (camera[..., 2] < rig.far).all()
    rotation, translation = rig.extrinsics[:, :3, :3], rig.extrinsics[:, :3, 3]
    eye_heights = -np.einsum("vji,vj->vi", rotation, translation)[:, 1]
    assert (eye_heights[::2] > 0).all() and (eye_heights[1::2] < 0).all()


def test_buffers_have_documented_types_and_background():
    renders = render(record(vertex_colored_box()))
    assert renders.rgb.shape == (4, SMALL, SMALL, 3) and renders.rgb.dtype == np.uint8
    assert renders.depth.shape == (4, SMALL, SMALL) and renders.depth.dtype == np.float32
    assert renders.face_id.shape == (4, SMALL, SMALL) and renders.face_id.dtype == np.int32
    background = renders.face_id == -1
    assert 0.2 < background.mean() < 0.9
    assert np.isinf(renders.depth[background]).all()
    assert (renders.rgb[background] == 255).all()
    assert set(np.unique(renders.face_id[~background])) <= set(range(12))
    rig = renders.rig
    assert (renders.depth[~background] > rig.near).all()
    assert (renders.depth[~background] < rig.far).all()


def test_depth_and_ids_agree_with_the_returned_cameras():
    """Unprojecting every pixel center with K, [R | t] and its depth lands on its face."""
    shape = record(vertex_colored_box())
    renders = render(shape)
    rig, mesh = renders.rig, shape.geometry
    lo, hi = mesh.bounds
    vertices = (mesh.vertices - (lo + hi) / 2) / (hi - lo).max()
    for v in range(rig.num_views):
        rows, cols = np.nonzero(renders.face_id[v] >= 0)
        z = renders.depth[v, rows, cols]
        pixels = np.stack([cols + 0.5, rows + 0.5, np.ones_like(z)], axis=1) * z[:, None]
        camera = pixels @ np.linalg.inv(rig.intrinsics[v]).T
        rotation, translation = rig.extrinsics[v, :3, :3], rig.extrinsics[v, :3, 3]
        world = (camera - translation) @ rotation
        faces = mesh.faces[renders.face_id[v, rows, cols]]
        triangles = vertices[faces]
        normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        distance = np.einsum("nj,nj->n", world - triangles[:, 0], normals)
        assert np.abs(distance).max() < 2e-3  # 1/4 pixel at 128 px


def test_global_face_ids_and_flat_colors_across_pieces():
    """Two pieces: ids are offset by the first piece's face count; unlit color = face color."""
    first = face_colored_box((0.5, 0.5, 0.5), SIDE_COLORS[0])
    second = face_colored_box((0.5, 0.3, 0.4), SIDE_COLORS[3]).apply_translation([0.6, 0, 0])
    renders = render(record(first, second))
    ids = renders.face_id
    seen = set(np.unique(ids[ids >= 0]).tolist())
    assert seen <= set(range(24)) and len(seen & set(range(12, 24))) >= 8
    expected = np.where((ids < 12)[..., None], SIDE_COLORS[0], SIDE_COLORS[3])
    assert (renders.rgb[ids >= 0] == expected[ids >= 0]).all()


def test_plain_geometry_is_gray_and_shaded_mode_shades():
    box = trimesh.creation.box((1.0, 0.6, 0.8))
    assert box.visual.kind is None
    shape = record(box)
    unlit, shaded = render(shape), render(shape, mode="shaded")
    surface = unlit.face_id >= 0
    assert (unlit.rgb[surface] == DEFAULT_COLOR).all()
    gray = shaded.rgb[surface].astype(int)
    assert (gray <= DEFAULT_COLOR.astype(int)).all()
    assert len(np.unique(gray[:, 0])) >= 3  # sides at different angles get different shades


@pytest.mark.parametrize("source", ["glb", "obj"])
def test_textures_are_sampled_and_multiplied_by_the_factor(tmp_path, source):
    """glTF PBR baseColorTexture x baseColorFactor and OBJ/MTL map_Kd x Kd: every pixel of
    side k (faces 2k, 2k + 1) shows that side's atlas color times the factor."""
    if source == "glb":
        mesh, factor = textured_box_glb(), np.array([255, 200, 230]) / 255
    else:
        mesh, factor = textured_box_obj(tmp_path), np.array([0.9, 1.0, 0.8])
    assert mesh.visual.kind == "texture"
    renders = render(record(mesh))
    normal = mesh.face_normals
    axis = np.abs(normal).argmax(1)
    side = 2 * axis + (normal[np.arange(len(normal)), axis] > 0)
    surface = renders.face_id >= 0
    expected = np.rint(SIDE_COLORS[side[renders.face_id[surface]]] * factor)
    assert np.abs(renders.rgb[surface] - expected).max() <= 2


def test_point_cloud_splats_carry_point_ids_and_colors():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(2000, 3)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    colors = rng.integers(0, 256, (2000, 3)).astype(np.uint8)
    cloud = PointCloud(points, np.zeros(2000, np.int16), normals=points, colors=colors)
    shape = ShapeRecord("test/cloud", "test", "", ("all",), cloud=cloud)
    renders = render_shape(shape, small_rig(), np.zeros(3), 2.0, mode="unlit")
    ids = renders.face_id
    assert renders.splat_size > 0
    assert len(np.unique(ids[ids >= 0])) > 500
    assert (renders.rgb[ids >= 0] == colors[ids[ids >= 0]]).all()


def test_renderer_is_named():
    assert gl_renderer()  # "llvmpipe (LLVM ...)" here


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="render mode"):
        render_shape(record(vertex_colored_box()), small_rig(), np.zeros(3), 1.0, mode="pbr")


def _render_checksum(_: int) -> int:
    return int(render(record(vertex_colored_box())).rgb.sum())


def test_forked_workers_make_their_own_context():
    """The parent renders before the fork (llvmpipe threads up); child and parent go on."""
    expected = _render_checksum(0)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map(_render_checksum, [0, 1]) == [expected, expected]
    assert _render_checksum(0) == expected


def test_threads_share_the_context_one_at_a_time():
    expected = _render_checksum(0)
    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(_render_checksum, range(3))) == [expected] * 3
