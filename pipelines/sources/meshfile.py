"""Shape records from single mesh files whose node (or OBJ group) names are part names."""

from __future__ import annotations

import posixpath

from featurizers.names import part_name
from featurizers.shapes import UNLABELED, MeshPiece, ShapeRecord
from pipelines.sources import files, gltf
from pipelines.sources.base import (
    SourceError,
    SourceInput,
    number_parts,
    path_warnings,
    valid_text,
)
from pipelines.sources.meshes import load_mesh_file
from pipelines.sources.objfile import MaterialLibraries, texture_names


def mesh_file_record(source_input: SourceInput, source: str, *, labeled: bool) -> ShapeRecord:
    """Read one mesh file into a record, its named meshes becoming parts.

    A mesh's part is the first of its raw names (glTF node, mesh, then ancestor nodes;
    OBJ group, then object: ``NamedMesh.names``) that names a part by
    ``featurizers.names.part_name``: instances (``leg_01``, ``leg_02``) become one part
    (``leg``); made-up names (``geometry_0``, ``17_34ea``) name none, so a Sketchfab-style
    mesh node ``Object_5`` under ``Chair_Leg_3`` is a ``Chair_Leg``. A mesh none of whose
    names names a part is unlabeled. Parts are numbered in the file's order. Names that
    are not valid text are escaped and reported in the record's warnings.

    Args:
        source_input: the file, and its raw category.
        source: the source name.
        labeled: whether the names are part annotations (3DCoMPaT++). Otherwise (any
            asset) they name parts only when they name at least two different parts: one
            name over a whole asset is its title, not a segmentation.

    Raises:
        SourceError: the file is a folder, a dangling symlink or missing (``base.check_file``,
            through ``load_mesh_file``), or unreadable, or holds no triangle mesh. A path that
            is not valid UTF-8 is no error: it is a record warning (``base.path_warnings``).
    """
    loaded = load_mesh_file(source_input.uri)
    if not loaded.meshes:
        raise SourceError(f"{source_input.uri}: file holds no triangle mesh")
    warnings = [*path_warnings(source_input), *loaded.warnings]
    where = f"name in {source_input.uri}"
    names = [
        next(
            filter(None, (part_name(valid_text(raw, where, warnings)) for raw in named.names)),
            None,
        )
        for named in loaded.meshes
    ]
    part_names, parts = number_parts(names)
    if not labeled and len(part_names) < 2:
        part_names, parts = (), [UNLABELED] * len(parts)
    pieces = tuple(
        MeshPiece(named.mesh, part) for named, part in zip(loaded.meshes, parts, strict=True)
    )
    return ShapeRecord(
        shape_id=source_input.shape_id,
        source=source,
        category_raw=source_input.category,
        part_names=part_names,
        pieces=pieces,
        warnings=tuple(dict.fromkeys(warnings)),
    )


class MeshFileInputs:
    """``Source.input_files`` of sources whose inputs are single mesh files."""

    def input_files(
        self, source_input: SourceInput, digests: files.FileDigests | None = None
    ) -> list[str]:
        """The mesh file, then the side files it names (``mesh_input_files``)."""
        return mesh_input_files(source_input.uri, digests or files.FileDigests())

    def input_folder(self, source_input: SourceInput) -> str:
        """The mesh file's folder, where its side files are resolved."""
        return files.parent(source_input.uri)


