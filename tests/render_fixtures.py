"""Tiny shapes with known surface colors and parts, for the rendering and lifting tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from featurizers.shapes import MeshPiece, ShapeRecord

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
        mesh_sha256="0" * 64,
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
