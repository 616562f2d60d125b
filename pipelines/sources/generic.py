"""Any folder, glob or list of GLB/glTF/OBJ/PLY/STL files (TexVerse, Objaverse, your own).

``--input`` may be a folder (searched recursively), a glob, or a CSV list with columns
``path`` and optional ``category`` (paths relative to the CSV's folder or absolute).
A folder may hold a ``metadata.csv`` with the same columns to give categories. Scene
nodes become raw part names where they carry real names (see ``mesh_file_record``).
"""

from __future__ import annotations

import io
import posixpath

import polars as pl

from featurizers.shapes import ShapeRecord
from pipelines.sources import files
from pipelines.sources.base import Source, SourceError, SourceInput
from pipelines.sources.meshfile import mesh_file_record

METADATA_FILE = "metadata.csv"


def read_path_table(path: str) -> pl.DataFrame:
    """A ``path[,category]`` CSV as a frame with both columns (category "" when absent)."""
    try:
        table = pl.read_csv(io.BytesIO(files.read_bytes(path)), infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"{path}: unreadable CSV ({exc})") from exc
    if "path" not in table.columns:
        raise ValueError(f"{path}: CSV needs a 'path' column, has {table.columns}")
    if "category" not in table.columns:
        table = table.with_columns(category=pl.lit(""))
    return table.select(pl.col("path"), pl.col("category").fill_null(""))


class GenericMeshSource(Source):
    name = "glb"

    def discover(self, location: str) -> list[SourceInput]:
        if location.lower().endswith(".csv"):
            root = files.parent(location)
            listed = read_path_table(location)
            paths = [
                p if posixpath.isabs(p) or "://" in p else files.join(root, p)
                for p in listed["path"]
            ]
            categories = dict(zip(paths, listed["category"], strict=True))
        else:
            if files.is_glob(location):
                root, paths = files.glob_root(location), files.match([location])
            else:
                root = location
                paths = files.match(
                    files.join(location, f"**{ext}") for ext in files.MESH_EXTENSIONS
                )
            categories = self._folder_categories(root)
        if not paths:
            raise FileNotFoundError(
                f"no mesh files ({', '.join(files.MESH_EXTENSIONS)}) at {location}"
            )
        inputs = []
        for path in paths:
            native_id = posixpath.splitext(files.relative_to(path, root))[0]
            inputs.append(SourceInput(self.shape_id(native_id), path, categories.get(path, "")))
        return sorted(inputs)

    @staticmethod
    def _folder_categories(root: str) -> dict[str, str]:
        """path -> category from the folder's ``metadata.csv``, when there is one."""
        metadata = files.join(root, METADATA_FILE)
        if not files.FileSystems.exists(metadata):
            return {}
        table = read_path_table(metadata)
        return {
            files.join(root, p): c for p, c in zip(table["path"], table["category"], strict=True)
        }

    def load(self, source_input: SourceInput) -> ShapeRecord:
        if not source_input.uri.lower().endswith(files.MESH_EXTENSIONS):
            raise SourceError(
                f"{source_input.uri}: not a mesh file ({', '.join(files.MESH_EXTENSIONS)})"
            )
        return mesh_file_record(source_input, self.name, source_input.category, labeled=False)
