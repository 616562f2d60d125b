"""glTF 2.0 files (``.gltf`` JSON with side files, or binary ``.glb``) read with their
structure kept: which node holds which mesh, in the file's own order.

trimesh decodes geometry and materials well, but it names the primitives of a
multi-primitive mesh ``<name>_<random hex>``, makes names up for unnamed nodes, and its
scene graph has no order of its own, so pieces read through it come out in a different
order (and under different names) on every run. Here the document is read first: it is
checked (indices, buffer sizes) so a broken file fails with a reason naming what is wrong,
and the default scene's node tree is walked depth first in file order, world transforms
composed along the way. trimesh is then handed a copy of the document in which every
primitive the scene uses is a mesh of its own named ``p<k>``, so each decoded geometry is
found by that name and placed with the transforms read here.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import unquote

import numpy as np
import trimesh

from featurizers.sampling import SAMPLER_INFO_KEY
from pipelines.sources import files
from pipelines.sources.base import SourceError

_GLB_MAGIC = b"glTF"
_JSON_CHUNK = 0x4E4F534A
_BIN_CHUNK = 0x004E4942
#: Bytes per component of each accessor ``componentType``, and components per ``type``.
_COMPONENT_BYTES = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
_INDEX_TYPES = (5121, 5123, 5125)
_TYPE_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}


@dataclass(frozen=True)
class PrimitiveUse:
    """One primitive placed in the scene by one node.

    Attributes:
        names: the names the file gives it, most specific first: the node's, its mesh's,
            then its ancestor nodes', nearest first (absent names left out).
        mesh: index into the document's ``meshes``.
        primitive: index into that mesh's ``primitives``.
        transform: (4, 4) float64 node-to-world transform.
    """

    names: tuple[str, ...]
    mesh: int
    primitive: int
    transform: np.ndarray


class Document:
    """A parsed glTF JSON document and its binary chunk, with index checks that fail
    naming the file and the offending element."""

    def __init__(self, data: bytes, path: str, binary: bool) -> None:
        self.path = path
        self.binary: bytes | None = None
        if not data:
            self.fail("empty file")
        text = self._glb_chunks(data) if binary else data
        try:
            # invalid UTF-8 in a name is kept (escaped later), not a reason to drop the file
            self.header = json.loads(text.decode("utf-8-sig", errors="surrogateescape"))
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            self.fail(f"not valid glTF JSON ({exc})")
        if not isinstance(self.header, dict):
            self.fail("not valid glTF JSON (the document is not an object)")
        asset = self.header.get("asset", {})
        if not isinstance(asset, dict):
            self.fail("'asset' is not an object")
        version = str(asset.get("version", "2.0"))
        if not version.startswith("2"):
            self.fail(f"glTF version {version}, only 2.x is supported")

    def fail(self, message: str) -> NoReturn:
        raise SourceError(f"{self.path}: {message}")

    def items(self, key: str) -> list:
        """The document's top-level array ``key`` (empty when absent)."""
        value = self.header.get(key, [])
        if not isinstance(value, list):
            self.fail(f"'{key}' is not an array")
        return value

    def item(self, key: str, index: Any, what: str) -> dict:
        """``header[key][index]``, failing with ``what`` when it does not exist."""
        array = self.items(key)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(array):
            self.fail(f"{what} refers to {key} {index!r}, but the file has {len(array)}")
        if not isinstance(array[index], dict):
            self.fail(f"{key} {index} is not an object")
        return array[index]

    def _glb_chunks(self, data: bytes) -> bytes:
        """The JSON chunk of a GLB (its BIN chunk, if any, goes to ``self.binary``)."""
        if len(data) < 12 or data[:4] != _GLB_MAGIC:
            self.fail("not a GLB file (no 'glTF' header)")
        version, length = struct.unpack_from("<II", data, 4)
        if version != 2:
            self.fail(f"GLB version {version}, only 2 is supported")
        if length > len(data):
            self.fail(f"truncated GLB: its header says {length} bytes, the file has {len(data)}")
        chunks: list[tuple[int, bytes]] = []
        offset = 12
        while offset + 8 <= length:
            size, kind = struct.unpack_from("<II", data, offset)
            if offset + 8 + size > length:
                self.fail(f"truncated GLB: chunk {len(chunks)} lacks bytes ({size} from {offset})")
            chunks.append((kind, data[offset + 8 : offset + 8 + size]))
            offset += 8 + size
        if not chunks or chunks[0][0] != _JSON_CHUNK:
            self.fail("GLB without a JSON chunk first")
        self.binary = next((chunk for kind, chunk in chunks[1:] if kind == _BIN_CHUNK), None)
        return chunks[0][1]


