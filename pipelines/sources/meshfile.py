"""Shape records from single mesh files whose scene-graph node names are the part names."""

from __future__ import annotations

import re

from featurizers.shapes import UNLABELED, MeshPiece, ShapeRecord
from pipelines.sources import files
from pipelines.sources.base import SourceError, SourceInput

#: Node names exporters make up; they name no part.
_GENERATED_NAME = re.compile(
    r"^(geometry|mesh|object|node|defaultobject|sketchfab_model|root|scene)?[_\-. ]?\d*$",
    re.IGNORECASE,
)


def mesh_file_record(
    source_input: SourceInput, source: str, category: str, *, labeled: bool
) -> ShapeRecord:
    """Read one mesh file into a record, its named scene nodes becoming parts.

    Args:
        source_input: the file.
        source: the source name.
        category: the raw category.
        labeled: whether node names are part names (True for datasets whose nodes are
            annotated parts). Otherwise nodes name parts only when the scene has several
            nodes and the names are not exporter defaults (``geometry_0``, ``mesh``, the
            file's own name); unnamed geometry is unlabeled.
    """
    scene, digest = files.load_scene(source_input.uri)
    named_meshes = files.scene_parts(scene)
    if not named_meshes:
        raise SourceError(f"{source_input.uri}: file holds no triangle mesh")
    stem = files.FileSystems.split(source_input.uri)[1].rsplit(".", 1)[0]
    part_names: list[str] = []
    pieces: list[MeshPiece] = []
    for name, mesh in named_meshes:
        names_a_part = labeled or (
            len(named_meshes) > 1 and not _GENERATED_NAME.match(name) and name != stem
        )
        part = UNLABELED
        if names_a_part:
            if name not in part_names:
                part_names.append(name)
            part = part_names.index(name)
        pieces.append(MeshPiece(mesh, part))
    return ShapeRecord(
        shape_id=source_input.shape_id,
        source=source,
        category_raw=category,
        part_names=tuple(part_names),
        mesh_sha256=digest,
        pieces=tuple(pieces),
        uri=source_input.uri,
    )
