"""File access for sources through Beam's ``FileSystems`` (local paths, ``gs://``, ...)."""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import PIL.Image
import trimesh
from apache_beam.io.filesystem import CompressionTypes, FileSystem
from apache_beam.io.filesystems import FileSystems

#: Mesh formats trimesh reads that the generic source accepts.
MESH_EXTENSIONS = (".glb", ".gltf", ".obj", ".ply", ".stl")

#: Bytes read at a time when a file is streamed (``FileDigests``): its memory bound.
BLOCK_BYTES = 8 << 20


def read_bytes(path: str) -> bytes:
    """All bytes of a file; raises FileNotFoundError naming the path if it is missing."""
    if not FileSystems.exists(path):
        raise FileNotFoundError(f"missing file {path}")
    with FileSystems.open(path) as handle:
        return handle.read()


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def parent(path: str) -> str:
    return FileSystems.split(path)[0]


def split(path: str) -> tuple[str, str]:
    """(folder, name) of a path."""
    return FileSystems.split(path)


def inside(folder: str, relative: str) -> str:
    """The path of ``relative`` (a name a file references: ``tex/a.png``, ``mesh.bin``) in
    ``folder``, refusing any name that leads outside it (``../x``, ``/etc/x``, ``gs://...``).

    Raises:
        PermissionError: ``relative`` is absolute or climbs out of ``folder``; the message
            names both.
    """
    normalized = posixpath.normpath(relative.replace("\\", "/"))
    if (
        "://" in relative
        or posixpath.isabs(normalized)
        or normalized == ".."
        or normalized.startswith("../")
    ):
        raise PermissionError(f"{relative!r} points outside {folder}")
    return join(folder, normalized)


def match(patterns: Iterable[str]) -> list[str]:
    """Sorted unique paths matching any of the glob patterns (missing patterns match nothing).

    Every candidate is listed, including those that are not readable files: on a local
    disk a folder or a dangling symlink whose name matches is listed too (Beam's local
    ``match`` skips both), so that reading it fails with a reason instead of the input
    vanishing. Other file systems (``gs://``...) are matched by Beam.
    """
    found: set[str] = set()
    remote = []
    for pattern in patterns:
        if is_local(pattern):
            found.update(_match_local(pattern))
        else:
            remote.append(pattern)
    if remote:
        for result in FileSystems.match(remote):
            found.update(meta.path for meta in result.metadata_list)
    return sorted(found)


def is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) is None


def _match_local(pattern: str) -> Iterator[str]:
    """Local entries of any kind (file, folder, link) matching a Beam glob pattern
    (``*`` within one name, ``**`` across folders)."""
    if not is_glob(pattern):
        if os.path.lexists(pattern):
            yield pattern
        return
    root = glob_root(pattern)
    regex = re.compile(FileSystem.translate_pattern(pattern))
    # without "**" a pattern reaches a fixed number of folder levels below its root
    levels = None if "**" in pattern else pattern[len(root) :].strip("/").count("/")
    for folder, subfolders, names in os.walk(root or "."):  # links to folders not followed
        relative = os.path.relpath(folder, root or ".")
        depth = 0 if relative == "." else relative.count("/") + 1
        for name in subfolders + names:
            path = os.path.join(folder, name) if root else os.path.join(relative, name)
            if regex.match(path.removeprefix("./")):
                yield path.removeprefix("./")
        if levels is not None and depth >= levels:
            subfolders.clear()  # no match lies deeper


def files_under(folder: str) -> list[str]:
    """Sorted paths of the files below ``folder`` at any depth; [] when it has none.

    On a local disk links are listed, not followed into (a dangling one too); the folder's
    name is never read as a glob, whatever characters it holds.
    """
    if not is_local(folder):
        escaped = re.sub(r"([*?\[])", r"[\1]", folder)  # "[" matches itself as "[[]"
        return match([join(escaped, "**")])
    found = []
    for parent_folder, _, names in os.walk(folder):  # links to folders are not followed
        found += [os.path.join(parent_folder, name) for name in names]
    return sorted(found)