#: Bytes before a GLB's JSON chunk data: the file header and the chunk's own header.
GLB_JSON_START = 20


def glb_json_length(head: bytes) -> int | None:
    """The byte length of a GLB's JSON chunk, from the file's first ``GLB_JSON_START``
    bytes; None when they are not a GLB 2 header followed by a JSON chunk header."""
    if len(head) < GLB_JSON_START or head[:4] != _GLB_MAGIC:
        return None
    version = struct.unpack_from("<I", head, 4)[0]
    size, kind = struct.unpack_from("<II", head, 12)
    return size if version == 2 and kind == _JSON_CHUNK else None


def file_uris(document: Document) -> list[str]:
    """The names of the side files a document refers to, in document order: the ``uri``
    of every buffer, then of every image, leaving out URIs decoded in place (``data:``,
    or holding ``base64,`` as the reader tests). Each is given as written and, where
    that differs, percent-decoded as glTF specifies (the reader opens the name as
    written, so both are candidates).

    Raises:
        SourceError: ``buffers`` or ``images`` is not an array.
    """
    uris = []
    for key in ("buffers", "images"):
        for item in document.items(key):
            uri = item.get("uri") if isinstance(item, dict) else None
            if isinstance(uri, str) and not uri.startswith("data:") and "base64," not in uri:
                uris.extend(dict.fromkeys((uri, unquote(uri, errors="surrogateescape"))))
    return uris


def read_gltf(
    data: bytes, path: str, resolver: files.FileSystemsResolver, *, binary: bool
) -> tuple[list[tuple[tuple[str, ...], trimesh.Trimesh]], list[str]]:
    """Read a glTF/GLB file into (names, mesh in world coordinates) pairs in scene order.

    Args:
        data: the file's bytes.
        path: the file (named in errors and warnings).
        resolver: reads the side files (buffers, images) inside the file's folder.
        binary: whether ``data`` is a GLB.

    Returns:
        The pieces as (names, mesh) (``PrimitiveUse.names``), one per (node, primitive) in
        depth-first node order and primitive order; a mesh used by several nodes gives a
        piece per node. And one-line warnings for images that could not be loaded (the
        shape then renders without them).

    Raises:
        SourceError: the document is malformed, refers to something that does not exist,
            a buffer is missing, outside the file's folder or shorter than declared, or
            trimesh cannot decode it.
    """
    document = Document(data, path, binary)
    buffers = _buffers(document, resolver)
    _check_data(document, buffers)
    uses = primitive_uses(document)
    flat = {(use.mesh, use.primitive): None for use in uses}
    index = {key: k for k, key in enumerate(flat)}
    geometry = _decode(document, list(flat), resolver) if flat else {}
    _attach_samplers(document, list(flat), geometry)
    pieces = []
    for use in uses:
        mesh = geometry.get(f"p{index[use.mesh, use.primitive]}")
        if isinstance(mesh, trimesh.Trimesh):  # lines and points carry no surface
            placed = mesh.copy()
            if isinstance(mesh.visual, trimesh.visual.TextureVisuals):
                placed.visual.material = mesh.visual.material  # instances share textures
            placed.apply_transform(use.transform)
            pieces.append((use.names, placed))
    return pieces, _image_warnings(document, buffers, resolver)


