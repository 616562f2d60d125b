"""Each source reads its dataset's real on-disk layout and rejects broken inputs clearly."""

from __future__ import annotations

import pytest

from featurizers.sampling import sample_shape
from pipelines.sources import SOURCES
from pipelines.sources.pcd import format_pcd, parse_pcd
from tests.dataset_fixtures import DATASETS


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    return {name: build(root) for name, build in DATASETS.items()}


@pytest.mark.parametrize("source_name", sorted(DATASETS))
def test_good_inputs_load_and_broken_ones_fail_with_their_reason(datasets, source_name):
    folder, expected_failures = datasets[source_name]
    source = SOURCES[source_name]()
    inputs = source.discover(str(folder))
    assert [i.shape_id for i in inputs] == sorted(i.shape_id for i in inputs)
    assert set(expected_failures) < {i.shape_id for i in inputs}
    for source_input in inputs:
        if source_input.shape_id in expected_failures:
            with pytest.raises(Exception, match=expected_failures[source_input.shape_id]):
                sample_shape(source.load(source_input), 100)
        else:
            record = source.load(source_input)
            assert record.shape_id == source_input.shape_id
            assert record.source == source_name
            assert len(record.mesh_sha256) == 64


def test_partnet_parts_are_leaf_paths_and_instances_share_a_part(datasets):
    folder, _ = datasets["partnet"]
    source = SOURCES["partnet"]()
    chair = next(i for i in source.discover(str(folder)) if i.shape_id == "partnet/101")
    record = source.load(chair)
    assert record.category_raw == "Chair"
    assert record.part_names == (
        "chair/chair_seat/seat_surface/seat_single_surface",
        "chair/chair_back/back_surface/back_single_surface",
        "chair/chair_arm/arm_sofa_style",
        "chair/chair_base/regular_leg_base/leg",
    )
    legs = [p for p in record.pieces if p.part == 3]
    assert len(legs) == 4


def test_3dcompat_category_from_class_code_and_node_names_as_parts(datasets):
    folder, _ = datasets["3dcompat"]
    source = SOURCES["3dcompat"]()
    by_id = {i.shape_id: i for i in source.discover(str(folder))}
    assert by_id["3dcompat/0c_001"].category == "chair"
    assert by_id["3dcompat/25_002"].category == "table"
    record = source.load(by_id["3dcompat/0c_001"])
    assert set(record.part_names) == {
        "seat_single_surface",
        "back_single_surface",
        "arm_sofa_style",
        "leg",
    }
    leg = record.part_names.index("leg")
    assert sum(p.part == leg for p in record.pieces) == 4  # repeated node names, one part


def test_find3d_class_from_folder_and_labels_shifted(datasets):
    folder, _ = datasets["find3d"]
    source = SOURCES["find3d"]()
    by_id = {i.shape_id: i for i in source.discover(str(folder))}
    assert by_id["find3d/unseen/desk_lamp_0002"].category == "desk lamp"
    record = source.load(by_id["find3d/seenclass/mug_0001"])
    assert record.cloud is not None and record.part_names == ("body", "handle")
    assert set(record.cloud.point_part.tolist()) == {0, 1}
    assert record.cloud.colors is not None and record.cloud.normals is not None


def test_glb_source_reads_folders_globs_and_csv_lists(datasets, tmp_path):
    folder, _ = datasets["glb"]
    source = SOURCES["glb"]()
    ids = {i.shape_id: i for i in source.discover(str(folder))}
    assert set(ids) == {"glb/mug", "glb/empty", "glb/nested/lamp", "glb/nested/chair"}
    assert ids["glb/mug"].category == "mug" and ids["glb/nested/chair"].category == ""
    assert [i.shape_id for i in source.discover(str(folder / "nested" / "*.glb"))] == ["glb/lamp"]
    listing = tmp_path / "list.csv"
    listing.write_text(f"path,category\n{folder / 'mug.glb'},cup\n")
    (only,) = source.discover(str(listing))
    assert only.category == "cup"
    mug = source.load(ids["glb/mug"])
    assert mug.part_names == ("body", "handle")
    assert source.load(ids["glb/nested/chair"]).part_names == ()  # one unnamed mesh


@pytest.mark.parametrize("source_name", sorted(SOURCES))
def test_discovering_nothing_names_the_location(source_name, tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        SOURCES[source_name]().discover(str(tmp_path))


def test_pcd_round_trip_ascii_and_binary():
    import numpy as np

    rng = np.random.default_rng(1)
    points = rng.normal(size=(50, 3)).astype(np.float32)
    normals = rng.normal(size=(50, 3)).astype(np.float32)
    colors = rng.integers(0, 256, size=(50, 3)).astype(np.uint8)
    decoded = parse_pcd(format_pcd(points, normals, colors))
    np.testing.assert_array_equal(decoded["points"], points)
    np.testing.assert_array_equal(decoded["normals"], normals)
    np.testing.assert_array_equal(decoded["colors"], colors)
    ascii_pcd = (
        b"VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 2\nHEIGHT 1\n"
        b"POINTS 2\nDATA ascii\n0 1 2\n3 4 5\n"
    )
    np.testing.assert_array_equal(parse_pcd(ascii_pcd)["points"], [[0, 1, 2], [3, 4, 5]])