def mesh_input_files(path: str, digests: files.FileDigests) -> list[str]:
    """A mesh file and the side files it names, found without decoding geometry.

    The side files are the glTF ``buffers[].uri`` and ``images[].uri`` naming files
    (``gltf.file_uris``; of a ``.glb``, its JSON chunk), the OBJ ``mtllib`` names and the
    texture names of each such ``.mtl`` (``objfile``), and a PLY header's ``comment
    TextureFile`` names (which trimesh reads). Names resolve in the mesh file's
    folder, as the loader resolves them; names leading outside it (``files.inside``) are
    left out, unread. A file that is missing, unreadable or malformed names nothing.

    Args:
        path: the ``.glb``, ``.gltf``, ``.obj``, ``.ply`` or ``.stl`` file.
        digests: where the files read here (the mesh file, ``.mtl`` files) are digested.

    Returns:
        ``path``, then the side files (existing or not) sorted by their path relative to
        the folder, each once.
    """
    folder = files.parent(path)
    kind = posixpath.splitext(path)[1].lower()
    names: list[str] = []
    if kind in (".glb", ".gltf"):
        names = _gltf_uris(path, digests, binary=kind == ".glb")
    elif kind == ".ply":
        header = _PlyHeader()
        digests.digest(path, header.feed)
        names = header.texture_names()
    elif kind == ".obj":
        libraries = MaterialLibraries()
        digests.digest(path, libraries.feed)
        for library in _inside(folder, libraries.finish()).values():
            text = bytearray()
            digests.digest(library, text.extend)
            names += texture_names(bytes(text))
        names = [*libraries.names, *names]
    side = _inside(folder, names)
    side.pop(files.split(path)[1], None)  # a file naming itself is listed once, first
    return [path, *(side[name] for name in sorted(side))]


def _inside(folder: str, names: list[str]) -> dict[str, str]:
    """Relative path -> path of each name that resolves inside ``folder``."""
    paths = {}
    for name in names:
        try:
            resolved = files.inside(folder, name)
        except PermissionError:
            continue  # the loader refuses it too
        paths[files.relative_to(resolved, folder)] = resolved
    return paths


def _gltf_uris(path: str, digests: files.FileDigests, *, binary: bool) -> list[str]:
    """``gltf.file_uris`` of a glTF file (of a GLB, read up to its JSON chunk's end), or []
    when the file is not readable glTF."""
    head = _GlbHead() if binary else None
    text = bytearray()
    digests.digest(path, head.feed if head else text.extend)
    try:
        return gltf.file_uris(gltf.Document(head.json() if head else bytes(text), path, False))
    except SourceError:
        return []


class _GlbHead:
    """Keeps the bytes of a GLB fed in blocks up to the end of its JSON chunk."""

    def __init__(self) -> None:
        self.kept = bytearray()
        self.limit = gltf.GLB_JSON_START  # until the chunk's length is known

    def feed(self, block: bytes) -> None:
        view = memoryview(block)
        while view and len(self.kept) < self.limit:
            take = self.limit - len(self.kept)
            self.kept += view[:take]
            view = view[take:]
            if self.limit == gltf.GLB_JSON_START == len(self.kept):
                size = gltf.glb_json_length(bytes(self.kept))
                self.limit = 0 if size is None else gltf.GLB_JSON_START + size

    def json(self) -> bytes:
        """The JSON chunk's bytes; empty when the file is no GLB, short when truncated."""
        return bytes(self.kept[gltf.GLB_JSON_START : self.limit])


class _PlyHeader:
    """Keeps a PLY file's header (before ``end_header``, at most 1 MiB) fed in blocks."""

    END = b"end_header"
    LIMIT = 1 << 20

    def __init__(self) -> None:
        self.kept = bytearray()
        self.complete = False

    def feed(self, block: bytes) -> None:
        if self.complete:
            return
        self.kept += block[: self.LIMIT - len(self.kept)]
        end = self.kept.find(self.END)
        if end >= 0:
            del self.kept[end:]
        self.complete = end >= 0 or len(self.kept) >= self.LIMIT

    def texture_names(self) -> list[str]:
        """The rest of every header line holding ``TextureFile`` (any case), as trimesh
        reads it (``comment TextureFile wood.png``)."""
        names = []
        for line in bytes(self.kept).decode("utf-8", errors="surrogateescape").splitlines():
            found = line.lower().find("texturefile")
            if found >= 0 and line[found + len("texturefile") :].strip():
                names.append(line[found + len("texturefile") :].strip())
        return names