def primitive_uses(document: Document) -> list[PrimitiveUse]:
    """Every primitive the default scene places, depth first in file order.

    Without ``scenes``, the nodes no other node holds are the roots, in index order.
    """
    if document.items("scenes"):
        scene = document.item("scenes", document.header.get("scene", 0), "'scene'")
        roots = scene.get("nodes", [])
    else:
        held = {c for n in document.items("nodes") if isinstance(n, dict) for c in _children(n)}
        roots = [i for i in range(len(document.items("nodes"))) if i not in held]
    if not isinstance(roots, list):
        document.fail("the scene's 'nodes' is not an array")
    uses: list[PrimitiveUse] = []
    visited: set[int] = set()
    stack = [(root, np.eye(4), "the scene", ()) for root in reversed(roots)]
    while stack:
        index, parent, holder, ancestors = stack.pop()
        node = document.item("nodes", index, holder)
        if index in visited:
            document.fail(f"node {index} is reached twice (glTF nodes form a tree)")
        visited.add(index)
        world = parent @ _local_transform(document, node, index)
        own = _texts(node.get("name"))
        if "mesh" in node:
            mesh_index = node["mesh"]
            mesh = document.item("meshes", mesh_index, f"node {index}")
            primitives = mesh.get("primitives")
            if not isinstance(primitives, list) or not primitives:
                document.fail(f"mesh {mesh_index} has no primitives")
            names = (*own, *_texts(mesh.get("name")), *ancestors)
            for k, primitive in enumerate(primitives):
                _check_primitive(document, primitive, f"mesh {mesh_index} primitive {k}")
                uses.append(PrimitiveUse(names, mesh_index, k, world))
        held_by = (*own, *ancestors)
        stack.extend(
            (child, world, f"node {index}", held_by) for child in reversed(_children(node))
        )
    return uses


def _children(node: dict) -> list:
    children = node.get("children", [])
    return children if isinstance(children, list) else [children]


def _texts(value: Any) -> tuple[str, ...]:
    """``(value,)`` for a non-blank name, else ``()``."""
    return (value,) if isinstance(value, str) and value.strip() else ()


def _local_transform(document: Document, node: dict, index: int) -> np.ndarray:
    """(4, 4) node-to-parent transform: ``matrix`` (column-major), else T * R * S."""
    try:
        if "matrix" in node:
            return np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T
        translation = np.asarray(node.get("translation", (0, 0, 0)), dtype=np.float64)
        x, y, z, w = np.asarray(node.get("rotation", (0, 0, 0, 1)), dtype=np.float64)
        scale = np.asarray(node.get("scale", (1, 1, 1)), dtype=np.float64).reshape(3)
        local = trimesh.transformations.quaternion_matrix((w, x, y, z))
        local[:3, 3] = translation.reshape(3)
        return local @ np.diag([*scale, 1.0])
    except (TypeError, ValueError) as exc:
        document.fail(f"node {index} has a malformed transform ({exc})")


def _buffers(document: Document, resolver: files.FileSystemsResolver) -> list[bytes]:
    """Every buffer's bytes (GLB chunk, ``data:`` URI or a file inside the folder),
    each at least as long as the document declares."""
    buffers = []
    for index, buffer in enumerate(document.items("buffers")):
        if not isinstance(buffer, dict):
            document.fail(f"buffer {index} is not an object")
        uri = buffer.get("uri")
        where = f"buffer {index} ({uri!r})" if isinstance(uri, str) else f"buffer {index}"
        if uri is None and index == 0 and document.binary is not None:
            data = document.binary
        elif not isinstance(uri, str):
            document.fail(f"{where} has no uri (and is not the GLB's binary chunk)")
        elif "base64," in uri:  # trimesh's test for an embedded buffer
            data = _decode_data_uri(document, uri, where)
        else:
            try:
                data = resolver.get(uri)
            except (OSError, ValueError) as exc:
                document.fail(f"{where} cannot be read: {exc}")
        declared = buffer.get("byteLength")
        if isinstance(declared, bool) or not isinstance(declared, int) or declared < 0:
            document.fail(f"{where} has no valid byteLength")
        if len(data) < declared:
            document.fail(f"{where} holds {len(data)} bytes, the file declares {declared}")
        buffers.append(data)
    return buffers