def not_a_file(path: str) -> str | None:
    """Why ``path`` cannot be read as a file (``"is a directory, not a file"``, ``"is a
    dangling symlink (to ...)"``, ``"is missing"``), or None when it is a file."""
    if is_local(path):
        if os.path.isdir(path):
            return "is a directory, not a file"
        if os.path.islink(path) and not os.path.exists(path):
            return f"is a dangling symlink (to {os.readlink(path)})"
    if not FileSystems.exists(path):
        return "is missing"
    return None


def folders_holding(location: str, marker: str, max_depth: int) -> list[str]:
    """Sorted folders holding a ``marker`` file (or a non-file of that name, which then
    fails to read): ``location`` itself or its subfolders up to ``max_depth`` levels down;
    for a glob, the folders it matches; for the path of one marker file, its folder."""
    if is_glob(location):
        patterns = [join(location, marker)]
    elif split(location)[1] == marker:
        patterns = [location]
    else:
        patterns = [join(location, *["*"] * depth, marker) for depth in range(max_depth + 1)]
    return [parent(path) for path in match(patterns)]


def files_at(
    location: str, extensions: tuple[str, ...], folder_patterns: Iterable[str]
) -> tuple[str, list[str]]:
    """The input files at a location, and the root their ids are relative to.

    Args:
        location: a glob (its matches, except folders whose name has none of
            ``extensions``), one file named with one of ``extensions`` (that file; also a
            dangling link), or a folder.
        extensions: lower-case file name endings (``(".gltf", ".glb")``).
        folder_patterns: globs relative to a folder (``"**.glb"``, ``"models/*.gltf"``).

    Returns:
        (root, sorted paths): root is the glob's fixed folder, the file's folder, or the
        folder itself.
    """
    if is_glob(location):
        return glob_root(location), [
            path
            for path in match([location])
            if path.lower().endswith(extensions) or not (is_local(path) and os.path.isdir(path))
        ]
    if location.lower().endswith(extensions) and not (
        is_local(location) and os.path.isdir(location)
    ):
        return parent(location), match([location])
    return location, match(join(location, pattern) for pattern in folder_patterns)


def native_ids(paths: list[str], root: str) -> list[str]:
    """Each path's id: its path below ``root`` without the extension (``nested/lamp``),
    keeping the extension where several paths share a stem (``empty.obj``, ``empty.ply``)."""
    stems = [posixpath.splitext(relative_to(path, root))[0] for path in paths]
    repeated = {stem for stem, count in Counter(stems).items() if count > 1}
    return [
        relative_to(path, root) if stem in repeated else stem
        for path, stem in zip(paths, stems, strict=True)
    ]


def is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def glob_root(pattern: str) -> str:
    """The longest folder of a glob pattern that holds no wildcard (ids are relative to it)."""
    head = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    return head if head.endswith("/") else posixpath.dirname(head)


