"""Each source reads its dataset's real on-disk layout and rejects broken inputs clearly."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from featurizers.sampling import sample_shape
from pipelines import sample_data
from pipelines.sources import SOURCES, SourceError, files
from pipelines.sources.pcd import format_pcd, parse_pcd
from tests.dataset_fixtures import DATASETS, HOSTILE, INVALID_TEXT


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


def test_partnet_objs_are_read_as_mesh_files_with_their_warnings(tmp_path):
    """A lost .mtl is a warning as for any OBJ; an obj's own o/g groups stay in its leaf's
    part; an obj without triangles fails, naming its leaf."""
    shape = sample_data.write_partnet(tmp_path, "101", "Mug", sample_data.mug())
    body, handle = (shape / "objs" / f"new-{k}.obj" for k in (0, 1))
    body.write_text(f"mtllib gone.mtl\ng rim\n{body.read_text()}")
    handle.write_text(f"o handle_a\n{handle.read_text()}o handle_b\n{handle.read_text()}")
    source = SOURCES["partnet"]()
    (found,) = source.discover(str(shape))
    record = source.load(found)
    assert record.part_names == ("mug/body", "mug/handle")
    assert [p.part for p in record.pieces] == [0, 1, 1]
    (warning,) = record.warnings
    assert "new-0.obj: material library 'gone.mtl' not loaded (missing file" in warning
    handle.write_text("v 0 0 0\nv 1 0 0\n")
    with pytest.raises(SourceError, match=r"leaf 'mug/handle' references .*new-1\.obj, which"):
        source.load(found)


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


def test_find3d_instance_labels_share_a_part_and_made_up_names_are_unlabeled(tmp_path):
    """Labels 1..5 named leg_1, seat, leg_2, geometry_0, 21: parts leg and seat (in order of
    their first label), the last two labels' points unlabeled and warned about."""
    shape = sample_data.write_find3d(tmp_path, "seenclass", "stool_0001", sample_data.chair(), 600)
    label_map = {"1": "leg_1", "2": "seat", "3": "leg_2", "4": "geometry_0", "5": "21"}
    (shape / "label_map.json").write_text(json.dumps(label_map))
    labels = np.arange(600, dtype=np.int64) % 6  # 0 (unlabeled) and every label
    np.save(shape / "labels.npy", labels)
    source = SOURCES["find3d"]()
    (found,) = source.discover(str(shape))
    record = source.load(found)
    assert record.part_names == ("leg", "seat")
    expected = np.array([-1, 0, 1, 0, -1, -1])[labels]
    np.testing.assert_array_equal(record.cloud.point_part, expected)
    assert [w.split(": ", 1)[1] for w in record.warnings] == [
        "label 4 ('geometry_0') names no part; points unlabeled",
        "label 5 ('21') names no part; points unlabeled",
    ]


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


@pytest.mark.parametrize(
    ("builders", "source_name"),
    [(HOSTILE, name) for name in sorted(HOSTILE)]
    + [(INVALID_TEXT, name) for name in sorted(INVALID_TEXT)],
)
def test_every_hostile_candidate_is_discovered_and_read_or_refused(builders, source_name, tmp_path):
    folder, expected = builders[source_name](tmp_path)
    source = SOURCES[source_name]()
    inputs = source.discover(str(folder))
    assert sorted(i.shape_id for i in inputs) == sorted(expected)
    for source_input in inputs:
        status, fragment = expected[source_input.shape_id]
        if status == "failed":
            with pytest.raises(Exception, match=re.escape(fragment)) as failure:
                source.load(source_input)
            assert "\n" not in str(failure.value)
            continue
        record = source.load(source_input)
        sample_shape(record, 100)
        "".join([record.shape_id, *record.part_names, *record.warnings]).encode("utf-8")
        assert any(fragment in warning for warning in record.warnings) == bool(fragment)


def test_match_lists_folders_and_dangling_links_named_like_files(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "a" / "x.glb").write_bytes(b"")
    (tmp_path / "a" / "deep" / "y.glb").write_bytes(b"")
    (tmp_path / "folder.glb").mkdir()
    (tmp_path / "link.glb").symlink_to(tmp_path / "gone.glb")
    (tmp_path / "z.obj").write_bytes(b"")
    root = str(tmp_path)
    assert files.match([f"{root}/*.glb"]) == [f"{root}/folder.glb", f"{root}/link.glb"]
    assert files.match([f"{root}/*/*.glb"]) == [f"{root}/a/x.glb"]
    assert files.match([f"{root}/**.glb"]) == [
        f"{root}/a/deep/y.glb",
        f"{root}/a/x.glb",
        f"{root}/folder.glb",
        f"{root}/link.glb",
    ]
    assert files.match([f"{root}/link.glb", f"{root}/none.glb"]) == [f"{root}/link.glb"]
    assert files.not_a_file(f"{root}/folder.glb") == "is a directory, not a file"
    assert files.not_a_file(f"{root}/link.glb").startswith("is a dangling symlink")
    assert files.not_a_file(f"{root}/none.glb") == "is missing"
    assert files.not_a_file(f"{root}/z.obj") is None


def test_ids_keep_the_extension_only_where_stems_collide():
    paths = ["/d/empty.obj", "/d/empty.ply", "/d/mug.glb", "/d/sub/empty.glb"]
    assert files.native_ids(paths, "/d") == ["empty.obj", "empty.ply", "mug", "sub/empty"]


def test_pcd_refuses_truncated_and_ragged_data():
    points = np.zeros((10, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="truncated"):
        parse_pcd(format_pcd(points)[:-8], "p.pcd")
    header = b"FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nPOINTS 3\nDATA ascii\n"
    with pytest.raises(ValueError, match=r"p\.pcd: ascii PCD data has 2 rows of 3 values"):
        parse_pcd(header + b"0 1 2\n3 4 5\n", "p.pcd")
    with pytest.raises(ValueError, match=r"p\.pcd: malformed ascii PCD data"):
        parse_pcd(header + b"0 1 2\n3 4 x\n6 7 8\n", "p.pcd")
    with pytest.raises(ValueError, match=r"p\.pcd: PCD has no x y z fields"):
        parse_pcd(header.replace(b"x y z", b"a b c") + b"0 1 2\n", "p.pcd")


def test_a_malformed_list_csv_is_refused_in_one_line(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text('path,category\n"a.glb,cup\n')
    with pytest.raises(SourceError, match=r"list\.csv: malformed CSV") as failure:
        SOURCES["glb"]().discover(str(listing))
    assert "\n" not in str(failure.value)
    listing.write_text("path,category\n,cup\n")
    with pytest.raises(SourceError, match=r"list\.csv: line 2 has no path"):
        SOURCES["glb"]().discover(str(listing))


def test_3dcompat_takes_one_model_file_and_keeps_extensions_of_shared_stems(tmp_path):
    models = tmp_path / "models"
    sample_data.write_gltf(models / "0c_001.gltf", sample_data.chair())
    sample_data.write_glb(models / "0c_001.glb", sample_data.chair())
    source = SOURCES["3dcompat"]()
    (one,) = source.discover(str(models / "0c_001.gltf"))
    assert one.shape_id == "3dcompat/0c_001" and one.category == "chair"
    ids = [i.shape_id for i in source.discover(str(tmp_path))]
    assert ids == ["3dcompat/0c_001.glb", "3dcompat/0c_001.gltf"]
