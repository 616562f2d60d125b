"""A generated web-asset listing with a known mix, for the curate pipeline's tests and
benchmark: good single objects (GLB with PNG thumbnails), and one asset per cheap-check
reason. Deterministic: the same call writes the same bytes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from pipelines import sample_data

#: Listing columns written (``featurizers.listing``).
COLUMNS = ("id", "path", "thumbnail", "category", "name", "tags", "license", "description")


def thumbnail(path: Path, seed: int, size: int = 96) -> Path:
    """A PNG of colored stripes, different per seed."""
    rows = np.arange(size)[:, None, None]
    color = np.array([(37 * seed) % 256, (91 * seed + 40) % 256, (53 * seed + 90) % 256])
    image = ((rows * color / size + color) % 256).astype(np.uint8).repeat(size, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG")
    return path


def scene_of_chairs(count: int, spacing: float = 2.0) -> list[sample_data.NamedPiece]:
    """``count`` chairs side by side, ``spacing`` m apart: a scene, not an object."""
    pieces = []
    for k in range(count):
        for name, mesh in sample_data.chair():
            moved = mesh.copy()
            moved.apply_translation((spacing * k, 0, 0))
            pieces.append((name, moved))
    return pieces


def wide_table() -> list[sample_data.NamedPiece]:
    """A table of other proportions than ``sample_data.table`` (other bytes)."""
    pieces = sample_data.table()
    return [(name, mesh.copy().apply_scale((1.3, 1.0, 1.0))) for name, mesh in pieces]


def floor_tile() -> list[sample_data.NamedPiece]:
    """A 4 m x 4 m x 4 mm slab: a flat layout, not an object."""
    return [("tile", trimesh.creation.box(extents=(4.0, 4.0, 0.004)))]


def tetrahedron() -> list[sample_data.NamedPiece]:
    """Four triangles: a placeholder, not a model."""
    corners = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
    mesh = trimesh.Trimesh(corners, [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)])
    return [("placeholder", mesh)]


def write_assets(folder: Path) -> list[dict[str, str]]:
    """Write the assets of the mixed listing into ``folder``; its rows (``COLUMNS``).

    Expected decisions by id, with the cheap checks alone: ``chair``, ``table``, ``mug``,
    ``lamp``, ``mug_scan`` keep; ``broken`` and ``missing`` unreadable, ``chairs_scene``
    scene, ``chair_copy`` duplicate (of ``chair``), ``table_nc`` license, ``floor_tile``
    aspect, ``placeholder`` triangles.
    """
    folder.mkdir(parents=True, exist_ok=True)
    write = sample_data.write_glb
    write(folder / "chair.glb", sample_data.chair())
    write(folder / "table.glb", sample_data.table())
    write(folder / "mug.glb", sample_data.mug(), textured=("body",))
    write(folder / "lamp.glb", sample_data.lamp())
    write(folder / "mug_scan.glb", [(n, m.copy().apply_scale(1.1)) for n, m in sample_data.mug()])
    write(folder / "chairs_scene.glb", scene_of_chairs(4))
    write(folder / "table_nc.glb", wide_table())
    write(folder / "floor_tile.glb", floor_tile())
    write(folder / "placeholder.glb", tetrahedron())
    (folder / "chair_copy.glb").write_bytes((folder / "chair.glb").read_bytes())
    (folder / "broken.glb").write_bytes((folder / "chair.glb").read_bytes()[:200])
    for seed, name in enumerate(("chair", "table", "mug", "mug_scan", "chairs_scene")):
        thumbnail(folder / "thumbs" / f"{name}.png", seed + 1)
    rows = [
        _row("chair", "chair", "Wooden armchair", "furniture;chair", "CC-BY-4.0"),
        _row("table", "table", "Dining table", "furniture;table", "CC0"),
        _row("mug", "mug", "Coffee mug", "kitchen;mug", "CC Attribution-ShareAlike"),
        _row("lamp", "lamp", "Desk lamp", "lighting", "by", thumb=False),
        _row("mug_scan", "mug", "Photogrammetry scan of a mug", "scan", "cc0"),
        _row("broken", "chair", "Broken chair", "chair", "by"),
        _row("missing", "chair", "Missing chair", "chair", "by", thumb=False),
        _row("chairs_scene", "chair", "Cafe chairs", "scene;chairs", "by"),
        _row("chair_copy", "chair", "Armchair (reupload)", "chair", "by", thumb=False),
        _row("table_nc", "table", "Long table", "table", "CC BY-NC 4.0", thumb=False),
        _row("floor_tile", "", "Floor tile", "floor", "cc0", thumb=False),
        _row("placeholder", "", "Placeholder", "wip", "cc0", thumb=False),
    ]
    return rows


def _row(
    name: str, category: str, title: str, tags: str, license_text: str, thumb: bool = True
) -> dict[str, str]:
    return {
        "id": name,
        "path": f"{name}.glb",
        "thumbnail": f"thumbs/{name}.png" if thumb else "",
        "category": category,
        "name": title,
        "tags": tags,
        "license": license_text,
        "description": f"{title}, a test asset",
    }


def write_csv(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue())
    return path


def write_jsonl(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    lines = [json.dumps({**row, "tags": row["tags"].split(";")}) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_objaverse_json(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    """The rows as Objaverse annotations: ``{uid: record}``, tags as ``[{"name": ...}]``,
    the model at ``<uid>.glb`` beside the file, thumbnails in ``thumbnails.images``."""
    document = {}
    for row in rows:
        images = []
        if row["thumbnail"]:  # Sketchfab lists several sizes; the widest is the thumbnail
            images = [
                {"url": "thumbs/tiny.png", "width": 8, "height": 8},
                {"url": row["thumbnail"], "width": 96, "height": 96},
            ]
        document[row["id"]] = {
            "uid": row["id"],
            "name": row["name"],
            "tags": [{"name": tag, "slug": tag} for tag in row["tags"].split(";")],
            "categories": [],
            "license": row["license"],
            "description": row["description"],
            "thumbnails": {"images": images},
        }
    path.write_text(json.dumps(document))
    return path


#: One cycle of ``write_mix``: what each asset is, in order (half pass the cheap checks).
MIX = ("good", "broken", "good", "scene", "good", "duplicate", "good", "license", "good", "flat")


def write_mix(folder: Path, count: int, detail: int = 0) -> list[dict[str, str]]:
    """``count`` assets cycling through ``MIX``, every good one with its own bytes (a shape of
    ``sample_data.SHAPES`` scaled by its index, each triangle split in 4 ``detail`` times)
    and thumbnail; a listing's rows."""
    folder.mkdir(parents=True, exist_ok=True)
    makers = list(sample_data.SHAPES.items())
    rows = []
    for i in range(count):
        kind = MIX[i % len(MIX)]
        category, make = makers[i % len(makers)]
        name = f"{kind}_{i:05d}"
        scaled = [(n, _finer(m, detail).apply_scale(1 + i * 1e-4)) for n, m in make()]
        path = folder / f"{name}.glb"
        if kind in ("good", "license"):
            sample_data.write_glb(path, scaled)
        elif kind == "broken":
            path.write_bytes(sample_data.scene_of(scaled).export(file_type="glb")[:300])
        elif kind == "scene":
            sample_data.write_glb(path, scene_of_chairs(3 + i % 3))
        elif kind == "duplicate":
            path.write_bytes((folder / rows[-1]["path"]).read_bytes())
        else:
            sample_data.write_glb(path, floor_tile())
        thumb = kind == "good"
        if thumb:
            thumbnail(folder / "thumbs" / f"{name}.png", i)
        licence = "CC BY-NC 4.0" if kind == "license" else "CC-BY-4.0"
        rows.append(_row(name, category, f"{category} {i}", category, licence, thumb=thumb))
    return rows


def _finer(mesh: trimesh.Trimesh, times: int) -> trimesh.Trimesh:
    for _ in range(times):
        mesh = mesh.subdivide()
    return mesh.copy()