def _decode_data_uri(document: Document, uri: str, where: str) -> bytes:
    try:
        return base64.b64decode(uri[uri.index("base64,") + 7 :], validate=True)
    except ValueError as exc:
        document.fail(f"{where} is not valid base64 ({exc})")


def _check_data(document: Document, buffers: list[bytes]) -> None:
    """Every bufferView lies inside its buffer and every accessor inside its bufferView,
    and embedded images name a bufferView (trimesh slices them all, used or not)."""
    for index, view in enumerate(document.items("bufferViews")):
        where = f"bufferView {index}"
        view = document.item("bufferViews", index, where)
        buffer = view.get("buffer")
        document.item("buffers", buffer, where)
        start, length = view.get("byteOffset", 0), view.get("byteLength")
        if not all(_is_count(v) for v in (start, length)):
            document.fail(f"{where} has no valid byteOffset/byteLength")
        if start + length > len(buffers[buffer]):
            document.fail(
                f"{where} ends at byte {start + length} of buffer {buffer}, "
                f"which holds {len(buffers[buffer])} bytes"
            )
    for index in range(len(document.items("accessors"))):
        _check_accessor(document, index)
    for index, image in enumerate(document.items("images")):
        if isinstance(image, dict) and "bufferView" in image:
            document.item("bufferViews", image["bufferView"], f"image {index}")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_accessor(document: Document, index: int) -> None:
    where = f"accessor {index}"
    accessor = document.item("accessors", index, where)
    count = accessor.get("count")
    component = _COMPONENT_BYTES.get(accessor.get("componentType"))
    width = _TYPE_COMPONENTS.get(accessor.get("type"))
    if not _is_count(count) or not component:
        document.fail(f"{where} has no valid count/componentType")
    if not width:
        document.fail(f"{where} has an unknown type {accessor.get('type')!r}")
    if "bufferView" not in accessor:
        return  # zeros, sparse or filled by an extension (Draco)
    view_index = accessor["bufferView"]
    view = document.item("bufferViews", view_index, where)
    element = component * width
    stride = view.get("byteStride", element)
    offset = accessor.get("byteOffset", 0)
    if not _is_count(offset) or not _is_count(stride) or stride < element:
        document.fail(f"{where} has an invalid byteOffset or byteStride")
    needed = offset + (count - 1) * stride + element if count else 0
    if needed > view["byteLength"]:
        document.fail(
            f"{where} needs {needed} bytes of bufferView {view_index}, "
            f"which has {view['byteLength']}"
        )


def _check_primitive(document: Document, primitive: Any, where: str) -> None:
    """A primitive's accessors and material exist; positions are VEC3, indices scalars."""
    if not isinstance(primitive, dict) or not isinstance(primitive.get("attributes"), dict):
        document.fail(f"{where} has no attributes")
    attributes = primitive["attributes"]
    if "POSITION" not in attributes:
        document.fail(f"{where} has no POSITION attribute")
    for role, index in attributes.items():
        document.item("accessors", index, f"{where} {role}")
    if document.items("accessors")[attributes["POSITION"]].get("type") != "VEC3":
        document.fail(f"{where} has POSITION values that are not VEC3")
    if "indices" in primitive:
        indices = document.item("accessors", primitive["indices"], f"{where} indices")
        if indices.get("type") != "SCALAR" or indices.get("componentType") not in _INDEX_TYPES:
            document.fail(f"{where} has indices that are not unsigned integer scalars")
    if "material" in primitive:
        document.item("materials", primitive["material"], where)


