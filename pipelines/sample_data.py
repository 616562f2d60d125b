"""Small synthetic shapes with named parts, written in each source's real on-disk format.

``python -m pipelines.sample_data`` regenerates the bundled samples in
``pipelines/samples/``; tests call the same writers to build fixtures (good and broken).
Every part gets its own flat color (glTF PBR base color factor, or a texture for the
mug body), so lifted colors can be checked against the truth.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image
from trimesh.visual.material import PBRMaterial
from trimesh.visual.texture import TextureVisuals

from pipelines.sources.pcd import format_pcd

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"

#: A named piece of a sample shape: (part path, mesh). Paths use PartNet's style
#: (``chair/chair_seat/seat_surface``); other formats use the last component.
NamedPiece = tuple[str, trimesh.Trimesh]


def _box(extents: Sequence[float], center: Sequence[float]) -> trimesh.Trimesh:
    return trimesh.creation.box(
        extents=extents, transform=trimesh.transformations.translation_matrix(center)
    )


def _cylinder(
    radius: float, height: float, center: Sequence[float], sections: int = 24
) -> trimesh.Trimesh:
    transform = trimesh.transformations.translation_matrix(center)
    return trimesh.creation.cylinder(
        radius=radius, height=height, sections=sections, transform=transform
    )


def _legs(path: str, span_x: float, span_y: float, height: float, width: float) -> list[NamedPiece]:
    return [
        (path, _box((width, width, height), (sx * span_x / 2, sy * span_y / 2, height / 2)))
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]


def chair() -> list[NamedPiece]:
    return [
        ("chair/chair_seat/seat_surface/seat_single_surface", _box((0.5, 0.5, 0.06), (0, 0, 0.45))),
        (
            "chair/chair_back/back_surface/back_single_surface",
            _box((0.5, 0.05, 0.5), (0, -0.225, 0.73)),
        ),
        ("chair/chair_arm/arm_sofa_style", _box((0.05, 0.4, 0.2), (-0.27, 0, 0.58))),
        ("chair/chair_arm/arm_sofa_style", _box((0.05, 0.4, 0.2), (0.27, 0, 0.58))),
        *_legs("chair/chair_base/regular_leg_base/leg", 0.42, 0.42, 0.42, 0.05),
    ]


def table() -> list[NamedPiece]:
    return [
        (
            "table/regular_table/tabletop/tabletop_surface/board",
            _box((1.2, 0.7, 0.05), (0, 0, 0.72)),
        ),
        *_legs("table/regular_table/table_base/regular_leg_base/leg", 1.05, 0.55, 0.7, 0.06),
    ]


def mug() -> list[NamedPiece]:
    body = trimesh.creation.annulus(r_min=0.035, r_max=0.04, height=0.1, sections=32)
    body.apply_translation((0, 0, 0.05))
    handle = trimesh.creation.torus(
        major_radius=0.03, minor_radius=0.007, major_sections=24, minor_sections=8
    )
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))
    handle.apply_translation((0.065, 0, 0.05))
    return [("mug/body", body), ("mug/handle", handle)]


def lamp() -> list[NamedPiece]:
    shade = trimesh.creation.cone(radius=0.15, height=0.18, sections=24)
    shade.apply_translation((0, 0, 0.42))
    return [
        (
            "lamp/table_or_floor_lamp/lamp_base/lamp_holistic_base/lamp_base_part",
            _cylinder(0.1, 0.03, (0, 0, 0.015)),
        ),
        (
            "lamp/table_or_floor_lamp/lamp_body/lamp_pole",
            _cylinder(0.012, 0.42, (0, 0, 0.24), sections=12),
        ),
        ("lamp/table_or_floor_lamp/lamp_unit/lamp_head/lamp_cover/lamp_shade", shade),
    ]


SHAPES = {"chair": chair, "table": table, "mug": mug, "lamp": lamp}


def part_color(name: str) -> np.ndarray:
    """A distinct, stable RGBA uint8 color for a part name."""
    hue = (int.from_bytes(name.encode(), "little") * 0.618033988749895) % 1.0
    rgb = np.array([abs(hue * 6 - 3) - 1, 2 - abs(hue * 6 - 2), 2 - abs(hue * 6 - 4)]).clip(0, 1)
    return np.append((40 + rgb * 200).astype(np.uint8), 255).astype(np.uint8)


def checker_texture(size: int = 64, cells: int = 4) -> Image.Image:
    """An RGB checkerboard (two colors) for textured samples."""
    ij = np.indices((size, size)) // (size // cells)
    dark = ((ij[0] + ij[1]) % 2).astype(bool)
    image = np.where(dark[..., None], [200, 60, 40], [240, 220, 120]).astype(np.uint8)
    return Image.fromarray(image)


def with_flat_color(mesh: trimesh.Trimesh, rgba: np.ndarray) -> trimesh.Trimesh:
    colored = mesh.copy()
    colored.visual = TextureVisuals(material=PBRMaterial(baseColorFactor=rgba))
    return colored


def with_texture(mesh: trimesh.Trimesh, image: Image.Image) -> trimesh.Trimesh:
    """The mesh with a planar (x, z) UV projection onto ``image`` (no seam)."""
    textured = mesh.copy()
    lo, hi = textured.bounds
    uv = (textured.vertices[:, [0, 2]] - lo[[0, 2]]) / np.maximum(hi - lo, 1e-9)[[0, 2]]
    textured.visual = TextureVisuals(uv=uv, material=PBRMaterial(baseColorTexture=image))
    return textured


def write_partnet(folder: Path, anno_id: str, category: str, pieces: Sequence[NamedPiece]) -> Path:
    """Write a PartNet ``data_v0/<anno_id>/`` folder; returns it."""
    shape_dir = folder / anno_id
    (shape_dir / "objs").mkdir(parents=True, exist_ok=True)
    root: dict = {"name": pieces[0][0].split("/")[0], "text": category, "id": 0, "children": []}
    next_id = 1
    for k, (path, mesh) in enumerate(pieces):
        stem = f"new-{k}"
        (shape_dir / "objs" / f"{stem}.obj").write_text(trimesh.exchange.obj.export_obj(mesh))
        node = root
        for name in path.split("/")[1:]:
            children = node.setdefault("children", [])
            match = next((c for c in children if c["name"] == name and "objs" not in c), None)
            is_leaf = name == path.split("/")[-1]
            if match is None or is_leaf:
                match = {"name": name, "text": name.replace("_", " ").title(), "id": next_id}
                next_id += 1
                children.append(match)
            node = match
        node["objs"] = [stem]
    (shape_dir / "result.json").write_text(json.dumps([root], indent=1))
    (shape_dir / "meta.json").write_text(
        json.dumps({"model_cat": category, "model_id": f"sample{anno_id}", "anno_id": anno_id})
    )
    return shape_dir


def scene_of(pieces: Sequence[NamedPiece], textured: Sequence[str] = ()) -> trimesh.Scene:
    """A scene with one node per piece, named by the part's last path component."""
    scene = trimesh.Scene()
    seen: dict[str, int] = {}
    for path, mesh in pieces:
        name = path.split("/")[-1]
        visual_mesh = (
            with_texture(mesh, checker_texture())
            if name in textured
            else with_flat_color(mesh, part_color(name))
        )
        # repeated parts are numbered the way trimesh numbers repeated node names
        count = seen[name] = seen.get(name, -1) + 1
        node = f"{name}_{count}" if count else name
        scene.add_geometry(visual_mesh, node_name=node, geom_name=node)
    return scene


