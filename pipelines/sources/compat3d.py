"""3DCoMPaT++ glTF models: ``models/<shape_id>.gltf`` (+ buffers).

Part names are the glTF scene-graph node names (fine level), instance numbers removed
(``leg_01``, ``leg_02`` are one part ``leg``; see ``featurizers.names.part_name``). The
category is the class whose index is the first two hex digits of the shape id, in
``classes.json`` (read from the input folder or its parent when present, else the copy
bundled with partbank). ``--input`` may also be one model file.
"""

from __future__ import annotations

import json
from importlib import resources

from featurizers.names import escape_invalid_text
from featurizers.shapes import ShapeRecord
from pipelines.sources import files
from pipelines.sources.base import Source, SourceError, SourceInput, read_json
from pipelines.sources.meshfile import MeshFileInputs, mesh_file_record

MODEL_EXTENSIONS = (".gltf", ".glb")


def read_classes(root: str) -> list[str]:
    """3DCoMPaT++ class names (index = class code) from ``classes.json`` near ``root``.

    Raises:
        SourceError: the ``classes.json`` found is not a file or not a list of names.
    """
    for candidate in (
        files.join(root, "classes.json"),
        files.join(files.parent(root), "classes.json"),
    ):
        if files.match([candidate]):
            classes = read_json(candidate)
            if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
                raise SourceError(f"{candidate}: expected a list of class names")
            return classes
    bundled = resources.files("pipelines.sources") / "data" / "3dcompat_classes.json"
    return json.loads(bundled.read_text())


def class_of(native_id: str, classes: list[str]) -> str:
    """The class name of a shape id such as ``"00_019"`` (invalid text escaped), "" when its
    code is unknown."""
    try:
        return escape_invalid_text(classes[int(native_id[:2], 16)])
    except (ValueError, IndexError):
        return ""


class Compat3DSource(MeshFileInputs, Source):
    name = "3dcompat"

    def discover(self, location: str) -> list[SourceInput]:
        root, models = files.files_at(
            location,
            MODEL_EXTENSIONS,
            [f"{folder}*{ext}" for folder in ("", "models/") for ext in MODEL_EXTENSIONS],
        )
        if not models:
            raise FileNotFoundError(f"no 3DCoMPaT++ models (*.gltf, *.glb) found at {location}")
        classes = read_classes(root)
        # ids are file names: the stem, with the extension where two models share a stem
        names = [files.split(path)[1] for path in models]
        return sorted(
            SourceInput(self.shape_id(native_id), path, class_of(native_id, classes))
            for path, native_id in zip(models, files.native_ids(names, ""), strict=True)
        )

    def load(self, source_input: SourceInput) -> ShapeRecord:
        return mesh_file_record(source_input, self.name, labeled=True)