def _decode(
    document: Document, flat: list[tuple[int, int]], resolver: files.FileSystemsResolver
) -> dict[str, trimesh.Geometry]:
    """trimesh's decoding of the listed (mesh, primitive) pairs, as geometry ``p<k>``."""
    header = {
        key: value
        for key, value in document.header.items()
        if key not in ("nodes", "meshes", "scenes", "scene", "skins", "animations")
    }
    meshes = document.items("meshes")
    header["meshes"] = [
        {"name": f"p{k}", "primitives": [meshes[m]["primitives"][p]]}
        for k, (m, p) in enumerate(flat)
    ]
    header["nodes"] = [{"name": f"p{k}", "mesh": k} for k in range(len(flat))]
    header["scenes"] = [{"nodes": list(range(len(flat)))}]
    header["scene"] = 0
    text = json.dumps(header).encode()  # ASCII: escaped names survive the round trip
    if document.binary is None:
        return files.decode_scene(text, "gltf", resolver, document.path).geometry
    return files.decode_scene(_glb(text, document.binary), "glb", resolver, document.path).geometry


def _attach_samplers(
    document: Document, flat: list[tuple[int, int]], geometry: dict[str, trimesh.Geometry]
) -> None:
    """Put each base-color texture's glTF sampler (wrap modes, filters) in its image's
    ``info`` under ``SAMPLER_INFO_KEY``, where sampling and rendering read it (trimesh
    keeps the image only). Textures without a sampler keep the spec's defaults."""
    materials, textures, samplers = (
        document.items(k) for k in ("materials", "textures", "samplers")
    )
    for k, (m, p) in enumerate(flat):
        material = document.items("meshes")[m]["primitives"][p].get("material")
        try:
            texture = materials[material]["pbrMetallicRoughness"]["baseColorTexture"]["index"]
            sampler = samplers[textures[texture]["sampler"]]
            image = geometry[f"p{k}"].visual.material.baseColorTexture
        except (AttributeError, IndexError, KeyError, TypeError):
            continue  # no texture, no sampler, or no image loaded
        if image is not None and isinstance(sampler, dict):
            image.info[SAMPLER_INFO_KEY] = dict(sampler)


def _glb(text: bytes, binary: bytes) -> bytes:
    """A GLB holding JSON ``text`` and the ``binary`` chunk (each padded to 4 bytes)."""
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    body = struct.pack("<II", len(text), _JSON_CHUNK) + text
    body += struct.pack("<II", len(binary), _BIN_CHUNK) + binary
    return _GLB_MAGIC + struct.pack("<II", 2, 12 + len(body)) + body


def _image_warnings(
    document: Document, buffers: list[bytes], resolver: files.FileSystemsResolver
) -> list[str]:
    """A warning for every image that could not be read or opened: trimesh drops such a
    texture silently and the surface renders without it."""
    warnings = []
    for index, image in enumerate(document.items("images")):
        image = image if isinstance(image, dict) else {}
        uri, view = image.get("uri"), image.get("bufferView")
        if isinstance(uri, str) and "base64," not in uri:
            what = f"texture image {uri!r}"
            problem = resolver.texture_problem(uri)
        elif isinstance(uri, str):
            what = f"texture image {index} (embedded)"
            try:
                problem = files.image_problem(base64.b64decode(uri[uri.index("base64,") + 7 :]))
            except ValueError as exc:
                problem = f"not valid base64: {exc}"
        else:
            what = f"texture image {index} (embedded)"
            problem = _embedded_image_problem(document, view, buffers)
        if problem:
            warnings.append(files.lost_side_file(document.path, what, problem))
    return warnings


def _embedded_image_problem(document: Document, view_index: Any, buffers: list[bytes]) -> str:
    try:
        view = document.item("bufferViews", view_index, "an image")
        start = view.get("byteOffset", 0)
        data = buffers[view["buffer"]][start : start + view["byteLength"]]
    except (SourceError, KeyError, IndexError, TypeError) as exc:
        return str(exc)
    return files.image_problem(data) or ""
