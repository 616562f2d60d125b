"""Wavefront OBJ files read with their ``o``/``g`` names, in file order.

trimesh can split an OBJ at its ``o`` lines, but names the pieces by joining object,
group and material names (ambiguously) and returns them in no file order. So the names
are read here: each ``o``/``g`` line is replaced by an ``o p<k>`` line, ``k`` numbering
the distinct names in order of appearance (faces before any such line get their own
``k``), trimesh splits at those lines (and, as always, by material), and each piece is
found again by its ``p<k>`` prefix.

A face's names are the ``g`` group it is in, then its ``o`` object (most specific first);
an ``o`` line ends the group before it.
"""

from __future__ import annotations

import re

import trimesh

from pipelines.sources import files

#: trimesh's piece name: our ``p<k>``, then maybe ``_<material>`` and a ``_<n>`` uniqueness suffix.
_PIECE = re.compile(r"^p(\d+)(?:_|$)")
#: An OBJ ``mtllib`` line; group 1 is the rest of the line (the names).
_MTLLIB = re.compile(rb"^[ \t]*mtllib[ \t]+([^\r\n]*)", re.MULTILINE)
#: MTL statements naming a texture file (after any options).
_TEXTURE_STATEMENT = re.compile(r"map_\S+|bump|disp", re.IGNORECASE)
#: The longest partial line ``MaterialLibraries`` keeps between blocks.
_MAX_PENDING = 64 << 10


def _candidates(*names: str) -> list[str]:
    """The non-empty names, stripped, first occurrence kept."""
    return list(dict.fromkeys(name.strip() for name in names if name.strip()))


class MaterialLibraries:
    """The material library names of an OBJ file fed in blocks, without parsing geometry.

    Only the partial line at a block's end is kept (at most ``_MAX_PENDING`` bytes of it).

    Attributes:
        names: the names of every ``mtllib`` line so far, first occurrence kept: the whole
            rest of the line (as trimesh reads it), then each space-separated word of it
            (the format lets one line list several libraries).
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self._pending = b""

    def feed(self, block: bytes) -> None:
        """Scan the next block of the file."""
        text = self._pending + block
        end = text.rfind(b"\n") + 1
        self._scan(text, end)
        self._pending = text[end:][:_MAX_PENDING]

    def finish(self) -> list[str]:
        """Scan the last line and return ``names``."""
        self._scan(self._pending, len(self._pending))
        self._pending = b""
        return self.names

    def _scan(self, text: bytes, end: int) -> None:
        for found in _MTLLIB.finditer(text, 0, end):
            rest = found.group(1).decode("utf-8", errors="surrogateescape")
            names = _candidates(rest, *rest.split())
            self.names.extend(name for name in names if name not in self.names)


def texture_names(mtl: bytes) -> list[str]:
    """The names of the texture files an MTL file names (``map_*``, ``bump``, ``disp``
    statements), in file order, first occurrence kept: the whole rest of the line (as
    trimesh reads ``map_Kd``; a name may hold spaces), or its last word when options
    come first (``map_Kd -s 1 1 1 wood.png``)."""
    names: list[str] = []
    for line in mtl.decode("utf-8", errors="surrogateescape").splitlines():
        fields = line.split(maxsplit=1)
        if len(fields) == 2 and _TEXTURE_STATEMENT.fullmatch(fields[0]):
            rest = fields[1].strip()
            name = rest.split()[-1] if rest.startswith("-") else rest
            if name not in names:
                names.append(name)
    return names


def read_obj(
    data: bytes, path: str, resolver: files.FileSystemsResolver
) -> tuple[list[tuple[tuple[str, ...], trimesh.Trimesh]], list[str]]:
    """Read an OBJ file into (names, mesh) pairs in file order of the names.

    Args:
        data: the file's bytes.
        path: the file (named in errors and warnings).
        resolver: reads the material library and textures inside the file's folder.

    Returns:
        The pieces, names being (group, object) without the absent ones (a name pair's
        faces with one material make a piece; pieces of one pair are adjacent, ordered by
        trimesh's material name), and one-line warnings for a
        material library or texture that could not be loaded (trimesh renders white then).

    Raises:
        ValueError: trimesh cannot read the file; the message names it.
    """
    # invalid UTF-8 in a name is kept (escaped later), not a reason to drop the file
    lines = data.decode("utf-8", errors="surrogateescape").split("\n")
    names: dict[tuple[str, ...], int] = {(): 0}
    rewritten = ["o p0"]
    current_object = current_group = None
    for line in lines:
        fields = line.strip().split(maxsplit=1)
        if fields and fields[0] in ("o", "g"):
            value = fields[1].strip() if len(fields) > 1 else None
            if fields[0] == "o":
                current_object, current_group = value, None
            else:
                current_group = value
            key = tuple(n for n in (current_group, current_object) if n)
            line = f"o p{names.setdefault(key, len(names))}"
        rewritten.append(line)
    text = "\n".join(rewritten).encode("utf-8", errors="surrogateescape")
    scene = files.decode_scene(text, "obj", resolver, path, split_objects=True, group_material=True)
    by_index = {k: name for name, k in names.items()}
    keyed = []
    for geometry_name, geometry in scene.geometry.items():
        found = _PIECE.match(geometry_name)
        if found and isinstance(geometry, trimesh.Trimesh):
            keyed.append(((int(found.group(1)), geometry_name), geometry))
    pieces = [(by_index[key[0]], mesh) for key, mesh in sorted(keyed, key=lambda item: item[0])]
    return pieces, _side_file_warnings(path, resolver)


def _side_file_warnings(path: str, resolver: files.FileSystemsResolver) -> list[str]:
    """A warning for every material library or texture that could not be read or opened."""
    warnings = []
    for key in sorted({*resolver.read, *resolver.failed}):
        if key.lower().endswith(".mtl"):
            what, problem = "material library", resolver.failed.get(key)
        else:
            what, problem = "texture", resolver.texture_problem(key)
        if problem:
            warnings.append(files.lost_side_file(path, f"{what} {key!r}", problem))
    return warnings