class FileSystemsResolver(trimesh.resolvers.Resolver):
    """Lets trimesh read a mesh's side files (.bin buffers, .mtl, textures) via FileSystems,
    only inside the mesh file's folder (``inside``).

    The files read are remembered (and read once); the ones that could not be read are
    remembered with the reason, because trimesh drops an unreadable texture or material
    library silently.

    Attributes:
        folder: the folder names resolve in.
        read: name -> bytes of every side file read.
        failed: name -> one-line reason of every side file that could not be read.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.read: dict[str, bytes] = {}
        self.failed: dict[str, str] = {}

    def get(self, key: str) -> bytes:
        if key in self.read:
            return self.read[key]
        try:
            path = inside(self.folder, key)
            self.read[key] = data = read_bytes(path)
        except (OSError, ValueError) as exc:  # refused, missing, unreadable, bad name
            self.failed[key] = str(exc) or type(exc).__name__
            raise
        return data

    def write(self, name: str, data) -> None:
        raise PermissionError(f"sources are read-only (tried to write {name})")

    def namespaced(self, namespace: str) -> FileSystemsResolver:
        return FileSystemsResolver(inside(self.folder, namespace))

    def keys(self) -> list[str]:
        return list(self.read)

    def texture_problem(self, key: str) -> str | None:
        """Why the side file ``key`` gives no texture: why it could not be read, or why it
        does not open as an image (``image_problem``); None when it opens or was not asked
        for."""
        if key in self.read:
            return image_problem(self.read[key])
        return self.failed.get(key)


class FileDigests:
    """Content digests of files, each file read once, ``BLOCK_BYTES`` at a time.

    Never raises: a file that cannot be read gets a marker instead of a digest, so an
    input with a bad file is still fingerprinted (and then fails to load with its
    source's own error).
    """

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def digest(self, path: str, consume: Callable[[bytes], None] | None = None) -> str:
        """``"sha256:<64 hex>"`` of the file's bytes as stored (never decompressed), or
        ``"missing"`` (no such file, or a dangling link) or ``"unreadable"`` (a folder, a
        read error).

        Args:
            path: the file.
            consume: given each block read, in order (it must not raise). The file is
                then read even when its digest is known already.
        """
        if consume is None and path in self._known:
            return self._known[path]
        digest = hashlib.sha256()
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                while block := handle.read(BLOCK_BYTES):
                    digest.update(block)
                    if consume is not None:
                        consume(block)
            result = f"sha256:{digest.hexdigest()}"
        except Exception as exc:  # file systems raise many types (OSError, BeamIOError...)
            result = "missing" if _is_missing(path, exc) else "unreadable"
        self._known[path] = result
        return result


def _is_missing(path: str, error: Exception) -> bool:
    """Whether a failed read of ``path`` failed because there is no such file."""
    if isinstance(error, FileNotFoundError):
        return True
    try:
        return not FileSystems.exists(path)
    except Exception:  # an unreachable file system: unreadable, not known to be missing
        return False


def decode_scene(
    data: bytes, file_type: str, resolver: FileSystemsResolver, path: str, **options
) -> trimesh.Scene:
    """trimesh's reading of a mesh file's bytes as a scene, geometry as authored.

    Raises:
        ValueError: trimesh cannot read it; the one-line message names ``path``.
    """
    try:
        return trimesh.load(
            trimesh.util.wrap_as_stream(data),
            file_type=file_type,
            resolver=resolver,
            force="scene",
            process=False,  # keep geometry as authored; bad values are reported, not dropped
            **options,
        )
    except Exception as exc:  # trimesh raises many types for malformed files
        reason = " ".join(str(exc).split()) or "no reason given"
        raise ValueError(
            f"{path}: unreadable {file_type} file ({type(exc).__name__}: {reason})"
        ) from exc


def image_problem(data: bytes) -> str | None:
    """Why an image file cannot be opened as trimesh opens textures (PIL, with its
    decompression-bomb guard), or None when it opens."""
    try:
        with PIL.Image.open(io.BytesIO(data)) as image:
            image.size  # noqa: B018 (opening reads the header only)
    except Exception as exc:  # PIL raises many types, DecompressionBombError included
        return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return None


def lost_side_file(path: str, what: str, problem: str) -> str:
    """The one-line warning for a side file of the mesh file ``path`` that was not loaded
    (``what``: ``"texture 'wood.png'"``); the shape renders without it."""
    return f"{path}: {what} not loaded ({problem}); rendered without it"


def relative_to(path: str, root: str) -> str:
    """``path`` below ``root`` ("a/b.glb"), or the path without its scheme if not below it."""
    prefix = root.rstrip("/") + "/"
    if path.startswith(prefix):
        return path[len(prefix) :]
    return path.split("://", 1)[-1].lstrip("/")
