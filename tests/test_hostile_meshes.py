"""Broken and hostile glTF/GLB/OBJ files beside good ones, run through the features
pipeline: each gets a manifest row with a clear one-line reason (or an ok row with a
warning when only a texture or material library is lost), side files never resolve
outside the input's folder, and every good shape of the run is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import beam_runner
from pipelines import sample_data
from pipelines.sources import SOURCES
from schemas.reader import ShardReader
from tests.features_output import latest_manifest
from tests.mesh_files import GltfBuilder, box, huge_png


def stool(path: Path, *, texture: str | None = None, buffer_uri: str | None = None) -> Path:
    """A two-part stool as ``.gltf`` + ``.bin`` (or ``.glb``), its seat textured with the
    image at ``texture`` when given."""
    gltf = GltfBuilder()
    extra = {"material": gltf.textured_material(texture)} if texture else {}
    gltf.node("seat", mesh=gltf.mesh([box((0.5, 0.5, 0.05), (0, 0, 0.45))], **extra))
    gltf.node("leg", mesh=gltf.mesh([box((0.05, 0.05, 0.45), (0, 0, 0.22))]))
    if path.suffix == ".glb":
        return gltf.write_glb(path)
    return gltf.write_gltf(path, buffer_uri)


def edit_json(path: Path, edit) -> None:
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def hostile_meshes(root: Path) -> tuple[Path, dict[str, tuple[str, str]]]:
    """The dataset folder and each input's expected row: (status, reason or warning)."""
    folder = root / "assets"
    sample_data.write_glb(folder / "mug.glb", sample_data.mug(), textured=("body",))
    sample_data.write_glb(folder / "lamp.glb", sample_data.lamp())
    stool(folder / "good.gltf")
    # side files that lead outside the folder, towards real files lying there
    (root / "outside.bin").write_bytes((folder / "good.bin").read_bytes())
    stool(folder / "escape_bin.gltf", buffer_uri="../outside.bin")
    stool(folder / "absolute_bin.gltf", buffer_uri=str(root / "outside.bin"))
    sample_data.checker_texture().save(root / "outside.png")
    stool(folder / "escape_image.gltf", texture="../outside.png")
    # textures trimesh drops silently
    huge_png(folder / "huge.png")
    stool(folder / "huge_texture.gltf", texture="huge.png")
    stool(folder / "missing_texture.glb", texture="gone.png")
    tetrahedron = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"
    (folder / "missing_mtl.obj").write_text(f"mtllib gone.mtl\nusemtl wood\n{tetrahedron}")
    (folder / "wood.mtl").write_text("newmtl wood\nKd 1 1 1\nmap_Kd gone.jpg\n")
    (folder / "missing_map.obj").write_text(f"mtllib wood.mtl\nusemtl wood\n{tetrahedron}")
    (root / "outside.mtl").write_text("newmtl wood\nKd 1 0 0\n")
    (folder / "escape_mtl.obj").write_text(f"mtllib ../outside.mtl\nusemtl wood\n{tetrahedron}")
    # malformed documents and buffers
    (folder / "malformed.gltf").write_text('{"asset": {"version": "2.0"}, "nodes": [')
    (folder / "zero.gltf").write_bytes(b"")
    truncated = stool(folder / "truncated_bin.gltf")
    (folder / "truncated_bin.bin").write_bytes((folder / "truncated_bin.bin").read_bytes()[:100])
    glb = stool(folder / "truncated.glb")
    glb.write_bytes(glb.read_bytes()[:-200])
    edit_json(stool(folder / "no_mesh.gltf"), lambda d: d["nodes"][0].update(mesh=7))
    no_position = stool(folder / "no_position.gltf")
    edit_json(no_position, lambda d: d["meshes"][1]["primitives"][0].update(attributes={}))
    edit_json(stool(folder / "cycle.gltf"), lambda d: d["nodes"][0].update(children=[0]))
    # a bufferView past its buffer's end (trimesh: an AssertionError with no message)
    long_view = stool(folder / "long_view.gltf")
    edit_json(long_view, lambda d: d["bufferViews"][0].update(byteLength=4000))
    assert truncated.exists()
    return folder, {
        "glb/mug": ("ok", ""),
        "glb/lamp": ("ok", ""),
        "glb/good": ("ok", ""),
        "glb/escape_bin": ("failed", "buffer 0 ('../outside.bin') cannot be read: '../outside.bin' "
                                     "points outside"),
        "glb/absolute_bin": ("failed", "outside.bin') cannot be read"),
        "glb/escape_image": ("ok", "texture image '../outside.png' not loaded ('../outside.png' "
                                   "points outside"),
        "glb/huge_texture": ("ok", "texture image 'huge.png' not loaded (DecompressionBombError"),
        "glb/missing_texture": ("ok", "texture image 'gone.png' not loaded (missing file"),
        "glb/missing_mtl": ("ok", "'gone.mtl' not loaded (missing file"),
        "glb/missing_map": ("ok", "'gone.jpg' not loaded (missing file"),
        "glb/escape_mtl": ("ok", "'../outside.mtl' not loaded ('../outside.mtl' points outside"),
        "glb/malformed": ("failed", "malformed.gltf: not valid glTF JSON (Expecting value"),
        "glb/zero": ("failed", "zero.gltf: empty file"),
        "glb/truncated_bin": ("failed", "buffer 0 ('truncated_bin.bin') holds 100 bytes, the file "
                                        "declares 480"),
        "glb/truncated": ("failed", "truncated.glb: truncated GLB"),
        "glb/no_mesh": ("failed", "no_mesh.gltf: node 0 refers to meshes 7, but the file has 2"),
        "glb/no_position": ("failed", "no_position.gltf: mesh 1 primitive 0 has no POSITION"),
        "glb/cycle": ("failed", "cycle.gltf: node 0 is reached twice"),
        "glb/long_view": ("failed", "long_view.gltf: bufferView 0 ends at byte 4000 of buffer 0"),
    }  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_meshes")
    folder, expected = hostile_meshes(root)
    out = root / "out"
    code = beam_runner.main(
        [
            "--pipeline", "features", "--source", "glb", "--input", str(folder),
            "--output", str(out), "--featurizers", "none", "--num-points", "500",
        ]
    )  # fmt: skip
    return code, folder, expected, out / "features"


