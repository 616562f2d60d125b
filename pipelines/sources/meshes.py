"""One mesh file, and the side files it references, read into named meshes in file order."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import trimesh

from pipelines.sources import files
from pipelines.sources.base import SourceError, read_file
from pipelines.sources.gltf import read_gltf
from pipelines.sources.objfile import read_obj


@dataclass(frozen=True)
class NamedMesh:
    """A mesh of a file in world coordinates, with its visuals.

    ``names`` are the raw names the file gives it, most specific first: glTF node name,
    mesh name, then the names of the node's ancestors, nearest first; OBJ group, then
    object. Absent names are left out (an unnamed mesh has none).
    """

    names: tuple[str, ...]
    mesh: trimesh.Trimesh


@dataclass(frozen=True)
class MeshFile:
    """A mesh file as read.

    Attributes:
        meshes: the file's meshes in the file's own order (glTF: depth-first scene nodes,
            then primitives; OBJ: names in order of appearance). Never random: the same
            bytes give the same meshes, names and order in every process.
        warnings: one-line notes on side files that could not be loaded (a missing
            ``.mtl`` or texture, an image PIL refuses); the geometry is complete.
    """

    meshes: tuple[NamedMesh, ...]
    warnings: tuple[str, ...]


def load_mesh_file(path: str) -> MeshFile:
    """Read a ``.glb``, ``.gltf``, ``.obj``, ``.ply`` or ``.stl`` file.

    Side files (glTF buffers and images, OBJ material libraries and textures) are read
    only inside the file's folder.

    Raises:
        SourceError: the file is missing, empty or malformed, or a buffer it needs cannot
            be read; the one-line message names the file and what is wrong.
    """
    data = read_file(path)  # a clear reason for a missing file, a folder, a dangling link
    if not data:
        raise SourceError(f"{path}: empty file")
    resolver = files.FileSystemsResolver(files.parent(path))
    file_type = posixpath.splitext(path)[1].lstrip(".").lower()
    try:
        if file_type in ("gltf", "glb"):
            pieces, warnings = read_gltf(data, path, resolver, binary=file_type == "glb")
        elif file_type == "obj":
            pieces, warnings = read_obj(data, path, resolver)
        else:
            scene = files.decode_scene(data, file_type, resolver, path)
            pieces = [((), scene.geometry[name]) for name in sorted(scene.geometry)]
            pieces = [p for p in pieces if isinstance(p[1], trimesh.Trimesh)]
            warnings = []
    except SourceError:
        raise
    except ValueError as exc:  # trimesh's reading (one line naming the file), or placing
        reason = " ".join(str(exc).split())
        if not reason.startswith(path):
            reason = f"{path}: unreadable {file_type} file ({type(exc).__name__}: {reason})"
        raise SourceError(reason) from exc
    return MeshFile(
        meshes=tuple(NamedMesh(names, mesh) for names, mesh in pieces),
        warnings=tuple(dict.fromkeys(warnings)),
    )