def write_gltf(path: Path, pieces: Sequence[NamedPiece], textured: Sequence[str] = ()) -> Path:
    """Write a ``.gltf`` (+ buffers, textures) whose node names are the part names.

    Nodes are numbered per part as in 3DCoMPaT++ (``leg_01`` ... ``leg_04``, ``seat_01``):
    instances of one part, which the reader folds back into one part.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    exported = scene_of(pieces, textured).export(file_type="gltf", merge_buffers=True)
    document = json.loads(exported.pop("model.gltf"))
    instances: dict[str, int] = {}
    for node in document["nodes"]:
        if "name" in node:
            part = re.sub(r"_\d+$", "", node["name"])
            instances[part] = instances.get(part, 0) + 1
            node["name"] = f"{part}_{instances[part]:02d}"
    renamed = {key: f"{path.stem}_{key}" for key in exported}
    for buffer in document.get("buffers", []):
        buffer["uri"] = renamed[buffer["uri"]]
    for image in document.get("images", []):
        if "uri" in image:
            image["uri"] = renamed[image["uri"]]
    path.write_text(json.dumps(document))
    for key, data in exported.items():
        (path.parent / renamed[key]).write_bytes(data)
    return path


def write_glb(path: Path, pieces: Sequence[NamedPiece], textured: Sequence[str] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(scene_of(pieces, textured).export(file_type="glb"))
    return path


def write_find3d(
    folder: Path,
    split: str,
    name: str,
    pieces: Sequence[NamedPiece],
    count: int = 5000,
    seed: int = 0,
) -> Path:
    """Write a Find3D shape folder sampled from the pieces (label 0 = unlabeled: none here)."""
    shape_dir = folder / split / name
    shape_dir.mkdir(parents=True, exist_ok=True)
    part_names = list(dict.fromkeys(path.split("/")[-1] for path, _ in pieces))
    merged = trimesh.util.concatenate([mesh for _, mesh in pieces])
    face_label = np.concatenate(
        [np.full(len(m.faces), part_names.index(p.split("/")[-1]) + 1) for p, m in pieces]
    )
    points, face = trimesh.sample.sample_surface(merged, count, seed=seed)
    labels = face_label[face].astype(np.int64)
    colors = np.stack([part_color(part_names[i - 1])[:3] for i in labels])
    (shape_dir / "points5000.pcd").write_bytes(
        format_pcd(points, merged.face_normals[face], colors)
    )
    np.save(shape_dir / "labels.npy", labels)
    label_map = {str(i + 1): n for i, n in enumerate(part_names)}
    (shape_dir / "label_map.json").write_text(json.dumps(label_map))
    return shape_dir


def write_partnet_corpus(folder: Path, count: int, first: int = 0) -> Path:
    """A generated PartNet-format corpus for tests and benchmarks: ``count`` shapes cycling
    through ``SHAPES``, annotation ids ``20000 + first`` onwards, written into ``folder``."""
    makers = list(SHAPES.items())
    for i in range(first, first + count):
        category, make = makers[i % len(makers)]
        write_partnet(folder, f"{20_000 + i}", category.title(), make())
    return folder


def write_samples(root: Path = SAMPLES_DIR) -> None:
    """(Re)generate the bundled samples of every source under ``root``."""
    if root.exists():
        shutil.rmtree(root)
    for anno_id, (category, make) in {
        "1001": ("Chair", chair),
        "1002": ("Table", table),
        "1003": ("Mug", mug),
        "1004": ("Lamp", lamp),
    }.items():
        write_partnet(root / "partnet", anno_id, category, make())
    write_gltf(root / "3dcompat" / "models" / "0c_001.gltf", chair())  # class 0x0c: chair
    write_gltf(root / "3dcompat" / "models" / "25_001.gltf", table())  # class 0x25: table
    write_find3d(root / "find3d", "seenclass", "mug_a1b2c3", mug())
    write_find3d(root / "find3d", "unseen", "table_lamp_d4e5f6", lamp())
    write_glb(root / "glb" / "mug.glb", mug(), textured=("body",))
    write_glb(root / "glb" / "lamp.glb", lamp())
    (root / "glb" / "metadata.csv").write_text("path,category\nmug.glb,mug\nlamp.glb,lamp\n")


if __name__ == "__main__":
    write_samples()
    print(f"samples written to {SAMPLES_DIR}")
