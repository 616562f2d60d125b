"""Surface sampling: counts, normalization, labels, colors, determinism, bad shapes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from featurizers.sampling import (
    CLAMP_TO_EDGE,
    MIRRORED_REPEAT,
    NEAREST,
    SAMPLER_INFO_KEY,
    ShapeError,
    TextureSampler,
    sample_shape,
    surface_color,
)
from featurizers.shapes import MeshPiece, PointCloud, ShapeRecord
from pipelines import sample_data
from tests.render_fixtures import GltfMesh, load_gltf, write_gltf


def record_of(pieces, shape_id="test/shape") -> ShapeRecord:
    names = list(dict.fromkeys(path for path, _ in pieces))
    return ShapeRecord(
        shape_id=shape_id,
        source="test",
        category_raw="thing",
        part_names=tuple(names),
        pieces=tuple(MeshPiece(mesh, names.index(path)) for path, mesh in pieces),
    )


def test_points_lie_on_the_surface_of_their_labelled_part():
    pieces = sample_data.chair()
    record = record_of(pieces)
    sample = sample_shape(record, 4000)
    world = sample.points.astype(np.float64) * sample.scale + sample.center
    for part, name in enumerate(record.part_names):
        part_mesh = trimesh.util.concatenate([m for path, m in pieces if path == name])
        on_part = sample.point_part == part
        assert on_part.any(), name
        _, distance, _ = trimesh.proximity.closest_point(part_mesh, world[on_part])
        assert distance.max() < 1e-5, name


def test_points_are_area_weighted_and_normalized():
    record = record_of(sample_data.table())
    sample = sample_shape(record, 10_000)
    assert sample.points.shape == (10_000, 3) and sample.points.dtype == np.float32
    assert np.abs(sample.points).max() <= 0.5 + 1e-6
    assert np.isclose(np.ptp(sample.points, axis=0).max(), 1.0, atol=0.01)
    np.testing.assert_allclose(np.linalg.norm(sample.normals, axis=1), 1.0, atol=1e-5)
    # share of points per part follows share of area
    areas = np.array(
        [sum(m.area for p, m in sample_data.table() if p == name) for name in record.part_names]
    )
    shares = np.bincount(sample.point_part, minlength=len(areas)) / 10_000
    np.testing.assert_allclose(shares, areas / areas.sum(), atol=0.02)


def test_same_shape_id_gives_same_points_and_other_id_does_not():
    pieces = sample_data.mug()
    first = sample_shape(record_of(pieces, "a/mug"))
    again = sample_shape(record_of(pieces, "a/mug"))
    other = sample_shape(record_of(pieces, "b/mug"))
    np.testing.assert_array_equal(first.points, again.points)
    np.testing.assert_array_equal(first.point_part, again.point_part)
    assert not np.array_equal(first.points, other.points)


def test_colors_follow_materials_and_textures():
    flat = sample_data.with_flat_color(sample_data.chair()[0][1], np.array([10, 200, 30, 255]))
    sample = sample_shape(record_of([("seat", flat)]), 500)
    assert (sample.colors == [10, 200, 30]).all()

    image = sample_data.checker_texture(64, 4)  # cells of 16 x 16 texels
    body = sample_data.with_texture(sample_data.mug()[0][1], image)
    face = np.repeat(np.arange(len(body.faces)), 50)
    bary = np.random.default_rng(0).dirichlet(np.ones(3), len(face))
    colors = surface_color(body, face, bary)
    uv = np.einsum("nk,nkj->nj", bary, body.visual.uv[body.faces[face]])
    texel = np.c_[uv[:, 0], 1 - uv[:, 1]] * 64  # continuous texel position, top row first
    inside = ((texel % 16 > 0.5) & (texel % 16 < 15.5)).all(1)  # clear of cell borders
    dark = ((texel[inside] // 16).sum(1) % 2).astype(bool)
    expected = np.where(dark[:, None], [200, 60, 40], [240, 220, 120])
    assert inside.sum() > 1000
    np.testing.assert_array_equal(colors[inside], expected)


def one_triangle_gltf(folder, uv, sampler=None) -> trimesh.Trimesh:
    """A real glTF file holding one triangle textured by a 2 x 2 image (texels red,
    green / blue, white, top row first) through TEXCOORD_0 ``uv`` (glTF's convention);
    the mesh as the ``glb`` source reads it."""
    texture = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]], np.uint8)
    mesh = GltfMesh(
        "tri", np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]]), np.asarray(uv), np.array([[0, 1, 2]]),
        texture, factor=(1.0, 0.5, 1.0, 1.0), sampler=sampler,
    )  # fmt: skip
    (piece,) = load_gltf(write_gltf(folder / "tri" / "tri.gltf", [mesh])).pieces
    return piece.mesh


RED, GREEN, BLUE, WHITE = [255, 0, 0], [0, 128, 0], [0, 0, 255], [255, 128, 255]  # x factor


@pytest.mark.parametrize(
    ("sampler", "expected"),
    [
        (None, [RED, RED, RED]),  # REPEAT: 1.25 wraps to 0.25
        ({"wrapS": CLAMP_TO_EDGE, "wrapT": CLAMP_TO_EDGE}, [RED, GREEN, BLUE]),
        ({"wrapS": MIRRORED_REPEAT, "wrapT": MIRRORED_REPEAT}, [RED, GREEN, BLUE]),
    ],
)
def test_texture_reads_follow_gltf_texel_centers_and_wrap_modes(tmp_path, sampler, expected):
    """UV 0..1 spans the texture's edges: on a 2 x 2 texture (0.25, 0.25) is the center of
    texel (0, 0), exactly its color (trimesh's ``uv * (W - 1)`` would blend); at u or v =
    1.25 REPEAT wraps back to texel (0, 0), CLAMP_TO_EDGE and MIRRORED_REPEAT stay on the
    last column / row."""
    mesh = one_triangle_gltf(tmp_path, [[0.25, 0.25], [1.25, 0.25], [0.25, 1.25]], sampler)
    if sampler is not None:  # trimesh's glTF loader keeps no sampler: attach it
        mesh.visual.material.baseColorTexture.info[SAMPLER_INFO_KEY] = sampler
    colors = surface_color(mesh, np.zeros(3, int), np.eye(3))
    np.testing.assert_array_equal(colors, expected)


def test_texture_reads_are_bilinear_between_texel_centers_or_nearest(tmp_path):
    corners = np.eye(3)
    mesh = one_triangle_gltf(tmp_path / "linear", [[0.5, 0.25], [0.25, 0.5], [0.5, 0.5]])
    halfway = [
        np.add(RED, GREEN) / 2,
        np.add(RED, BLUE) / 2,
        np.mean([RED, GREEN, BLUE, WHITE], 0),
    ]
    np.testing.assert_array_equal(surface_color(mesh, np.zeros(3, int), corners), np.rint(halfway))
    mesh = one_triangle_gltf(
        tmp_path / "nearest", [[0.55, 0.25], [0.25, 0.55], [0.55, 0.55]], {"magFilter": NEAREST}
    )
    mesh.visual.material.baseColorTexture.info[SAMPLER_INFO_KEY] = {"magFilter": NEAREST}  # loader
    np.testing.assert_array_equal(
        surface_color(mesh, np.zeros(3, int), corners), [GREEN, BLUE, WHITE]
    )


@pytest.mark.parametrize("sampler", [{"wrapS": 10496}, {"magFilter": 9984}, {"minFilter": 1}])
def test_invalid_samplers_are_refused(sampler):
    with pytest.raises(ValueError, match="invalid glTF sampler"):
        TextureSampler.from_gltf(sampler)


def test_point_cloud_is_subsampled_or_padded():
    rng = np.random.default_rng(0)
    cloud = PointCloud(
        points=rng.normal(size=(300, 3)).astype(np.float32),
        point_part=np.repeat(np.arange(3, dtype=np.int16), 100),
    )
    record = ShapeRecord("find3d/x", "find3d", "x", ("a", "b", "c"), cloud=cloud)
    small = sample_shape(record, 200)
    assert len(np.unique(small.face_index)) == 200
    padded = sample_shape(record, 1000)
    assert set(np.unique(padded.face_index)) == set(range(300))
    np.testing.assert_array_equal(padded.point_part, cloud.point_part[padded.face_index])


@pytest.mark.parametrize(
    ("vertices", "faces", "message"),
    [
        (np.zeros((0, 3)), np.zeros((0, 3), int), "no faces"),
        ([[0, 0, 0], [1, 0, 0], [np.nan, 1, 0]], [[0, 1, 2]], "non-finite"),
        ([[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 1, 2]], "zero surface area"),
    ],
)
def test_bad_meshes_raise_a_shape_error_naming_the_shape(vertices, faces, message):
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    with pytest.raises(ShapeError, match=rf"test/shape: .*{message}"):
        sample_shape(record_of([("part", mesh)]))
