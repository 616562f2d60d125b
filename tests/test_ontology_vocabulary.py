"""Vocabulary readers on the real vocabularies and on small fixtures; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from ontology.entities import category_entities, part_entities
from ontology.vocabulary import (
    BUNDLED_DIR,
    VocabularyError,
    VocabularySpec,
    read_vocabulary,
    vocabulary_table,
)


def _read(name: str, path: Path) -> pl.DataFrame:
    return read_vocabulary(VocabularySpec.parse(f"{name}={path}"))


def _bundled(name: str) -> pl.DataFrame:
    return read_vocabulary(VocabularySpec.parse(name))


def test_partnet_label_lists_give_leaves_with_paths() -> None:
    table = _bundled("partnet")
    assert table["category"].n_unique() == 24
    glass = table.filter((pl.col("category") == "Microwave") & (pl.col("part") == "glass"))
    assert glass["path"].to_list() == ["microwave/body/door/glass"]
    assert table.filter(pl.col("part") == "door").is_empty()  # an inner node, not a leaf


def test_3dcompat_metadata_gives_fine_parts_under_coarse_ones() -> None:
    table = _bundled("3dcompat")
    seg_classes = json.loads((BUNDLED_DIR / "3dcompat/fine_seg_classes.json").read_text())
    assert table.height == sum(len(parts) for parts in seg_classes["seg_classes"].values())
    assert table["category"].n_unique() == 42
    bumper = table.filter(pl.col("part") == "car_front_bumper")
    assert bumper.select("category", "path").row(0) == ("car", "car/body/car_front_bumper")


def test_find3d_label_maps_count_objects(tmp_path: Path) -> None:
    for folder, labels in {
        "seenclass/chair_1a2b": {"1": "arm", "2": "seat"},
        "seenclass/chair_3c4d": {"1": "seat"},
        "unseen/coffee_table_9f": {"1": "tabletop"},
    }.items():
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "label_map.json").write_text(json.dumps(labels))
    table = _read("find3d", tmp_path)
    counts = dict(zip(table["category"] + "/" + table["part"], table["count"], strict=True))
    assert counts == {"chair/arm": 1, "chair/seat": 2, "coffee table/tabletop": 1}


def test_generic_csv_with_optional_path_and_count(tmp_path: Path) -> None:
    csv = tmp_path / "names.csv"
    csv.write_text("dataset,category,part,count\ntexverse,chair,Seat,3\ntexverse,chair,leg,\n")
    table = _read("generic", csv)
    assert table.rows() == [
        ("texverse", "chair", "Seat", "chair/Seat", 3),
        ("texverse", "chair", "leg", "chair/leg", 1),
    ]


def test_repeated_occurrences_are_summed_not_dropped(tmp_path: Path) -> None:
    csv = tmp_path / "names.csv"
    csv.write_text("dataset,category,part\nweb,chair,seat\n")
    table = vocabulary_table([_read("generic", csv), _read("generic", csv)])
    assert table["count"].to_list() == [2]


def test_entities_pool_spellings_per_unified_category() -> None:
    table = vocabulary_table([_bundled("partnet"), _bundled("3dcompat")])
    categories = {e.name: e for e in category_entities(table)}
    assert categories["Chair"].datasets == ("partnet",)
    category_of = {name: name.lower() for name in categories}
    legs = [e for e in part_entities(table, category_of) if e.scope == "chair" and e.name == "leg"]
    (leg,) = legs
    assert leg.datasets == ("3dcompat", "partnet")
    assert leg.sources == (("3dcompat", "chair"), ("partnet", "Chair"))
    assert leg.count == 3  # two PartNet paths, one 3DCoMPaT++ label


@pytest.mark.parametrize(
    ("name", "files", "message"),
    [
        ("partnet", {"Chair.txt": "1 chair subcomponents\n2 chair/leg\n"}, "Chair.txt:2: expected"),
        ("partnet", {"README.md": "x"}, "no PartNet label lists"),
        ("generic", {"v.csv": "dataset,category\nweb,chair\n"}, "header lacks column(s) part"),
        ("generic", {"v.csv": "dataset,category,part\nweb,chair\n"}, "v.csv:2: expected 3 fields"),
        ("generic", {"v.csv": "dataset,category,part\nweb,,seat\n"}, "v.csv:2: dataset, category"),
        ("generic", {"v.csv": "dataset,category,part,count\nw,c,p,x\n"}, "count 'x' is not"),
        ("generic", {"v.csv": b"\xff\xfe"}, "cannot read"),
        ("find3d", {"a/chair_1/label_map.json": "{oops"}, "not valid JSON"),
        ("find3d", {"a/chair_1/label_map.json": '{"1": ""}'}, "label -> part name"),
        ("3dcompat", {"classes.json": "[]"}, "parts_fine.json: cannot read"),
    ],
)
def test_bad_input_names_the_file_and_reason(
    tmp_path: Path, name: str, files: dict[str, str | bytes], message: str
) -> None:
    for relative, content in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    target = tmp_path / next(iter(files)) if name == "generic" else tmp_path
    with pytest.raises(VocabularyError, match=None) as error:
        _read(name, target)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_bundled_vocabularies_carry_their_licenses_and_paths_still_work(tmp_path: Path) -> None:
    bundled = VocabularySpec("partnet", str(BUNDLED_DIR / "partnet"))
    assert VocabularySpec.parse("partnet") == bundled
    for name, license_text in (("partnet", "MIT License"), ("3dcompat", "BSD 3-Clause")):
        assert license_text in (BUNDLED_DIR / name / "LICENSE").read_text()
    (tmp_path / "Mug.txt").write_text("1 mug/handle leaf\n2 mug/body leaf\n")
    assert _read("partnet", tmp_path)["part"].to_list() == ["body", "handle"]


def test_bad_vocab_flags() -> None:
    with pytest.raises(VocabularyError, match=r"expected NAME=PATH \(NAME alone for the bundled"):
        VocabularySpec.parse("generic")
    with pytest.raises(VocabularyError, match="expected NAME=PATH"):
        VocabularySpec.parse("partnet=")
    with pytest.raises(VocabularyError, match="unknown vocabulary 'shapenet'"):
        VocabularySpec.parse("shapenet=/data")
    with pytest.raises(VocabularyError, match="no such file or folder"):
        read_vocabulary(VocabularySpec.parse("partnet=/no/such/dir"))
