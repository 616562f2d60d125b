"""Tiny datasets in each source's real on-disk format, each with broken inputs.

Every builder returns the dataset folder and the shape ids expected to fail, each
with a fragment of the reason the manifest should give.
"""

from __future__ import annotations

import json
import os
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


# Hostile inputs, as met in real datasets and on real disks. Each builder writes good
# shapes beside them and returns the folder and the expected manifest row of every input:
# shape id -> ("failed", fragment of the reason) or ("ok", fragment of a warning, or "").

Expected = dict[str, tuple[str, str]]
OK = ("ok", "")


def hostile_partnet(root: Path) -> tuple[Path, Expected]:
    folder = root / "data_v0"
    sample_data.write_partnet(folder, "101", "Chair", sample_data.chair())
    sample_data.write_partnet(folder, "102", "Table", sample_data.table())
    as_folder = sample_data.write_partnet(folder, "911", "Mug", sample_data.mug())
    (as_folder / "result.json").unlink()
    (as_folder / "result.json").mkdir()
    dangling = sample_data.write_partnet(folder, "912", "Mug", sample_data.mug())
    (dangling / "result.json").unlink()
    (dangling / "result.json").symlink_to(dangling / "gone.json")
    # an obj stem that climbs out of the dataset, towards a real mesh lying there
    (root / "outside.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    escaping = sample_data.write_partnet(folder, "913", "Mug", sample_data.mug())
    _edit_result(escaping, lambda tree: _leaves(tree)[0].update(objs=["../../../outside"]))
    nameless = sample_data.write_partnet(folder, "914", "Mug", sample_data.mug())
    _edit_result(nameless, lambda tree: _leaves(tree)[0].pop("name"))
    (sample_data.write_partnet(folder, "915", "Mug", sample_data.mug()) / "result.json").write_text(
        "[]"
    )
    (sample_data.write_partnet(folder, "916", "Mug", sample_data.mug()) / "meta.json").write_text(
        '{"model_cat": "Mug",'
    )
    (sample_data.write_partnet(folder, "917", "Mug", sample_data.mug()) / "meta.json").unlink()
    obj_folder = sample_data.write_partnet(folder, "918", "Mug", sample_data.mug())
    (obj_folder / "objs" / "new-0.obj").unlink()
    (obj_folder / "objs" / "new-0.obj").mkdir()
    (sample_data.write_partnet(folder, "919", "Mug", sample_data.mug()) / "result.json").write_text(
        "".join(['[{"name": "mug", "children": ['] + ['{"name": "x", "children": ['] * 5000)
        + '{"name": "leaf", "objs": ["new-0"]}'
        + "]}" * 5001
        + "]"
    )
    (sample_data.write_partnet(folder, "920", "Mug", sample_data.mug()) / "result.json").write_text(
        ""
    )
    return folder, {
        "partnet/101": OK,
        "partnet/102": OK,
        "partnet/911": ("failed", "911/result.json is a directory, not a file"),
        "partnet/912": ("failed", "912/result.json is a dangling symlink"),
        "partnet/913": ("failed", "references obj '../../../outside' outside"),
        "partnet/914": ("failed", "914/result.json: a child of 'mug' has no 'name'"),
        "partnet/915": ("failed", "915/result.json: expected a list holding one root node"),
        "partnet/916": ("failed", "916/meta.json: malformed JSON"),
        "partnet/917": ("failed", "917/meta.json is missing"),
        "partnet/918": ("failed", "new-0.obj, which is a directory, not a file"),
        "partnet/919": ("failed", "919/result.json: JSON nested too deeply to read"),
        "partnet/920": ("failed", "920/result.json is empty"),
    }


def _edit_result(shape_dir: Path, edit) -> None:
    tree = json.loads((shape_dir / "result.json").read_text())
    edit(tree)
    (shape_dir / "result.json").write_text(json.dumps(tree))


def _leaves(tree: list) -> list[dict]:
    """The leaf nodes of a PartNet ``result.json`` tree, depth first."""
    found, stack = [], list(reversed(tree))
    while stack:
        node = stack.pop()
        children = node.get("children")
        if children:
            stack.extend(reversed(children))
        else:
            found.append(node)
    return found


def hostile_find3d(root: Path) -> tuple[Path, Expected]:
    folder = root / "find3d"
    sample_data.write_find3d(folder, "seenclass", "mug_0001", sample_data.mug(), count=600)
    sample_data.write_find3d(folder, "unseen", "desk_lamp_0002", sample_data.lamp(), count=600)

    def shape(name: str) -> Path:
        return sample_data.write_find3d(folder, "seenclass", name, sample_data.mug(), count=600)

    integral = shape("cup_0011")  # whole numbers, float dtype: still no part index
    labels = np.load(integral / "labels.npy")
    np.save(integral / "labels.npy", labels.astype(np.float64))
    nan = shape("cup_0012")
    np.save(nan / "labels.npy", np.where(labels == 2, np.nan, labels).astype(np.float32))
    (shape("cup_0013") / "labels.npy").write_bytes(b"")
    truncated = shape("cup_0014") / "labels.npy"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    as_folder = shape("cup_0015") / "label_map.json"
    as_folder.unlink()
    as_folder.mkdir()
    (shape("cup_0016") / "label_map.json").write_text('{"body": "1", "handle": "2"}')
    points = shape("cup_0017") / "points5000.pcd"
    points.write_bytes(points.read_bytes()[:-1000])
    return folder, {
        "find3d/seenclass/mug_0001": OK,
        "find3d/unseen/desk_lamp_0002": OK,
        "find3d/seenclass/cup_0011": ("failed", "labels must be integers, found dtype float64"),
        "find3d/seenclass/cup_0012": ("failed", "labels must be integers, found dtype float32"),
        "find3d/seenclass/cup_0013": ("failed", "cup_0013/labels.npy: empty .npy file"),
        "find3d/seenclass/cup_0014": ("failed", "cup_0014/labels.npy: unreadable .npy file"),
        "find3d/seenclass/cup_0015": ("failed", "label_map.json is a directory, not a file"),
        "find3d/seenclass/cup_0016": ("failed", "cup_0016/label_map.json: keys must be 1..2"),
        "find3d/seenclass/cup_0017": ("failed", "points5000.pcd: PCD data is truncated"),
    }


def obj_text(mesh) -> str:
    return "".join(f"v {x} {y} {z}\n" for x, y, z in mesh.vertices) + "".join(
        f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in mesh.faces
    )


def hostile_glb(root: Path) -> tuple[Path, Expected]:
    folder = root / "assets"
    sample_data.write_glb(folder / "mug.glb", sample_data.mug())
    sample_data.write_glb(folder / "nested" / "lamp.glb", sample_data.lamp())
    (folder / "folder.glb").mkdir()
    (folder / "nested" / "dangling.glb").symlink_to(folder / "moved.glb")
    # two files share a stem: both are inputs, each keeps its extension in its id
    (folder / "cup.obj").write_text(obj_text(sample_data.mug()[0][1]))
    (folder / "cup.ply").write_bytes(sample_data.mug()[1][1].export(file_type="ply"))
    return folder, {
        "glb/mug": OK,
        "glb/nested/lamp": OK,
        "glb/cup.obj": OK,
        "glb/cup.ply": OK,
        "glb/folder": ("failed", "assets/folder.glb is a directory, not a file"),
        "glb/nested/dangling": ("failed", "nested/dangling.glb is a dangling symlink"),
    }


def hostile_compat3d(root: Path) -> tuple[Path, Expected]:
    folder = root / "3dcompat"
    sample_data.write_gltf(folder / "models" / "0c_001.gltf", sample_data.chair())
    sample_data.write_glb(folder / "models" / "25_002.glb", sample_data.table())
    (folder / "models" / "0c_003.gltf").mkdir()
    (folder / "models" / "0c_004.glb").symlink_to(folder / "models" / "0c_999.glb")
    return folder, {
        "3dcompat/0c_001": OK,
        "3dcompat/25_002": OK,
        "3dcompat/0c_003": ("failed", "0c_003.gltf"),
        "3dcompat/0c_004": ("failed", "0c_004.glb"),
    }


HOSTILE = {
    "partnet": hostile_partnet,
    "find3d": hostile_find3d,
    "glb": hostile_glb,
    "3dcompat": hostile_compat3d,
}


# Names that are not valid text: a lone surrogate escaped in JSON, folder and file names
# whose bytes are not UTF-8. Shapes keep their data; the names come out escaped, and each
# escaping is a record warning.

#: A folder or file name part that is not UTF-8 (Latin-1 "é"), as bytes.
NOT_UTF8 = b"caf\xe9"
#: The row of a good shape whose names had to be escaped: ok, with a warning.
ESCAPED = ("ok", "not valid UTF-8")


def invalid_text_partnet(root: Path) -> tuple[Path, Expected]:
    folder = root / "data_v0"
    sample_data.write_partnet(folder, "101", "Chair", sample_data.chair())
    surrogate = sample_data.write_partnet(folder, "102", "Mug", sample_data.mug())
    result = surrogate / "result.json"
    result.write_text(result.read_text().replace('"name": "handle"', '"name": "handle\\udc80"'))
    folder.mkdir(exist_ok=True)
    os.mkdir(os.path.join(os.fsencode(folder), NOT_UTF8 + b"_103"))
    sample_data.write_partnet(folder, os.fsdecode(NOT_UTF8 + b"_103"), "Lamp", sample_data.lamp())
    return folder, {
        "partnet/101": OK,
        "partnet/102": ESCAPED,
        "partnet/caf\\udce9_103": ESCAPED,
    }


def invalid_text_find3d(root: Path) -> tuple[Path, Expected]:
    folder = root / "find3d"
    sample_data.write_find3d(folder, "seenclass", "mug_0001", sample_data.mug(), count=600)
    surrogate = sample_data.write_find3d(folder, "seenclass", "cup_0002", sample_data.mug(), 600)
    (surrogate / "label_map.json").write_text('{"1": "body", "2": "handle\\udc80"}')
    os.mkdir(os.path.join(os.fsencode(folder / "seenclass"), NOT_UTF8 + b"_0003"))
    name = os.fsdecode(NOT_UTF8 + b"_0003")
    sample_data.write_find3d(folder, "seenclass", name, sample_data.mug(), count=600)
    return folder, {
        "find3d/seenclass/mug_0001": OK,
        "find3d/seenclass/cup_0002": ESCAPED,
        "find3d/seenclass/caf\\udce9_0003": ESCAPED,
    }


def invalid_text_glb(root: Path) -> tuple[Path, Expected]:
    folder = root / "assets"
    sample_data.write_glb(folder / "mug.glb", sample_data.mug())
    folder.mkdir(exist_ok=True)
    with open(os.path.join(os.fsencode(folder), NOT_UTF8 + b".glb"), "wb") as handle:
        handle.write(sample_data.scene_of(sample_data.lamp()).export(file_type="glb"))
    return folder, {"glb/mug": OK, "glb/caf\\udce9": ESCAPED}


INVALID_TEXT = {
    "partnet": invalid_text_partnet,
    "find3d": invalid_text_find3d,
    "glb": invalid_text_glb,
}
