"""PartNet ``data_v0`` annotation folders (``result.json``, ``meta.json``, ``objs/``).

A shape's parts are its hierarchy's leaves, named by their path from the root as in
PartNet's label lists (``chair/chair_back/back_support``); leaves with the same path
(instances such as four legs) share one part. A leaf's geometry is the union of its objs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from featurizers.shapes import MeshPiece, ShapeRecord
from pipelines.sources import files
from pipelines.sources.base import Source, SourceError, SourceInput


def leaf_paths(node: dict, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    """(leaf path, obj stems) of every leaf below a ``result.json`` node, depth first."""
    path = f"{prefix}/{node['name']}" if prefix else node["name"]
    children = node.get("children")
    if children:
        for child in children:
            yield from leaf_paths(child, path)
    else:
        yield path, list(node.get("objs", []))


class PartNetSource(Source):
    name = "partnet"

    def discover(self, location: str) -> list[SourceInput]:
        folders = files.folders_holding(location, "result.json", max_depth=1)
        if not folders:
            raise FileNotFoundError(
                f"no PartNet annotation folders (*/result.json) found at {location}"
            )
        return sorted(
            SourceInput(self.shape_id(files.FileSystems.split(folder)[1]), folder)
            for folder in folders
        )

    def load(self, source_input: SourceInput) -> ShapeRecord:
        folder = source_input.uri
        try:
            meta = json.loads(files.read_bytes(files.join(folder, "meta.json")))
            tree = json.loads(files.read_bytes(files.join(folder, "result.json")))
        except json.JSONDecodeError as exc:
            raise SourceError(f"{folder}: malformed JSON ({exc})") from exc
        if not isinstance(tree, list) or not tree or "name" not in tree[0]:
            raise SourceError(f"{folder}/result.json: expected a list holding one root node")

        part_names: list[str] = []
        pieces: list[MeshPiece] = []
        digests: list[str] = []
        for path, stems in leaf_paths(tree[0]):
            if path not in part_names:
                part_names.append(path)
            part = part_names.index(path)
            for stem in stems:
                obj = files.join(folder, "objs", f"{stem}.obj")
                try:
                    scene, digest = files.load_scene(obj)
                except FileNotFoundError as exc:
                    raise SourceError(f"{folder}: leaf {path!r} references missing {obj}") from exc
                digests.append(digest)
                pieces.extend(MeshPiece(mesh, part) for _, mesh in files.scene_parts(scene))
        if not pieces:
            raise SourceError(f"{folder}: annotation references no meshes")
        return ShapeRecord(
            shape_id=source_input.shape_id,
            source=self.name,
            category_raw=str(meta.get("model_cat", "")),
            part_names=tuple(part_names),
            mesh_sha256=files.combined_sha256(digests),
            pieces=tuple(pieces),
            uri=folder,
            extra={"model_id": str(meta.get("model_id", ""))},
        )
