"""Input content hashes (``fingerprint.input_sha256``) and the files they cover
(``Source.input_files``), over datasets written in each source's real format."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from apache_beam.io.filesystems import FileSystems

from pipelines import sample_data
from pipelines.sources import SOURCES, SourceInput, files
from pipelines.sources.fingerprint import input_sha256
from tests import dataset_fixtures
from tests.mesh_files import GltfBuilder, box, grouped_obj, multi_primitive_glb

REPO = Path(__file__).resolve().parents[1]
HEX64 = re.compile(r"[0-9a-f]{64}")


def inputs_of(source: str, folder: Path) -> list[SourceInput]:
    return SOURCES[source]().discover(str(folder))


def hashes(inputs: list[SourceInput]) -> dict[str, str]:
    return {si.shape_id: input_sha256(si) for si in inputs}


def relative_files(si: SourceInput) -> list[str]:
    source = SOURCES[si.shape_id.split("/")[0]]()
    return [files.relative_to(p, source.input_folder(si)) for p in source.input_files(si)]


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Change one byte (the middle one unless ``offset``) of a file."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if offset is None else offset] ^= 0x01
    path.write_bytes(bytes(data))


def png(path: Path, color=(200, 30, 30)) -> Path:
    image = sample_data.checker_texture(size=8, cells=2)
    image.putpixel((0, 0), color)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def textured_gltf(path: Path, image_uris: list[str], buffer_uri: str | None = None) -> Path:
    """A one-box glTF whose materials use the images at ``image_uris``."""
    gltf = GltfBuilder()
    for k, uri in enumerate(image_uris):
        material = gltf.textured_material(uri)
        mesh = gltf.mesh([box((1, 1, 1), (k, 0, 0))], name=f"box_{k}", material=material)
        gltf.node(f"box_{k}", mesh=mesh)
    return gltf.write_gltf(path, buffer_uri)


def mtl_obj(folder: Path) -> Path:
    """``chair.obj`` (groups) using ``wood.mtl``, whose map_Kd and bump name textures."""
    obj = grouped_obj(folder / "chair.obj")
    obj.write_text(f"mtllib wood.mtl\nusemtl wood\n{obj.read_text()}")
    (folder / "wood.mtl").write_text(
        "newmtl wood\nKd 1 1 1\nmap_Kd -s 1 1 1 tex/wood.png\nbump bump.png\n"
    )
    png(folder / "tex" / "wood.png")
    png(folder / "bump.png", color=(10, 10, 10))
    return obj


def textured_ply(path: Path, texture: str) -> Path:
    """An ASCII PLY triangle whose header names its texture (``comment TextureFile``)."""
    path.write_text(
        f"ply\nformat ascii 1.0\ncomment TextureFile {texture}\nelement vertex 3\n"
        "property float x\nproperty float y\nproperty float z\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
        "0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"
    )
    return path


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, list[SourceInput]]:
    root = tmp_path_factory.mktemp("datasets")
    return {
        name: inputs_of(name, build(root)[0]) for name, build in dataset_fixtures.DATASETS.items()
    }


def test_same_bytes_give_the_same_hash_in_two_calls_and_two_processes(datasets):
    first = {name: hashes(inputs) for name, inputs in datasets.items()}
    assert {name: hashes(inputs) for name, inputs in datasets.items()} == first
    every = [h for by_id in first.values() for h in by_id.values()]
    assert all(HEX64.fullmatch(h) for h in every)
    assert len(set(every)) == len(every)  # one hash per shape, also for the broken ones

    script = (
        "import json, sys\n"
        "from pipelines.sources import SourceInput\n"
        "from pipelines.sources.fingerprint import input_sha256\n"
        "inputs = [SourceInput(*row) for row in json.load(sys.stdin)]\n"
        "print(json.dumps({si.shape_id: input_sha256(si) for si in inputs}))\n"
    )
    rows = [[si.shape_id, si.uri, si.category] for inputs in datasets.values() for si in inputs]
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(rows),
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": "random"},
            check=True,
        )
        other = json.loads(done.stdout.strip().splitlines()[-1])
        assert other == {k: v for by_id in first.values() for k, v in by_id.items()}


def test_rewriting_the_same_bytes_keeps_the_hash(tmp_path):
    folder, _ = dataset_fixtures.compat3d_dataset(tmp_path)
    mtl_obj(tmp_path / "assets")
    inputs = inputs_of("3dcompat", folder) + inputs_of("glb", tmp_path / "assets")
    before = hashes(inputs)
    for path in [*folder.rglob("*"), *(tmp_path / "assets").rglob("*")]:
        if path.is_file():
            path.write_bytes(path.read_bytes())
            os.utime(path, (1e9, 1e9))
    assert hashes(inputs) == before


def _partnet(root: Path) -> tuple[list[SourceInput], Path]:
    folder, _ = dataset_fixtures.partnet_dataset(root)
    return inputs_of("partnet", folder), folder / "101" / "objs" / "new-3.obj"


def _gltf_buffer(root: Path) -> tuple[list[SourceInput], Path]:
    folder, _ = dataset_fixtures.compat3d_dataset(root)
    return inputs_of("3dcompat", folder), folder / "models" / "0c_001_gltf_buffer.bin"


def _gltf_texture(root: Path) -> tuple[list[SourceInput], Path]:
    textured_gltf(root / "a" / "chair.gltf", ["wood.png"])
    textured_gltf(root / "a" / "table.gltf", ["oak.png"])
    png(root / "a" / "oak.png")
    return inputs_of("glb", root / "a"), png(root / "a" / "wood.png")


def _mtl(root: Path) -> tuple[list[SourceInput], Path]:
    mtl_obj(root / "a")
    grouped_obj(root / "a" / "plain.obj")
    return inputs_of("glb", root / "a"), root / "a" / "wood.mtl"


def _mtl_texture(root: Path) -> tuple[list[SourceInput], Path]:
    inputs, _ = _mtl(root)
    return inputs, root / "a" / "tex" / "wood.png"


def _ply_texture(root: Path) -> tuple[list[SourceInput], Path]:
    (root / "a").mkdir()
    textured_ply(root / "a" / "tri.ply", "uv map.png")
    textured_ply(root / "a" / "other.ply", "other.png")
    return inputs_of("glb", root / "a"), png(root / "a" / "uv map.png")


def _labels(root: Path) -> tuple[list[SourceInput], Path]:
    folder, _ = dataset_fixtures.find3d_dataset(root)
    return inputs_of("find3d", folder), folder / "seenclass" / "mug_0001" / "labels.npy"


@pytest.mark.parametrize(
    "build",
    [_partnet, _gltf_buffer, _gltf_texture, _mtl, _mtl_texture, _ply_texture, _labels],
    ids=[
        "partnet-leaf-obj",
        "gltf-bin",
        "gltf-texture",
        "mtl",
        "mtl-texture",
        "ply-texture",
        "labels-npy",
    ],
)
def test_one_changed_byte_changes_only_its_shapes_hash(tmp_path, build):
    inputs, changed_file = build(tmp_path)
    before = hashes(inputs)
    owners = [si.shape_id for si in inputs if str(changed_file) in _all_files(si)]
    assert len(owners) == 1
    flip_byte(changed_file)
    after = hashes(inputs)
    assert [k for k in before if before[k] != after[k]] == owners


def _all_files(si: SourceInput) -> list[str]:
    return SOURCES[si.shape_id.split("/")[0]]().input_files(si)


def test_a_missing_side_file_that_appears_changes_the_hash(tmp_path):
    model = textured_gltf(tmp_path / "m" / "chair.gltf", ["wood.png"])
    (si,) = inputs_of("glb", tmp_path / "m")
    assert relative_files(si) == ["chair.gltf", "chair.bin", "wood.png"]
    missing = input_sha256(si)
    png(model.parent / "wood.png")
    present = input_sha256(si)
    assert present != missing
    (model.parent / "wood.png").unlink()
    assert input_sha256(si) == missing
    (model.parent / "wood.png").mkdir()  # a folder where the texture should be
    assert input_sha256(si) not in (missing, present)


def test_names_outside_the_folder_are_not_read(tmp_path, monkeypatch):
    inner = tmp_path / "assets"
    textured_gltf(inner / "chair.gltf", ["../x.png", "/etc/hostname", "ok.png"])
    png(inner / "ok.png")
    (inner / "cup.obj").write_text("mtllib ../outside.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    png(tmp_path / "x.png")
    (tmp_path / "outside.mtl").write_text("newmtl m\nmap_Kd x.png\n")
    inputs = inputs_of("glb", inner)
    assert [relative_files(si) for si in inputs] == [
        ["chair.gltf", "chair.bin", "ok.png"],
        ["cup.obj"],
    ]
    opened = _count_opens(monkeypatch)
    before = hashes(inputs)
    assert all(str(tmp_path / name) not in opened for name in ("x.png", "outside.mtl"))
    flip_byte(tmp_path / "x.png")
    (tmp_path / "outside.mtl").write_text("newmtl m\nmap_Kd other.png\n")
    assert hashes(inputs) == before


def test_data_uris_are_not_files(tmp_path):
    gltf = GltfBuilder()
    material = gltf.textured_material("data:image/png;base64,iVBORw0KGgo=")
    gltf.node("box", mesh=gltf.mesh([box((1, 1, 1), (0, 0, 0))], material=material))
    gltf.write_gltf(tmp_path / "inline.gltf", buffer_uri="data:application/octet-stream;base64,")
    (si,) = inputs_of("glb", tmp_path)
    assert relative_files(si) == ["inline.gltf"]


def test_input_files_order_per_source(tmp_path):
    partnet, _ = dataset_fixtures.partnet_dataset(tmp_path)
    (partnet / "103" / "objs" / "extra").mkdir()
    (partnet / "103" / "objs" / "extra" / "a.obj").write_text("v 0 0 0\n")
    (partnet / "103" / "objs" / "0-unreferenced.txt").write_text("note\n")
    (lamp,) = [si for si in inputs_of("partnet", partnet) if si.shape_id == "partnet/103"]
    assert relative_files(lamp) == [
        "result.json",
        "meta.json",
        "objs/0-unreferenced.txt",
        "objs/extra/a.obj",
        "objs/new-0.obj",
        "objs/new-1.obj",
        "objs/new-2.obj",
    ]

    find3d, _ = dataset_fixtures.find3d_dataset(tmp_path)
    for si in inputs_of("find3d", find3d):
        assert relative_files(si) == ["points5000.pcd", "label_map.json", "labels.npy"]

    assets = tmp_path / "assets"
    textured_gltf(assets / "z.gltf", ["tex/b.png", "a%20b.png", "a.png"], buffer_uri="z.bin")
    mtl_obj(assets)
    multi_primitive_glb(assets / "car.glb")
    textured_ply(assets / "scan.ply", "tex/scan.png")
    (assets / "part.stl").write_bytes(box((1, 1, 1), (0, 0, 0)).export(file_type="stl"))
    by_id = {si.shape_id: relative_files(si) for si in inputs_of("glb", assets)}
    assert by_id == {
        # glTF: the file, then buffers and images sorted by path, a percent-encoded name
        # both as written and decoded
        "glb/z": ["z.gltf", "a b.png", "a%20b.png", "a.png", "tex/b.png", "z.bin"],
        # OBJ: the file, then its libraries and their textures sorted by path
        "glb/chair": ["chair.obj", "bump.png", "tex/wood.png", "wood.mtl"],
        "glb/car": ["car.glb"],
        # PLY: the file, then its header's TextureFile
        "glb/scan": ["scan.ply", "tex/scan.png"],
        "glb/part": ["part.stl"],
    }


def test_side_files_are_found_in_blocks_and_every_file_is_read_once(tmp_path, monkeypatch):
    gltf = GltfBuilder()
    material = gltf.textured_material("skin.png")
    gltf.node("box", mesh=gltf.mesh([box((1, 1, 1), (0, 0, 0))], material=material))
    gltf.write_glb(tmp_path / "body.glb")
    png(tmp_path / "skin.png")
    mtl_obj(tmp_path)
    textured_ply(tmp_path / "tri.ply", "skin.png")
    inputs = inputs_of("glb", tmp_path)
    listed = {si.shape_id: relative_files(si) for si in inputs}
    assert listed["glb/body"] == ["body.glb", "skin.png"]
    assert listed["glb/tri"] == ["tri.ply", "skin.png"]
    opened = _count_opens(monkeypatch)
    expected = {}
    for si in inputs:  # each file of an input read once
        opened.clear()
        expected[si.shape_id] = input_sha256(si)
        assert sorted(opened.items()) == [(path, 1) for path in sorted(_all_files(si))]
    monkeypatch.setattr(files, "BLOCK_BYTES", 7)  # headers and lines split across blocks
    assert {si.shape_id: relative_files(si) for si in inputs} == listed
    assert hashes(inputs) == expected


def test_a_category_change_in_metadata_csv_changes_the_hash(tmp_path):
    folder, _ = dataset_fixtures.glb_dataset(tmp_path)
    before = hashes(inputs_of("glb", folder))
    (folder / "metadata.csv").write_text("path,category\nmug.glb,cup\nnested/lamp.glb,lamp\n")
    after = hashes(inputs_of("glb", folder))
    assert [k for k in before if before[k] != after[k]] == ["glb/mug"]


@pytest.mark.parametrize("build", sorted(n for n in dir(dataset_fixtures) if "hostile" in n))
def test_bad_inputs_are_hashed_without_raising(tmp_path, build):
    folder, expected = getattr(dataset_fixtures, build)(tmp_path)
    source = next(iter(expected)).split("/")[0]
    by_id = hashes(inputs_of(source, folder))
    assert set(expected) <= set(by_id)
    assert all(HEX64.fullmatch(h) for h in by_id.values())


def test_a_truncated_or_malformed_mesh_file_names_no_side_files(tmp_path):
    model = textured_gltf(tmp_path / "chair.gltf", ["wood.png"])
    glb = multi_primitive_glb(tmp_path / "car.glb")
    glb.write_bytes(glb.read_bytes()[:30])
    model.write_text(model.read_text()[:-5])
    by_id = {si.shape_id: relative_files(si) for si in inputs_of("glb", tmp_path)}
    assert by_id == {"glb/car": ["car.glb"], "glb/chair": ["chair.gltf"]}


def _count_opens(monkeypatch) -> dict[str, int]:
    """Path -> times FileSystems.open was called on it from now on."""
    opened: dict[str, int] = {}
    real_open = FileSystems.open

    def counting_open(path, *args, **kwargs):
        opened[path] = opened.get(path, 0) + 1
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(FileSystems, "open", counting_open)
    return opened


def test_glob_characters_in_an_input_folder_are_plain_characters(tmp_path):
    folder = tmp_path / "we[ir]d*?"
    sample_data.write_partnet(folder, "101", "Chair", sample_data.chair())
    (tmp_path / "weid").mkdir()  # what "we[ir]d*" would match as a glob
    si = SourceInput("partnet/101", str(folder / "101"))
    assert relative_files(si)[2:] == [f"objs/new-{k}.obj" for k in range(8)]
    before = input_sha256(si)
    flip_byte(folder / "101" / "objs" / "new-7.obj")
    assert input_sha256(si) != before


def test_names_that_are_not_valid_text_are_hashed(tmp_path):
    gltf = GltfBuilder()
    material = gltf.textured_material("\ud800.png")  # a lone surrogate, as JSON allows
    gltf.node("box", mesh=gltf.mesh([box((1, 1, 1), (0, 0, 0))], material=material))
    gltf.write_gltf(tmp_path / "odd.gltf")
    (tmp_path / "cup.obj").write_bytes(b"mtllib caf\xe9.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    (tmp_path / "caf\xe9.mtl".encode("latin-1").decode("utf-8", "surrogateescape")).write_bytes(
        b"newmtl m\nmap_Kd t.png\n"
    )
    by_id = {si.shape_id: relative_files(si) for si in inputs_of("glb", tmp_path)}
    assert by_id["glb/odd"] == ["odd.gltf", "odd.bin", "\ud800.png"]
    assert by_id["glb/cup"] == ["cup.obj", "caf\udce9.mtl", "t.png"]
    assert all(HEX64.fullmatch(input_sha256(si)) for si in inputs_of("glb", tmp_path))
