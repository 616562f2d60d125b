"""Find3D benchmark folders: ``{root}/{split}/{classname_uid}/`` holding
``points5000.pcd`` (points, normals, colors), ``label_map.json`` (``"1".."k"`` -> part name)
and ``labels.npy`` (per-point label, 0 = unlabeled).

The shapes are point clouds: sampling subsamples (or pads) them to N points, and
``face_index`` holds the index of the source point each sample came from.
"""

from __future__ import annotations

import io
import json

import numpy as np

from featurizers.shapes import PointCloud, ShapeRecord
from pipelines.sources import files
from pipelines.sources.base import Source, SourceError, SourceInput
from pipelines.sources.pcd import parse_pcd

POINTS_FILE = "points5000.pcd"


def class_name(folder_name: str) -> str:
    """``office_chair_1a2b`` -> ``office chair``: the folder name minus its uid."""
    name = folder_name.rsplit("_", 1)[0] if "_" in folder_name else folder_name
    return name.replace("_", " ")


class Find3DSource(Source):
    name = "find3d"

    def discover(self, location: str) -> list[SourceInput]:
        folders = files.folders_holding(location, "label_map.json", max_depth=2)
        if not folders:
            raise FileNotFoundError(f"no Find3D shape folders (label_map.json) found at {location}")
        inputs = []
        for folder in folders:
            split_folder, shape_folder = files.FileSystems.split(folder)
            split = files.FileSystems.split(split_folder)[1]
            inputs.append(
                SourceInput(
                    self.shape_id(f"{split}/{shape_folder}"), folder, class_name(shape_folder)
                )
            )
        return sorted(inputs)

    def load(self, source_input: SourceInput) -> ShapeRecord:
        folder = source_input.uri
        points_path = files.join(folder, POINTS_FILE)
        pcd_bytes = files.read_bytes(points_path)
        try:
            label_map = json.loads(files.read_bytes(files.join(folder, "label_map.json")))
            labels = np.load(io.BytesIO(files.read_bytes(files.join(folder, "labels.npy"))))
            cloud = parse_pcd(pcd_bytes, points_path)
        except (ValueError, OSError) as exc:
            raise SourceError(f"{folder}: {exc}") from exc
        keys = sorted(label_map, key=int)
        if keys != [str(i) for i in range(1, len(keys) + 1)]:
            raise SourceError(f"{folder}/label_map.json: keys must be 1..k, got {keys}")
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(cloud["points"]):
            raise SourceError(
                f"{folder}: labels.npy has {len(labels)} labels for {len(cloud['points'])} points"
            )
        if labels.min(initial=0) < 0 or labels.max(initial=0) > len(keys):
            raise SourceError(f"{folder}: labels.npy holds labels outside 0..{len(keys)}")
        return ShapeRecord(
            shape_id=source_input.shape_id,
            source=self.name,
            category_raw=source_input.category,
            part_names=tuple(str(label_map[k]) for k in keys),
            mesh_sha256=files.combined_sha256(
                [files.sha256(pcd_bytes), files.sha256(labels.tobytes())]
            ),
            cloud=PointCloud(
                points=cloud["points"],
                point_part=(labels.astype(np.int16) - 1),
                normals=cloud.get("normals"),
                colors=cloud.get("colors"),
            ),
            uri=folder,
        )
