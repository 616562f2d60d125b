"""Surface sampling: counts, normalization, labels, colors, determinism, bad shapes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from featurizers.sampling import ShapeError, sample_shape, surface_color
from featurizers.shapes import MeshPiece, PointCloud, ShapeRecord
from pipelines import sample_data


def record_of(pieces, shape_id="test/shape") -> ShapeRecord:
    names = list(dict.fromkeys(path for path, _ in pieces))
    return ShapeRecord(
        shape_id=shape_id,
        source="test",
        category_raw="thing",
        part_names=tuple(names),
        mesh_sha256="0" * 64,
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

    image = sample_data.checker_texture()
    body = sample_data.with_texture(sample_data.mug()[0][1], image)
    face = np.arange(len(body.faces))
    bary = np.full((len(face), 3), 1 / 3)
    colors = surface_color(body, face, bary)
    palette = np.array([[200, 60, 40], [240, 220, 120]])
    nearest = np.abs(colors[:, None, :].astype(int) - palette[None]).sum(-1).min(1)
    assert np.median(nearest) <= 3  # face centers fall inside checker cells


def test_point_cloud_is_subsampled_or_padded():
    rng = np.random.default_rng(0)
    cloud = PointCloud(
        points=rng.normal(size=(300, 3)).astype(np.float32),
        point_part=np.repeat(np.arange(3, dtype=np.int16), 100),
    )
    record = ShapeRecord("find3d/x", "find3d", "x", ("a", "b", "c"), "0", cloud=cloud)
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
