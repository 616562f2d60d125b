"""Real-format glTF/GLB/OBJ files written byte by byte, with the quirks of real assets:
multi-primitive meshes, unnamed nodes, repeated mesh names, instance-numbered node names
(3DCoMPaT++'s ``leg_01``), OBJ ``o``/``g`` groups. Deterministic: same call, same bytes.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image


def box(extents, center) -> trimesh.Trimesh:
    return trimesh.creation.box(
        extents=extents, transform=trimesh.transformations.translation_matrix(center)
    )


class GltfBuilder:
    """Accumulates meshes, nodes and materials into a glTF 2.0 document and one buffer."""

    def __init__(self) -> None:
        self.header: dict = {
            "asset": {"version": "2.0"},
            "buffers": [],
            "bufferViews": [],
            "accessors": [],
            "meshes": [],
            "nodes": [],
            "scenes": [{"nodes": []}],
            "scene": 0,
        }
        self.data = bytearray()

    def _accessor(self, array: np.ndarray, kind: str, component: int) -> int:
        self.data += b"\0" * (-len(self.data) % 4)
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": array.nbytes}
        self.data += array.tobytes()
        self.header["bufferViews"].append(view)
        accessor = {
            "bufferView": len(self.header["bufferViews"]) - 1,
            "componentType": component,
            "count": len(array),
            "type": kind,
        }
        if kind == "VEC3":
            accessor["min"] = array.min(axis=0).tolist()
            accessor["max"] = array.max(axis=0).tolist()
        self.header["accessors"].append(accessor)
        return len(self.header["accessors"]) - 1

    def mesh(self, primitives: list[trimesh.Trimesh], name: str | None = None, **extra) -> int:
        """A mesh of one primitive per trimesh (``extra`` keys go on every primitive)."""
        entry: dict = {"primitives": []}
        for mesh in primitives:
            primitive = {
                "attributes": {
                    "POSITION": self._accessor(
                        np.asarray(mesh.vertices, dtype=np.float32), "VEC3", 5126
                    )
                },
                "indices": self._accessor(
                    np.asarray(mesh.faces, dtype=np.uint32).reshape(-1), "SCALAR", 5125
                ),
                **extra,
            }
            entry["primitives"].append(primitive)
        if name is not None:
            entry["name"] = name
        self.header["meshes"].append(entry)
        return len(self.header["meshes"]) - 1

    def node(self, name: str | None = None, *, root: bool = True, **fields) -> int:
        node = dict(fields)
        if name is not None:
            node["name"] = name
        self.header["nodes"].append(node)
        index = len(self.header["nodes"]) - 1
        if root:
            self.header["scenes"][0]["nodes"].append(index)
        return index

    def textured_material(self, uri: str, sampler: dict | None = None) -> int:
        """A material whose base color is the image at ``uri``, read with ``sampler`` (UVs
        are not needed for the texture to be loaded or dropped)."""
        self.header.setdefault("images", []).append({"uri": uri})
        texture = {"source": len(self.header["images"]) - 1}
        if sampler is not None:
            self.header.setdefault("samplers", []).append(sampler)
            texture["sampler"] = len(self.header["samplers"]) - 1
        self.header.setdefault("textures", []).append(texture)
        texture = {"index": len(self.header["textures"]) - 1}
        self.header.setdefault("materials", []).append(
            {"pbrMetallicRoughness": {"baseColorTexture": texture}}
        )
        return len(self.header["materials"]) - 1

    def write_glb(self, path: Path) -> Path:
        header = {**self.header, "buffers": [{"byteLength": len(self.data)}]}
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 4)
        data = bytes(self.data) + b"\0" * (-len(self.data) % 4)
        body = struct.pack("<II", len(text), 0x4E4F534A) + text
        body += struct.pack("<II", len(data), 0x004E4942) + data
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body)
        return path

    def write_gltf(self, path: Path, buffer_uri: str | None = None) -> Path:
        """``path`` (JSON) and its buffer file (``<stem>.bin`` unless ``buffer_uri``)."""
        uri = buffer_uri or f"{path.stem}.bin"
        header = {**self.header, "buffers": [{"uri": uri, "byteLength": len(self.data)}]}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(header))
        if buffer_uri is None:
            (path.parent / uri).write_bytes(bytes(self.data))
        return path


def multi_primitive_glb(path: Path) -> Path:
    """Like a real exported vehicle: a body mesh of three primitives (one per material in
    real files) under an unnamed node, a two-primitive ``Tire`` mesh placed by three nodes
    (``wheel_01``, ``wheel_02`` and an unnamed one), a second mesh that repeats the name
    ``Body``, and an unnamed node holding an unnamed mesh. Parts: ``Body`` (four pieces),
    ``wheel`` (four), ``Tire`` (two); the last piece is unlabeled."""
    gltf = GltfBuilder()
    body = gltf.mesh(
        [
            box((2, 1, 0.4), (0, 0, 0.5)),
            box((1, 0.9, 0.4), (0, 0, 0.9)),
            box((0.2, 1, 0.2), (1, 0, 0.5)),
        ],
        name="Body",
    )
    wheel = gltf.mesh([box((0.4, 0.2, 0.4), (0, 0, 0)), box((0.2, 0.22, 0.2), (0, 0, 0))], "Tire")
    trim = gltf.mesh([box((0.1, 1.1, 0.1), (-1, 0, 0.6))], name="Body")
    loose = gltf.mesh([box((0.3, 0.3, 0.3), (0, 0, 1.3))])
    car = gltf.node()  # an unnamed root holding everything
    children = [
        gltf.node(mesh=body, root=False),
        gltf.node("wheel_01", mesh=wheel, translation=[0.7, 0.6, 0.2], root=False),
        gltf.node("wheel_02", mesh=wheel, translation=[-0.7, 0.6, 0.2], root=False),
        gltf.node(mesh=wheel, translation=[0.7, -0.6, 0.2], root=False),
        gltf.node(mesh=trim, root=False),
        gltf.node(mesh=loose, root=False),
    ]
    gltf.header["nodes"][car]["children"] = children
    return gltf.write_glb(path)


def compat3d_chair_gltf(path: Path) -> Path:
    """A 3DCoMPaT++-style chair: node names ``leg_01``..``leg_04``, ``seat_01``,
    ``backrest_01``; the four leg nodes share one mesh (instances), as exporters write."""
    gltf = GltfBuilder()
    leg = gltf.mesh([box((0.05, 0.05, 0.42), (0, 0, 0.21))], name="leg_mesh")
    for k, (x, y) in enumerate([(-0.2, -0.2), (0.2, -0.2), (-0.2, 0.2), (0.2, 0.2)], start=1):
        gltf.node(f"leg_{k:02d}", mesh=leg, translation=[x, y, 0])
    gltf.node("seat_01", mesh=gltf.mesh([box((0.5, 0.5, 0.06), (0, 0, 0.45))]))
    gltf.node("backrest_01", mesh=gltf.mesh([box((0.5, 0.05, 0.5), (0, -0.225, 0.73))]))
    return gltf.write_gltf(path)


def grouped_obj(path: Path) -> Path:
    """An OBJ with ``o`` objects and ``g`` groups: ``o chair`` holding ``g seat``,
    ``g leg_1``, ``g leg_2``; then ``o back`` without group; faces before any name."""
    parts = [
        (None, box((0.1, 0.1, 0.1), (0, 0, 1.2))),
        ("o chair\ng seat", box((0.5, 0.5, 0.06), (0, 0, 0.45))),
        ("g leg_1", box((0.05, 0.05, 0.42), (-0.2, -0.2, 0.21))),
        ("g leg_2", box((0.05, 0.05, 0.42), (0.2, 0.2, 0.21))),
        ("o back", box((0.5, 0.05, 0.5), (0, -0.225, 0.73))),
    ]
    lines, offset = [], 1
    for header, mesh in parts:
        if header:
            lines.append(header)
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices]
        lines += [f"f {a + offset} {b + offset} {c + offset}" for a, b, c in mesh.faces]
        offset += len(mesh.vertices)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def huge_png(path: Path, size: int = 16384) -> Path:
    """A real ``size``x``size`` 1-bit PNG (a few KB compressed) that PIL refuses to open
    as a decompression bomb (16k x 16k is above twice ``Image.MAX_IMAGE_PIXELS``)."""
    Image.new("1", (size, size)).save(path)
    return path
