"""Tiny datasets in each source's real on-disk format, each with broken inputs.

Every builder returns the dataset folder and the shape ids expected to fail, each
with a fragment of the reason the manifest should give.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from pipelines import sample_data


def partnet_dataset(root: Path) -> tuple[Path, dict[str, str]]:
    folder = root / "data_v0"
    sample_data.write_partnet(folder, "101", "Chair", sample_data.chair())
    sample_data.write_partnet(folder, "102", "Table", sample_data.table())
    sample_data.write_partnet(folder, "103", "Lamp", sample_data.lamp())
    corrupt = sample_data.write_partnet(folder, "901", "Mug", sample_data.mug())
    (corrupt / "result.json").write_text('[{"name": "mug", "children": [')
    missing = sample_data.write_partnet(folder, "902", "Mug", sample_data.mug())
    (missing / "objs" / "new-1.obj").unlink()
    nan = sample_data.write_partnet(folder, "903", "Mug", sample_data.mug())
    obj = nan / "objs" / "new-0.obj"
    first_vertex = re.compile(r"^v .*$", re.MULTILINE)
    obj.write_text(first_vertex.sub("v nan 0 0", obj.read_text(), count=1))
    flat = sample_data.write_partnet(folder, "904", "Mug", sample_data.mug())
    for obj in (flat / "objs").glob("*.obj"):
        obj.write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n")
    return folder, {
        "partnet/901": "malformed JSON",
        "partnet/902": "missing",
        "partnet/903": "non-finite",
        "partnet/904": "zero surface area",
    }


def compat3d_dataset(root: Path) -> tuple[Path, dict[str, str]]:
    folder = root / "3dcompat"
    sample_data.write_gltf(folder / "models" / "0c_001.gltf", sample_data.chair())
    sample_data.write_gltf(folder / "models" / "25_002.gltf", sample_data.table())
    (folder / "models" / "0c_999.gltf").write_text("{ this is not json")
    broken = sample_data.write_gltf(folder / "models" / "25_998.gltf", sample_data.table())
    document = json.loads(broken.read_text())
    for buffer in document["buffers"]:
        buffer["uri"] = "gone.bin"
    broken.write_text(json.dumps(document))
    return folder, {"3dcompat/0c_999": "gltf", "3dcompat/25_998": "gone.bin"}


def find3d_dataset(root: Path) -> tuple[Path, dict[str, str]]:
    folder = root / "find3d"
    sample_data.write_find3d(folder, "seenclass", "mug_0001", sample_data.mug())
    sample_data.write_find3d(folder, "unseen", "desk_lamp_0002", sample_data.lamp(), count=800)
    bad = sample_data.write_find3d(folder, "seenclass", "chair_0003", sample_data.chair())
    np.save(bad / "labels.npy", np.ones(17, dtype=np.int64))
    garbled = sample_data.write_find3d(folder, "seenclass", "table_0004", sample_data.table())
    (garbled / "points5000.pcd").write_bytes(b"VERSION 0.7\nFIELDS x y z\n")
    return folder, {
        "find3d/seenclass/chair_0003": "17 labels",
        "find3d/seenclass/table_0004": "PCD",
    }


def glb_dataset(root: Path) -> tuple[Path, dict[str, str]]:
    folder = root / "assets"
    sample_data.write_glb(folder / "mug.glb", sample_data.mug(), textured=("body",))
    sample_data.write_glb(folder / "nested" / "lamp.glb", sample_data.lamp())
    (folder / "nested" / "chair.obj").write_text(
        "".join(f"v {x} {y} {z}\n" for x, y, z in sample_data.chair()[0][1].vertices)
        + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in sample_data.chair()[0][1].faces)
    )
    (folder / "empty.glb").write_bytes(b"")
    (folder / "metadata.csv").write_text("path,category\nmug.glb,mug\nnested/lamp.glb,lamp\n")
    return folder, {"glb/empty": "empty.glb"}


DATASETS = {
    "partnet": partnet_dataset,
    "3dcompat": compat3d_dataset,
    "find3d": find3d_dataset,
    "glb": glb_dataset,
}
