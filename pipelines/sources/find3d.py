"""Find3D benchmark folders: ``{root}/{split}/{classname_uid}/`` holding
``points5000.pcd`` (points, normals, colors), ``label_map.json`` (``"1".."k"`` -> part name)
and ``labels.npy`` (per-point label, 0 = unlabeled).

Label names become part names by ``featurizers.names.part_name``, as node names of mesh
files do: labels naming instances of one part (``leg_1``, ``leg_2``) share that part's
index (parts numbered in the order of their first label), and a label whose name is only
random or positional (``geometry_0``, ``21``) leaves its points unlabeled (with a record
warning).

The shapes are point clouds: sampling subsamples (or pads) them to N points, and
``face_index`` holds the index of the source point each sample came from.
"""

from __future__ import annotations

import io

import numpy as np

from featurizers.names import escape_invalid_text, part_name
from featurizers.shapes import UNLABELED, PointCloud, ShapeRecord
from pipelines.sources import files
from pipelines.sources.base import (
    Source,
    SourceError,
    SourceInput,
    number_parts,
    path_warnings,
    read_file,
    read_json,
    valid_text,
)
from pipelines.sources.pcd import parse_pcd

POINTS_FILE = "points5000.pcd"
LABEL_MAP_FILE = "label_map.json"
LABELS_FILE = "labels.npy"


def class_name(folder_name: str) -> str:
    """``office_chair_1a2b`` -> ``office chair``: the folder name minus its uid."""
    name = folder_name.rsplit("_", 1)[0] if "_" in folder_name else folder_name
    return name.replace("_", " ")


def read_label_map(path: str, warnings: list[str]) -> list[str]:
    """Raw names of labels 1..k from a ``label_map.json`` (invalid text escaped, warned).

    Raises:
        SourceError: not an object of ``"1".."k"`` -> name.
    """
    label_map = read_json(path)
    if not isinstance(label_map, dict) or not all(isinstance(v, str) for v in label_map.values()):
        raise SourceError(f"{path}: expected an object mapping labels to part names")
    keys = [str(label) for label in range(1, len(label_map) + 1)]
    if sorted(label_map) != sorted(keys):
        raise SourceError(f"{path}: keys must be 1..{len(keys)}, got {sorted(label_map)}")
    return [valid_text(label_map[key], f"part name in {path}", warnings) for key in keys]


def label_parts(
    label_names: list[str], where: str, warnings: list[str]
) -> tuple[tuple[str, ...], np.ndarray]:
    """The parts labels 1..k name (``part_name`` of each label's name).

    Args:
        label_names: the raw names of labels 1..k.
        where: the label map, named in warnings.
        warnings: receives a one-line warning for each label that names no part.

    Returns:
        (part names, (k + 1,) int16 part index of every label 0..k): labels of one part
        share its index; label 0 and labels naming no part map to ``UNLABELED``.
    """
    names = [part_name(name) for name in label_names]
    for label, (raw, name) in enumerate(zip(label_names, names, strict=True), start=1):
        if name is None:
            warnings.append(f"{where}: label {label} ({raw!r}) names no part; points unlabeled")
    part_names, parts = number_parts(names)
    return part_names, np.array([UNLABELED, *parts], dtype=np.int16)


def read_labels(path: str) -> np.ndarray:
    """(P,) per-point labels from a ``labels.npy``, as stored (any integer dtype).

    Raises:
        SourceError: empty, truncated or not a .npy array, or labels that are not integers
            (a float label is no part index, even when it holds a whole number).
    """
    data = read_file(path)
    try:
        labels = np.load(io.BytesIO(data), allow_pickle=False)
    except EOFError as exc:
        raise SourceError(f"{path}: empty .npy file ({len(data)} bytes)") from exc
    except (ValueError, OSError) as exc:
        raise SourceError(f"{path}: unreadable .npy file ({exc})") from exc
    if not isinstance(labels, np.ndarray):
        raise SourceError(f"{path}: expected one .npy array, found an .npz archive")
    if labels.dtype.kind not in "iu":
        raise SourceError(f"{path}: labels must be integers, found dtype {labels.dtype}")
    return labels.reshape(-1)


class Find3DSource(Source):
    name = "find3d"

    def discover(self, location: str) -> list[SourceInput]:
        folders = files.folders_holding(location, LABEL_MAP_FILE, max_depth=2)
        if not folders:
            raise FileNotFoundError(f"no Find3D shape folders (label_map.json) found at {location}")
        inputs = []
        for folder in folders:
            split_folder, shape_folder = files.split(folder)
            split = files.split(split_folder)[1]
            category = escape_invalid_text(class_name(shape_folder))
            inputs.append(SourceInput(self.shape_id(f"{split}/{shape_folder}"), folder, category))
        return sorted(inputs)

    def input_files(
        self, source_input: SourceInput, digests: files.FileDigests | None = None
    ) -> list[str]:
        """``points5000.pcd``, ``label_map.json``, ``labels.npy``."""
        return [
            files.join(source_input.uri, name)
            for name in (POINTS_FILE, LABEL_MAP_FILE, LABELS_FILE)
        ]

    def load(self, source_input: SourceInput) -> ShapeRecord:
        folder = source_input.uri
        warnings = path_warnings(source_input)
        points_path = files.join(folder, POINTS_FILE)
        labels_path = files.join(folder, LABELS_FILE)
        pcd_bytes = read_file(points_path)
        try:
            cloud = parse_pcd(pcd_bytes, points_path)
        except ValueError as exc:
            raise SourceError(str(exc)) from exc
        label_map_path = files.join(folder, LABEL_MAP_FILE)
        label_names = read_label_map(label_map_path, warnings)
        labels = read_labels(labels_path)
        if len(labels) != len(cloud["points"]):
            raise SourceError(
                f"{labels_path}: {len(labels)} labels for {len(cloud['points'])} points"
            )
        if labels.min(initial=0) < 0 or labels.max(initial=0) > len(label_names):
            raise SourceError(f"{labels_path}: labels outside 0..{len(label_names)}")
        part_names, label_part = label_parts(label_names, label_map_path, warnings)
        return ShapeRecord(
            shape_id=source_input.shape_id,
            source=self.name,
            category_raw=source_input.category,
            part_names=part_names,
            cloud=PointCloud(
                points=cloud["points"],
                point_part=label_part[labels],
                normals=cloud.get("normals"),
                colors=cloud.get("colors"),
            ),
            warnings=tuple(dict.fromkeys(warnings)),
        )
