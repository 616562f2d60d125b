"""Tiny shapes with known surface colors and parts, for the rendering and lifting tests."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from featurizers.shapes import MeshPiece, ShapeRecord
from pipelines.sources import SOURCES

#: Six clearly distinct colors, one per box side (-x, +x, -y, +y, -z, +z).
SIDE_COLORS = np.array(
    [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180]],
    dtype=np.uint8,
)
#: Texture atlas block size in texels; each side's UVs cover the central half of a block.
BLOCK = 32


def record(*meshes: trimesh.Trimesh, shape_id: str = "test/shape") -> ShapeRecord:
    """A record with one piece (and one part, named after its index) per mesh."""
    return ShapeRecord(
        shape_id=shape_id,
        source="test",
        category_raw="thing",
        part_names=tuple(f"part{i}" for i in range(len(meshes))),
        pieces=tuple(MeshPiece(mesh, part=i) for i, mesh in enumerate(meshes)),
    )


def box_sides(extents=(1.0, 0.6, 0.8)) -> tuple[trimesh.Trimesh, np.ndarray]:
    """A box with unshared vertices (3 per face) and each face's side index 0..5."""
    box = trimesh.creation.box(extents)
    corners = box.vertices[box.faces].reshape(-1, 3)
    mesh = trimesh.Trimesh(corners, np.arange(len(corners)).reshape(-1, 3), process=False)
    normal = mesh.face_normals
    axis = np.abs(normal).argmax(1)
    side = 2 * axis + (normal[np.arange(len(normal)), axis] > 0)
    return mesh, side


def vertex_colored_box(extents=(1.0, 0.6, 0.8)) -> trimesh.Trimesh:
    """Each side one color, given as vertex colors."""
    mesh, side = box_sides(extents)
    colors = np.repeat(SIDE_COLORS[side], 3, axis=0)
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=colors)
    return mesh


def face_colored_box(extents, color) -> trimesh.Trimesh:
    """A box of one face color."""
    box = trimesh.creation.box(extents)
    box.visual.face_colors = np.append(color, 255)
    return box


def _atlas_and_uv(mesh: trimesh.Trimesh, side: np.ndarray) -> tuple[Image.Image, np.ndarray]:
    """A 3 x 2 block atlas of the side colors and per-vertex UVs inside each side's block."""
    atlas = np.zeros((2 * BLOCK, 3 * BLOCK, 3), dtype=np.uint8)
    for k, color in enumerate(SIDE_COLORS):
        row, col = divmod(k, 3)
        atlas[row * BLOCK : (row + 1) * BLOCK, col * BLOCK : (col + 1) * BLOCK] = color
    lo, hi = mesh.bounds
    uv = np.zeros((len(mesh.vertices), 2))
    for face, k in enumerate(side):
        row, col = divmod(int(k), 3)
        in_plane = [a for a in range(3) if a != k // 2]
        corners = mesh.vertices[mesh.faces[face]][:, in_plane]
        st = (corners - lo[in_plane]) / (hi - lo)[in_plane]
        u0, u1 = (
            (col * BLOCK + BLOCK / 4) / (3 * BLOCK),
            (col * BLOCK + 3 * BLOCK / 4) / (3 * BLOCK),
        )
        v_top, v_bottom = (
            (row * BLOCK + BLOCK / 4) / (2 * BLOCK),
            (row * BLOCK + 3 * BLOCK / 4) / (2 * BLOCK),
        )
        uv[mesh.faces[face]] = np.c_[
            u0 + st[:, 0] * (u1 - u0), 1 - v_bottom + st[:, 1] * (v_bottom - v_top)
        ]
    return Image.fromarray(atlas), uv


def textured_box_glb(extents=(1.0, 0.6, 0.8), factor=(255, 200, 230, 255)) -> trimesh.Trimesh:
    """A box textured through a glTF PBR baseColorTexture and baseColorFactor, as read back
    from GLB bytes."""
    mesh, side = box_sides(extents)
    image, uv = _atlas_and_uv(mesh, side)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=image, baseColorFactor=factor)
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    glb = mesh.export(file_type="glb")
    return trimesh.load(io.BytesIO(glb), file_type="glb", force="mesh")


