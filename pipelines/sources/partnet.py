"""PartNet ``data_v0`` annotation folders (``result.json``, ``meta.json``, ``objs/``).

A shape's parts are its hierarchy's leaves, named by their path from the root as in
PartNet's label lists (``chair/chair_back/back_support``); leaves with the same path
(instances such as four legs) share one part. A leaf's geometry is the union of its objs,
which must lie in the folder's ``objs/`` and are read as every mesh file is
(``meshes.load_mesh_file``: the same checks, and a warning for a lost ``.mtl`` or texture).

The paths are not passed through ``featurizers.names.part_name``: PartNet's node names
come from its fixed per-category label lists (bundled as ``--vocab partnet``), instances
are separate nodes of the same name rather than numbered names, and a path must stay the
label list's name to match it. Every path of those lists is its own ``part_name``
(tested), so the rule and the paths agree.
"""

from __future__ import annotations

from collections.abc import Iterator

from featurizers.shapes import MeshPiece, ShapeRecord
from pipelines.sources import files
from pipelines.sources.base import (
    Source,
    SourceError,
    SourceInput,
    check_file,
    number_parts,
    path_warnings,
    read_json,
    valid_text,
)
from pipelines.sources.meshes import load_mesh_file

RESULT_FILE = "result.json"
META_FILE = "meta.json"
OBJS_FOLDER = "objs"


def leaf_paths(root: object, where: str) -> Iterator[tuple[str, list[str]]]:
    """(leaf path, obj stems) of every leaf below a ``result.json`` root node, depth first
    in file order.

    Args:
        root: the root node of the parsed ``result.json``.
        where: the file, named in errors.

    Raises:
        SourceError: a node without a text ``name``, ``children`` that are not a list, or
            ``objs`` that are not a list of names.
    """
    stack = [(root, "")]  # (node, its parent's path); a stack, as trees can be deep
    while stack:
        node, prefix = stack.pop()
        if not isinstance(node, dict) or not isinstance(node.get("name"), str):
            kind = f"a child of {prefix!r}" if prefix else "the root node"
            raise SourceError(f"{where}: {kind} has no 'name'")
        path = f"{prefix}/{node['name']}" if prefix else node["name"]
        children = node.get("children")
        if children is not None and not isinstance(children, list):
            raise SourceError(f"{where}: node {path!r} has 'children' that are not a list")
        if children:
            stack.extend((child, path) for child in reversed(children))
            continue
        stems = node.get("objs", [])
        if not isinstance(stems, list) or not all(isinstance(stem, str) for stem in stems):
            raise SourceError(f"{where}: leaf {path!r} has 'objs' that are not a list of names")
        yield path, stems


class PartNetSource(Source):
    name = "partnet"

    def discover(self, location: str) -> list[SourceInput]:
        folders = files.folders_holding(location, RESULT_FILE, max_depth=1)
        if not folders:
            raise FileNotFoundError(
                f"no PartNet annotation folders (*/result.json) found at {location}"
            )
        return sorted(
            SourceInput(self.shape_id(files.split(folder)[1]), folder) for folder in folders
        )

    def load(self, source_input: SourceInput) -> ShapeRecord:
        folder = source_input.uri
        warnings = path_warnings(source_input)
        result_path = files.join(folder, RESULT_FILE)
        tree = read_json(result_path)
        meta = read_json(files.join(folder, META_FILE))
        if not isinstance(meta, dict):
            raise SourceError(f"{folder}/meta.json: expected an object")
        if not isinstance(tree, list) or len(tree) != 1:
            raise SourceError(f"{result_path}: expected a list holding one root node")

        objs_folder = files.join(folder, OBJS_FOLDER)
        where = f"part name in {result_path}"
        leaves = [
            (valid_text(raw_path, where, warnings), stems)
            for raw_path, stems in leaf_paths(tree[0], result_path)
        ]
        part_names, parts = number_parts([path for path, _ in leaves])
        pieces: list[MeshPiece] = []
        for (path, stems), part in zip(leaves, parts, strict=True):
            for stem in stems:
                obj = self._obj_path(objs_folder, stem, path, result_path)
                check_file(obj, f"{result_path}: leaf {path!r}")
                loaded = load_mesh_file(obj)
                if not loaded.meshes:
                    raise SourceError(
                        f"{result_path}: leaf {path!r} references {obj},"
                        " which holds no triangle mesh"
                    )
                warnings.extend(loaded.warnings)
                pieces.extend(MeshPiece(named.mesh, part) for named in loaded.meshes)
        if not pieces:
            raise SourceError(f"{folder}: annotation references no meshes")
        category = valid_text(str(meta.get("model_cat", "")), f"model_cat in {folder}", warnings)
        return ShapeRecord(
            shape_id=source_input.shape_id,
            source=self.name,
            category_raw=category,
            part_names=part_names,
            pieces=tuple(pieces),
            warnings=tuple(dict.fromkeys(warnings)),
        )

    def input_files(
        self, source_input: SourceInput, digests: files.FileDigests | None = None
    ) -> list[str]:
        """``result.json``, ``meta.json``, then every file below ``objs/`` (at any depth,
        referenced or not) sorted by path."""
        folder = source_input.uri
        return [
            files.join(folder, RESULT_FILE),
            files.join(folder, META_FILE),
            *files.files_under(files.join(folder, OBJS_FOLDER)),
        ]

    @staticmethod
    def _obj_path(objs_folder: str, stem: str, leaf: str, result_path: str) -> str:
        """The obj file of a leaf's stem, refusing stems that lead outside ``objs/``."""
        try:
            return files.inside(objs_folder, f"{stem}.obj")
        except PermissionError as exc:
            raise SourceError(
                f"{result_path}: leaf {leaf!r} references obj {stem!r} outside {objs_folder}"
            ) from exc