def test_every_file_gets_its_row_and_good_shapes_are_written(run):
    code, _, expected, features = run
    assert code == 0
    manifest = latest_manifest(features.parent)
    rows = {row["shape_id"]: row for row in manifest.iter_rows(named=True)}
    assert sorted(rows) == sorted(expected)
    for shape_id, (status, fragment) in expected.items():
        row = rows[shape_id]
        assert row["status"] == status, (shape_id, row)
        if status == "failed":
            assert fragment in row["error"] and "\n" not in row["error"], (shape_id, row)
            for leak in ("missing file", "KeyError", "list index out of range", "EOFError"):
                assert leak not in row["error"], (shape_id, row)
        elif fragment:
            assert any(fragment in warning for warning in row["warnings"]), (shape_id, row)
        else:
            assert list(row["warnings"]) == [], (shape_id, row)
    written = sorted(shape["shape_id"] for shape in ShardReader(features))
    assert written == sorted(s for s, (status, _) in expected.items() if status == "ok")


def test_a_texture_lost_is_a_record_warning_and_the_geometry_is_kept(run):
    _, folder, _, _ = run
    source = SOURCES["glb"]()
    inputs = {i.shape_id: i for i in source.discover(str(folder))}
    record = source.load(inputs["glb/huge_texture"])
    (warning,) = record.warnings
    assert "huge_texture.gltf" in warning and "DecompressionBombError" in warning
    assert record.part_names == ("seat", "leg") and len(record.pieces) == 2
    assert source.load(inputs["glb/good"]).warnings == ()