def textured_box_obj(folder: Path, extents=(1.0, 0.6, 0.8), kd=(0.9, 1.0, 0.8)) -> trimesh.Trimesh:
    """A box textured through an OBJ/MTL diffuse map (``map_Kd``) and ``Kd``, read back."""
    mesh, side = box_sides(extents)
    image, uv = _atlas_and_uv(mesh, side)
    image.save(folder / "atlas.png")
    (folder / "box.mtl").write_text(f"newmtl atlas\nKd {kd[0]} {kd[1]} {kd[2]}\nmap_Kd atlas.png\n")
    lines = ["mtllib box.mtl", "usemtl atlas"]
    lines += [f"v {x} {y} {z}" for x, y, z in mesh.vertices]
    lines += [f"vt {u} {v}" for u, v in uv]
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in mesh.faces + 1]
    (folder / "box.obj").write_text("\n".join(lines) + "\n")
    return trimesh.load(folder / "box.obj", force="mesh", process=False)


def smooth_colored_sphere(subdivisions: int = 5) -> trimesh.Trimesh:
    """A dense icosphere with vertex colors varying smoothly with position."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    colors = np.clip((sphere.vertices * 0.5 + 0.5) * 255, 0, 255).astype(np.uint8)
    sphere.visual.vertex_colors = colors
    return sphere


def colored_torus(faces: int = 50_000) -> trimesh.Trimesh:
    """A torus of about ``faces`` triangles with vertex colors varying with position (the
    benchmarks' ~50k-face mesh)."""
    torus = trimesh.creation.torus(
        major_radius=0.4, minor_radius=0.15, major_sections=250, minor_sections=faces // 500
    )
    torus.visual.vertex_colors = ((torus.vertices * 0.9 + 0.5) * 255).clip(0, 255).astype(np.uint8)
    return torus


def table(dense: bool = False) -> ShapeRecord:
    """A table: a top and four legs, five parts of distinct face colors; ``dense``
    subdivides every piece into triangles of a few pixels in the default rig."""
    top = face_colored_box((1.2, 0.06, 0.8), SIDE_COLORS[0]).apply_translation([0, 0.75, 0])
    legs = [
        face_colored_box((0.06, 0.72, 0.06), SIDE_COLORS[k + 1]).apply_translation([x, 0.36, z])
        for k, (x, z) in enumerate([(-0.55, -0.35), (0.55, -0.35), (-0.55, 0.35), (0.55, 0.35)])
    ]
    pieces = [top, *legs]
    if dense:
        pieces = [_subdivided(piece, 0.015) for piece in pieces]
    return record(*pieces, shape_id=f"test/table{'_dense' if dense else ''}")


def _subdivided(mesh: trimesh.Trimesh, edge: float) -> trimesh.Trimesh:
    color = mesh.visual.face_colors[0]
    dense = mesh.subdivide_to_size(edge)
    dense.visual.face_colors = color
    return dense


@dataclass(frozen=True)
class GltfMesh:
    """One node with one textured triangle primitive, for ``write_gltf``.

    Attributes:
        name: node and mesh name.
        positions: (n, 3) vertex positions.
        uv: (n, 2) TEXCOORD_0 in glTF's convention (t = 0 at the image's top row).
        triangles: (m, 3) vertex indices.
        texture: (H, W, 3) uint8 base color image, row 0 at the top.
        factor: RGBA baseColorFactor.
        sampler: glTF sampler object of the texture; None: the texture names none.
    """

    name: str
    positions: np.ndarray
    uv: np.ndarray
    triangles: np.ndarray
    texture: np.ndarray
    factor: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    sampler: dict | None = None


def write_gltf(path: Path, meshes: list[GltfMesh]) -> Path:
    """Write a real glTF 2.0 file: JSON, one ``.bin`` buffer and one PNG per texture, in
    ``path``'s folder (made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = bytearray()
    gltf: dict = {
        "asset": {"version": "2.0", "generator": "partbank tests"},
        "scene": 0,
        "scenes": [{"nodes": list(range(len(meshes)))}],
        **{key: [] for key in ("nodes", "meshes", "materials", "textures", "images")},
        **{key: [] for key in ("samplers", "accessors", "bufferViews")},
    }

    def accessor(array: np.ndarray, component: int, kind: str, target: int) -> int:
        data = np.ascontiguousarray(array).tobytes()
        gltf["bufferViews"].append(
            {"buffer": 0, "byteOffset": len(blob), "byteLength": len(data), "target": target}
        )
        blob.extend(data + b"\0" * (-len(data) % 4))
        entry = {"bufferView": len(gltf["bufferViews"]) - 1, "componentType": component}
        entry |= {"count": len(array), "type": kind}
        if kind == "VEC3":
            entry |= {"min": array.min(0).tolist(), "max": array.max(0).tolist()}
        gltf["accessors"].append(entry)
        return len(gltf["accessors"]) - 1

    for k, mesh in enumerate(meshes):
        image_name = f"{path.stem}_{k}.png"
        Image.fromarray(mesh.texture).save(path.parent / image_name)
        gltf["images"].append({"uri": image_name})
        texture = {"source": k}
        if mesh.sampler is not None:
            texture["sampler"] = len(gltf["samplers"])
            gltf["samplers"].append(mesh.sampler)
        gltf["textures"].append(texture)
        pbr = {"baseColorFactor": list(mesh.factor), "baseColorTexture": {"index": k}}
        gltf["materials"].append({"name": mesh.name, "pbrMetallicRoughness": pbr})
        attributes = {
            "POSITION": accessor(mesh.positions.astype(np.float32), 5126, "VEC3", 34962),
            "TEXCOORD_0": accessor(mesh.uv.astype(np.float32), 5126, "VEC2", 34962),
        }
        indices = accessor(mesh.triangles.astype(np.uint32).reshape(-1), 5125, "SCALAR", 34963)
        primitive = {"attributes": attributes, "indices": indices, "material": k}
        gltf["meshes"].append({"name": mesh.name, "primitives": [primitive]})
        gltf["nodes"].append({"name": mesh.name, "mesh": k})
    (path.parent / f"{path.stem}.bin").write_bytes(bytes(blob))
    gltf["buffers"] = [{"uri": f"{path.stem}.bin", "byteLength": len(blob)}]
    path.write_text(json.dumps(gltf, indent=1))
    return path


def smooth_texture(width: int, height: int, seed: int, cycles: int, tint) -> np.ndarray:
    """(height, width, 3) uint8: a sum of random-phase waves of up to ``cycles`` periods
    across the image (seamless under REPEAT), around the RGB ``tint``."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(width) / width, np.arange(height) / height)
    image = np.zeros((height, width, 3))
    for _ in range(12):
        kx, ky = rng.integers(-cycles, cycles + 1, 2)
        amplitude = rng.uniform(10, 30, 3) / max(1.0, np.hypot(kx, ky)) ** 0.5
        wave = np.sin(2 * np.pi * (kx * x + ky * y) + rng.uniform(0, 2 * np.pi))
        image += amplitude * wave[..., None]
    return np.clip(np.asarray(tint) + image, 0, 255).astype(np.uint8)


def _grid_side(axis: int, sign: float, half: np.ndarray, offset: float, cells: int):
    """A side of a box (outward normal ``sign`` along ``axis``, half-extents ``half``) as a
    grid of cells x cells quads pushed ``offset`` outward: positions, in-plane coordinates
    (n, 2) and triangles, wound to face outward."""
    a, b = [d for d in range(3) if d != axis]
    s, t = np.meshgrid(np.linspace(-1, 1, cells + 1), np.linspace(-1, 1, cells + 1))
    positions = np.zeros((s.size, 3))
    positions[:, a], positions[:, b] = s.ravel() * half[a], t.ravel() * half[b]
    positions[:, axis] = sign * (half[axis] + offset)
    row = np.arange(cells)[:, None] * (cells + 1) + np.arange(cells)[None]
    corner = row.ravel()
    quads = np.stack([corner, corner + 1, corner + cells + 2, corner + cells + 1], 1)
    triangles = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    normal = np.cross(
        positions[triangles[0, 1]] - positions[triangles[0, 0]],
        positions[triangles[0, 2]] - positions[triangles[0, 0]],
    )
    if normal[axis] * sign < 0:
        triangles = triangles[:, ::-1]
    return positions, positions[:, [a, b]], triangles


def _box_grid(extents, offset: float = 0.0, cover: float = 1.0, cells: int = 8):
    """The six sides of a box (each ``cover`` of its side, pushed ``offset`` outward) as
    one grid mesh: positions, in-plane coordinates (n, 2) and triangles."""
    half = np.asarray(extents, dtype=np.float64) / 2
    positions, plane, triangles = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            shrunk = half * cover
            shrunk[axis] = half[axis]
            side = _grid_side(axis, sign, shrunk, offset, cells)
            triangles.append(side[2] + sum(len(p) for p in positions))
            positions.append(side[0])
            plane.append(side[1])
    return np.concatenate(positions), np.concatenate(plane), np.concatenate(triangles)


def tiled_box_gltf(folder: Path, tiles_per_unit: float = 3.0) -> Path:
    """A box whose sides repeat a 32 x 32 texture ``tiles_per_unit`` times per unit of
    length, with UVs far outside 0..1 (REPEAT, the glTF default: no sampler given)."""
    positions, plane, triangles = _box_grid((1.0, 0.6, 0.8))
    uv = plane * tiles_per_unit + [2.0, -4.0]
    texture = smooth_texture(32, 32, seed=1, cycles=3, tint=(170, 120, 90))
    mesh = GltfMesh("box", positions, uv, triangles, texture)
    return write_gltf(folder / "tiled" / "tiled.gltf", [mesh])


def layered_box_gltf(folder: Path, gap: float = 0.003) -> Path:
    """A tiled box (warm texture) with a decal plate over the central half of every side,
    ``gap`` above it (cool texture): two close layers of different colors."""
    extents = (1.0, 0.6, 0.8)
    base_positions, base_plane, base_triangles = _box_grid(extents)
    decal_positions, decal_plane, decal_triangles = _box_grid(extents, gap, cover=0.5, cells=4)
    warm = smooth_texture(32, 32, seed=2, cycles=3, tint=(200, 110, 70))
    cool = smooth_texture(64, 64, seed=3, cycles=4, tint=(60, 120, 200))
    meshes = [
        GltfMesh("base", base_positions, base_plane * 3.0 - 1.5, base_triangles, warm),
        GltfMesh("decal", decal_positions, decal_plane * 2.0 + 0.5, decal_triangles, cool),
    ]
    return write_gltf(folder / "layered" / "layered.gltf", meshes)


def textured_sphere_gltf(folder: Path, sampler: dict | None = None) -> Path:
    """A latitude-longitude sphere (64 x 32 segments, seam vertices doubled) mapped once by
    a 512 x 256 texture of fine detail (a few render pixels per texel)."""
    lon, lat = np.meshgrid(np.linspace(0, 1, 65), np.linspace(0, 1, 33))
    theta, phi = lat.ravel() * np.pi, lon.ravel() * 2 * np.pi
    positions = 0.5 * np.c_[np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)]
    corner = (np.arange(32)[:, None] * 65 + np.arange(64)[None]).ravel()
    quads = np.stack([corner, corner + 65, corner + 66, corner + 1], 1)
    triangles = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    area = np.linalg.norm(
        np.cross(
            positions[triangles[:, 1]] - positions[triangles[:, 0]],
            positions[triangles[:, 2]] - positions[triangles[:, 0]],
        ),
        axis=1,
    )
    triangles = triangles[area > 1e-12]  # the poles' degenerate halves
    texture = smooth_texture(512, 256, seed=4, cycles=24, tint=(140, 140, 120))
    mesh = GltfMesh(
        "globe",
        positions,
        np.c_[lon.ravel(), lat.ravel()],
        triangles,
        texture,
        factor=(1.0, 0.9, 0.8, 1.0),
        sampler=sampler,
    )
    return write_gltf(folder / "sphere" / "sphere.gltf", [mesh])


def load_gltf(path: Path) -> ShapeRecord:
    """The only glTF file of its folder, read as the ``glb`` source reads it."""
    source = SOURCES["glb"]()
    (source_input,) = source.discover(str(path.parent))
    return source.load(source_input)
