"""Shape records from single mesh files whose node (or OBJ group) names are part names."""

from __future__ import annotations

from featurizers.names import part_name
from featurizers.shapes import UNLABELED, MeshPiece, ShapeRecord
from pipelines.sources.base import (
    SourceError,
    SourceInput,
    number_parts,
    path_warnings,
    valid_text,
)
from pipelines.sources.meshes import load_mesh_file


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
        mesh_sha256=loaded.sha256,
        pieces=pieces,
        warnings=tuple(dict.fromkeys(warnings)),
    )
