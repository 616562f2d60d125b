"""Mesh files give the same parts, points and labels in every process, named from what the
file says (glTF node, else mesh name; OBJ group, else object), instances one part."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from featurizers.sampling import SAMPLER_INFO_KEY
from featurizers.shapes import UNLABELED
from pipelines.sample_data import checker_texture
from pipelines.sources import SOURCES
from pipelines.sources.base import SourceInput
from tests.mesh_files import GltfBuilder, box, compat3d_chair_gltf, grouped_obj, multi_primitive_glb

#: Loads every input of a source and samples it; prints one digest per shape of the rows'
#: part names and the bytes of points, face_index and point_part.
_DIGEST_SCRIPT = """
import hashlib, json, sys
from featurizers.sampling import sample_shape
from pipelines.sample_data import checker_texture
from pipelines.sources import SOURCES
source = SOURCES[sys.argv[1]]()
digests = {}
for source_input in source.discover(sys.argv[2]):
    record = source.load(source_input)
    sample = sample_shape(record, 2000)
    digest = hashlib.sha256(json.dumps(record.part_names).encode())
    for array in (sample.points, sample.face_index, sample.point_part):
        digest.update(array.tobytes())
    digests[record.shape_id] = digest.hexdigest()
print(json.dumps(digests))
"""


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("assets")
    multi_primitive_glb(root / "glb" / "car.glb")
    grouped_obj(root / "glb" / "chair.obj")
    compat3d_chair_gltf(root / "3dcompat" / "models" / "0c_001.gltf")
    return root


def digests_in_a_fresh_process(source: str, location) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _DIGEST_SCRIPT, source, str(location)],
        capture_output=True,
        text=True,
        check=True,
        env=None,  # each process draws its own hash seed, as separate workers do
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("source", ["glb", "3dcompat"])
def test_two_processes_give_byte_identical_rows(assets, source):
    first = digests_in_a_fresh_process(source, assets / source)
    second = digests_in_a_fresh_process(source, assets / source)
    assert first == second
    assert len(first) == (2 if source == "glb" else 1)


def load(source: str, path) -> object:
    return SOURCES[source]().load(SourceInput(f"{source}/{path.stem}", str(path)))


def pieces_of(record, name: str) -> list:
    return [p for p in record.pieces if p.part == record.part_names.index(name)]


def test_multi_primitive_glb_parts_follow_the_file(assets):
    record = load("glb", assets / "glb" / "car.glb")
    # node name, else mesh name; wheel_01/wheel_02 are instances of one part; the mesh
    # named "Body" twice is one part; an unnamed node with an unnamed mesh is unlabeled
    assert record.part_names == ("Body", "wheel", "Tire")
    assert [p.part for p in record.pieces] == [0, 0, 0, 1, 1, 1, 1, 2, 2, 0, UNLABELED]
    # pieces in file order, each node's own transform applied to its instance of the mesh
    wheels = [p.mesh.bounds[:, 0].round(2).tolist() for p in pieces_of(record, "wheel")]
    assert wheels == [[0.5, 0.9], [0.6, 0.8], [-0.9, -0.5], [-0.8, -0.6]]


def test_3dcompat_instance_numbered_nodes_are_one_part(assets):
    record = load("3dcompat", assets / "3dcompat" / "models" / "0c_001.gltf")
    assert record.part_names == ("leg", "seat", "backrest")
    assert len(pieces_of(record, "leg")) == 4
    assert record.warnings == ()


def test_obj_groups_and_objects_are_parts_in_file_order(assets):
    record = load("glb", assets / "glb" / "chair.obj")
    assert record.part_names == ("seat", "leg", "back")
    assert [p.part for p in record.pieces] == [UNLABELED, 0, 1, 1, 2]


def test_a_node_named_like_the_file_is_a_part(tmp_path):
    gltf = GltfBuilder()
    gltf.node("ToyCar", mesh=gltf.mesh([box((2, 1, 0.5), (0, 0, 0.5))]))
    gltf.node("Wheels", mesh=gltf.mesh([box((0.4, 1.2, 0.4), (0.6, 0, 0.2))]))
    record = load("glb", gltf.write_glb(tmp_path / "ToyCar.glb"))
    assert record.part_names == ("ToyCar", "Wheels")
    assert UNLABELED not in [p.part for p in record.pieces]


def test_one_name_over_a_whole_asset_labels_nothing(tmp_path):
    gltf = GltfBuilder()
    gltf.node("Chair", mesh=gltf.mesh([box((1, 1, 1), (0, 0, 0)), box((1, 1, 1), (0, 0, 2))]))
    record = load("glb", gltf.write_glb(tmp_path / "chair.glb"))
    assert record.part_names == () and {p.part for p in record.pieces} == {UNLABELED}


def test_a_node_name_that_is_not_valid_text_is_escaped_and_reported(tmp_path):
    gltf = GltfBuilder()
    gltf.node("s\udc80t", mesh=gltf.mesh([box((1, 1, 0.1), (0, 0, 0.5))]))  # "\\udc80" in JSON
    gltf.node("leg_01", mesh=gltf.mesh([box((0.1, 0.1, 0.5), (0, 0, 0.25))]))
    path = gltf.write_glb(tmp_path / "stool.glb")
    # a raw byte that is not UTF-8 (Latin-1 "é"), in place of one character
    path.write_bytes(path.read_bytes().replace(b'"leg_01"', b'"le\xe9_01"'))
    record = load("glb", path)
    assert record.part_names == ("s\\udc80t", "le\\udce9")
    assert sum("not valid UTF-8" in w for w in record.warnings) == 2


def test_a_textures_gltf_sampler_travels_with_its_image(tmp_path):
    gltf = GltfBuilder()
    sampler = {"wrapS": 33071, "wrapT": 33648, "magFilter": 9728}
    material = gltf.textured_material("checker.png", sampler)
    gltf.node("seat", mesh=gltf.mesh([box((1, 1, 0.1), (0, 0, 0.5))], material=material))
    gltf.node("leg", mesh=gltf.mesh([box((0.1, 0.1, 0.5), (0, 0, 0.25))], material=material))
    checker_texture().save(tmp_path / "checker.png")
    record = load("glb", gltf.write_gltf(tmp_path / "stool.gltf"))
    for piece in record.pieces:
        assert piece.mesh.visual.material.baseColorTexture.info[SAMPLER_INFO_KEY] == sampler


def test_instances_of_a_textured_mesh_share_its_texture(tmp_path):
    gltf = GltfBuilder()
    leg = gltf.mesh([box((0.1, 0.1, 0.5), (0, 0, 0.25))], material=gltf.textured_material("c.png"))
    for k in range(4):
        gltf.node(f"leg_{k:02d}", mesh=leg, translation=[k, 0, 0])
    checker_texture().save(tmp_path / "c.png")
    record = load("3dcompat", gltf.write_gltf(tmp_path / "legs.gltf"))
    images = {id(p.mesh.visual.material.baseColorTexture) for p in record.pieces}
    assert len(record.pieces) == 4 and len(images) == 1  # one texture in memory, not four
    assert [p.mesh.bounds[0, 0].round(2) for p in record.pieces] == [-0.05, 0.95, 1.95, 2.95]


def test_a_made_up_mesh_node_name_gives_way_to_its_named_ancestor(tmp_path):
    """Sketchfab-style exports: the named node holds an ``Object_N`` node holding the mesh."""
    gltf = GltfBuilder()
    root = gltf.node("Sketchfab_model")
    parts = []
    for part, geometry in (
        ("Chair_Leg_3", box((0.05, 0.05, 0.4), (0, 0, 0.2))),
        ("Seat", box((0.5, 0.5, 0.05), (0, 0, 0.42))),
    ):
        holder = gltf.node(
            f"Object_{len(parts) + 5}", mesh=gltf.mesh([geometry], "Object_0"), root=False
        )
        parts.append(gltf.node(part, children=[holder], root=False))
    gltf.header["nodes"][root]["children"] = parts
    record = load("glb", gltf.write_glb(tmp_path / "chair.glb"))
    assert record.part_names == ("Chair_Leg", "Seat")
    assert [p.part for p in record.pieces] == [0, 1]
