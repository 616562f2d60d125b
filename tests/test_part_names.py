"""The one rule turning raw names from files into part names, and its use by the
``--vocab shards=`` reader."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurizers.names import part_name
from ontology.vocabulary import VocabularySpec, read_vocabulary
from schemas.features import PART_TYPE
from tests.table_fixtures import commit_shards


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # instances: 3DCoMPaT++, Blender, trimesh's dedupe suffix, stacked, spaced
        ("leg_01", "leg"),
        ("leg_02", "leg"),
        ("seat_01", "seat"),
        ("leg.001", "leg"),
        ("leg_1", "leg"),
        ("leg_01_1", "leg"),
        ("wheel 3", "wheel"),
        ("Body_a3f9c1", "Body"),  # a random hex id appended by an exporter
        # only random or positional: never a part
        ("17_34ea", None),
        ("21", None),
        ("geometry_0", None),
        ("mesh.001", None),
        ("Object_12", None),
        ("node5", None),
        ("GLTF_SceneRootNode", None),
        ("Sketchfab_model", None),
        ("a3f9c1", None),
        ("  ", None),
        # meaningful numbers and plain names stay
        ("x2", "x2"),
        ("back_2_support", "back_2_support"),
        ("ToyCar", "ToyCar"),
        ("face", "face"),  # hex letters without a digit are a word
        ("chair/chair_base/regular_leg_base/leg", "chair/chair_base/regular_leg_base/leg"),
    ],
)
def test_part_name(raw, expected):
    assert part_name(raw) == expected


def test_every_partnet_leaf_path_is_its_own_part_name():
    """PartNet's source keeps leaf paths as they are (they are the label lists' names); the
    rule agrees with every one of the bundled label lists, so no PartNet name escapes it."""
    paths = read_vocabulary(VocabularySpec.parse("partnet"))["path"].to_list()
    assert len(paths) > 200
    assert [path for path in paths if part_name(path) != path] == []


def test_shards_vocabulary_merges_instances_and_drops_made_up_names(tmp_path):
    """Shards written before names went through the rule still give clean names."""
    names = [["leg_1", "leg_2", "seat", "geometry_0"], ["leg", "17_34ea"], ["21"]]
    table = pa.table(
        {
            "source": ["3dcompat", "3dcompat", "glb"],
            "category_raw": ["chair", "chair", "chair"],
            "parts": pa.array(
                [[{"name_raw": n, "name": n, "part_uid": -1} for n in shape] for shape in names],
                pa.list_(PART_TYPE),
            ),
        }
    )
    pq.write_table(table, tmp_path / "part-0000000000000000.parquet")
    commit_shards(tmp_path, {"part-0000000000000000.parquet": ["a", "b", "c"]})
    pq.write_table(table, tmp_path / "part-1111111111111111.parquet")  # never committed
    vocabulary = read_vocabulary(VocabularySpec.parse(f"shards={tmp_path}"))
    rows = sorted(vocabulary.select("dataset", "part", "path", "count").iter_rows())
    assert rows == [("3dcompat", "leg", "chair/leg", 2), ("3dcompat", "seat", "chair/seat", 1)]
