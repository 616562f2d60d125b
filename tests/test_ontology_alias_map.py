"""AliasMap: round trip through the alias log, legacy and normalized names, unknown names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from ontology import AliasMap, CanonicalPart, UnknownNameError
from ontology.alias_map import UNRESOLVED_UID
from ontology.embed import EmbedderSpec
from ontology.normalize import category_key, category_prefixes, match_key, part_tokens
from ontology.outputs import build_outputs
from ontology.resolve import resolve_scope
from ontology.unify import unify
from ontology.verdicts import KEEP_SEPARATE, MERGE
from tests.ontology_helpers import category, judged, offline_config, part


@pytest.fixture
def log_folder(tmp_path: Path) -> Path:
    """An ontology of two categories (Microwave/microwave_oven merged, and Bed)."""
    microwave, oven, bed = (
        category("Microwave"),
        category("microwave_oven", dataset="3dc"),
        category("Bed"),
    )
    categories = resolve_scope(
        "category", "", [microwave, bed, oven], np.eye(3), [judged(microwave, oven, MERGE)], 8
    )
    glass = part("glass", "microwave_oven", path="microwave/body/door/glass")
    door_glass = part("door_glass", "microwave_oven", dataset="3dc")
    handle = part("handle", "microwave_oven")
    front, rear = part("front_leg", "bed"), part("rear_leg", "bed")
    parts = [
        resolve_scope(
            "part",
            "microwave_oven",
            [door_glass, glass, handle],
            np.eye(3),
            [judged(glass, door_glass, MERGE, 0.865), judged(glass, handle, KEEP_SEPARATE, 0.8)],
            8,
        ),
        resolve_scope(
            "part", "bed", [front, rear], np.eye(3)[:2], [judged(front, rear, KEEP_SEPARATE)], 8
        ),
    ]
    embedder = EmbedderSpec("test", "identity", 3)
    outputs = build_outputs(categories, parts, embedder, "2026-01-01T00:00:00+00:00")
    assert outputs.parts.column("name").to_pylist() == [
        "front_leg",
        "rear_leg",
        "door_glass",
        "handle",
    ]
    (tmp_path / "ontology").mkdir()
    (tmp_path / "ontology" / "alias_log.jsonl").write_text(outputs.alias_log_text() + "\n")
    pq.write_table(outputs.parts, tmp_path / "ontology" / "parts.parquet")
    return tmp_path


def test_round_trip_with_legacy_and_normalized_spellings(log_folder: Path) -> None:
    aliases = AliasMap.load(log_folder)
    door_glass = CanonicalPart("microwave_oven", "door_glass", 2)
    assert aliases.resolve("Microwave", "glass") == door_glass
    assert aliases.resolve("microwave_oven", "door_glass") == door_glass
    assert aliases.resolve("Microwave Oven", "Door-Glass") == door_glass
    assert aliases.resolve("microwave", "microwave_oven_door_glass_2") == door_glass
    category_name, part_name, part_uid = aliases.resolve("Bed", "rear_leg")
    assert (category_name, part_name, part_uid) == ("bed", "rear_leg", 1)
    assert aliases.resolve_category("MicrowaveOven") == "microwave_oven"


def test_load_accepts_the_log_its_folder_or_the_output_folder(log_folder: Path) -> None:
    for path in (log_folder, log_folder / "ontology", log_folder / "ontology" / "alias_log.jsonl"):
        assert AliasMap.load(path).resolve("Bed", "front_leg").part_uid == 0
    with pytest.raises(FileNotFoundError, match="no alias log"):
        AliasMap.load(log_folder / "nowhere")
    broken = log_folder / "broken.jsonl"
    broken.write_text('{"kind": "part", "alias": \n')
    with pytest.raises(ValueError, match=r"broken\.jsonl: not an alias log"):
        AliasMap.load(broken)


def test_unknown_names_raise_key_errors_naming_close_names(log_folder: Path) -> None:
    aliases = AliasMap.load(log_folder)
    with pytest.raises(KeyError) as error:
        aliases.resolve("Bed", "leg")
    assert isinstance(error.value, UnknownNameError)
    assert str(error.value).startswith("unknown part 'leg' in category 'bed'; closest known: [")
    assert "front_leg" in str(error.value)
    with pytest.raises(UnknownNameError, match=r"unknown category 'Bedd'; closest known: \['Bed'"):
        aliases.resolve("Bedd", "leg")


def test_rejected_pairs_are_logged_but_never_resolve(log_folder: Path) -> None:
    records = [json.loads(line) for line in (log_folder / "ontology/alias_log.jsonl").open()]
    rejected = [(r["alias"], r["canonical"]) for r in records if r["decision"] == KEEP_SEPARATE]
    assert rejected == [("front_leg", "rear_leg"), ("glass", "handle")]
    aliases = AliasMap.load(log_folder)
    assert aliases.resolve("Microwave", "handle").part == "handle"
    assert aliases.resolve("Bed", "front_leg").part == "front_leg"
    merged = next(r for r in records if r["decision"] == "merge" and r["kind"] == "part")
    assert (merged["alias"], merged["canonical"], merged["similarity"]) == (
        "glass",
        "door_glass",
        0.865,
    )


def test_partnet_leaf_paths_resolve_by_path_then_leaf(log_folder: Path) -> None:
    aliases = AliasMap.load(log_folder)
    door_glass = CanonicalPart("microwave_oven", "door_glass", 2)
    assert aliases.resolve("Microwave", "microwave/body/door/glass") == door_glass
    assert aliases.resolve("Bed", "bed/bed_frame/rear_leg").part == "rear_leg"
    with pytest.raises(UnknownNameError, match=r"unknown part 'knob' in category 'bed'"):
        aliases.resolve("Bed", "bed/bed_frame/knob")
    with pytest.raises(UnknownNameError, match=r"unknown part 'bed/' in category 'bed'"):
        aliases.resolve("Bed", "bed/")


def test_a_large_log_loads_and_resolves_every_name(tmp_path: Path) -> None:
    """20,000 records (load time is measured by benchmarks/alias_map_load.py, not here)."""
    records, expected = [], {}
    for c in range(200):
        category = "shelf_" + "".join("abcdefghij"[int(d)] for d in str(c))  # shelf_bc: 12
        records.append({"kind": "category", "alias": category, "canonical": category})
        records[-1].update(decision="canonical", key=category_key(category))
        for p in range(50):
            uid = c * 50 + p
            canonical, legacy = f"part_{p}_bar", f"{category}_Part_{p}_Bar"
            for alias, decision in ((canonical, "canonical"), (legacy, "merge")):
                key = match_key(part_tokens(alias, category_prefixes([category])))
                records.append({"kind": "part", "category": category, "alias": alias})
                records[-1].update(canonical=canonical, key=key, decision=decision, part_uid=uid)
                expected[category, alias] = CanonicalPart(category, canonical, uid)
    (tmp_path / "alias_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    aliases = AliasMap.load(tmp_path)
    assert all(aliases.resolve(*name) == part for name, part in expected.items())
    normalized = aliases.resolve("Shelf H", "PART-3-BARS")
    assert normalized == CanonicalPart("shelf_h", "part_3_bar", 353)


def test_resolve_parts_resolves_what_it_can_and_says_what_it_cannot(log_folder: Path) -> None:
    aliases = AliasMap.load(log_folder)
    names = ["microwave/body/door/glass", "knob", "Handle"]
    category, parts, unresolved = aliases.resolve_parts("Microwave", names)
    assert category == "microwave_oven"
    assert parts == [
        CanonicalPart("microwave_oven", "door_glass", 2),
        CanonicalPart("microwave_oven", "knob", UNRESOLVED_UID),
        CanonicalPart("microwave_oven", "handle", 3),
    ]
    assert len(unresolved) == 1
    assert unresolved[0].startswith("unknown part 'knob' in category 'microwave_oven'")


def test_resolve_parts_of_an_unknown_category_keeps_every_raw_name(log_folder: Path) -> None:
    aliases = AliasMap.load(log_folder)
    category, parts, unresolved = aliases.resolve_parts("Toaster", ["glass", "handle"])
    assert category == "Toaster"
    assert [(p.category, p.part, p.part_uid) for p in parts] == [
        ("Toaster", "glass", UNRESOLVED_UID),
        ("Toaster", "handle", UNRESOLVED_UID),
    ]
    assert len(unresolved) == 1 and unresolved[0].startswith("unknown category 'Toaster'")
    assert aliases.resolve_parts("Bed", []) == ("bed", [], [])


def test_parts_of_gives_the_candidate_part_list_of_a_category(log_folder: Path) -> None:
    aliases = AliasMap.load(log_folder)
    oven = aliases.parts_of("Microwave")  # any spelling of the category
    assert aliases.parts_of("microwave_oven").part_uids == oven.part_uids
    assert (oven.category, oven.part_uids, oven.names) == (
        "microwave_oven",
        (2, 3),
        ("door_glass", "handle"),
    )
    assert oven.descriptions == (
        "the door_glass of a microwave_oven",
        "the handle of a microwave_oven",
    )
    table = pq.read_table(log_folder / "ontology" / "parts.parquet")
    expected = np.stack(table.column("embedding").to_numpy(zero_copy_only=False)[2:4])
    assert oven.embeddings.dtype == np.float32
    np.testing.assert_array_equal(oven.embeddings, expected)
    # prompts name the object and the part without its category prefix
    assert oven.prompts() == ["microwave oven's door glass", "microwave oven's handle"]
    assert aliases.parts_of("Bed").prompts() == ["bed's front leg", "bed's rear leg"]
    with pytest.raises(UnknownNameError, match="unknown category 'sofa'"):
        aliases.parts_of("sofa")


def test_prompts_export_every_part_once_in_uid_order(log_folder: Path, tmp_path: Path) -> None:
    aliases = AliasMap.load(log_folder / "ontology" / "alias_log.jsonl")
    assert aliases.write_prompts(tmp_path / "prompts.jsonl") == 4
    lines = [json.loads(line) for line in (tmp_path / "prompts.jsonl").read_text().splitlines()]
    assert [line["part_uid"] for line in lines] == [0, 1, 2, 3]
    assert lines[2] == {
        "category": "microwave_oven",
        "part": "door_glass",
        "part_uid": 2,
        "prompt": "microwave oven's door glass",
        "description": "the door_glass of a microwave_oven",
    }


def test_parts_of_needs_the_parts_table(log_folder: Path) -> None:
    (log_folder / "ontology" / "parts.parquet").unlink()
    aliases = AliasMap.load(log_folder)
    assert aliases.resolve_category("Bed") == "bed"  # resolving needs only the log
    with pytest.raises(FileNotFoundError, match=r"parts\.parquet"):
        aliases.parts_of("Bed")


def test_numbers_that_name_things_stay_and_instances_resolve(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.csv"
    vocab.write_text(
        "dataset,category,part\n"
        "web,object007,f16_wing\nweb,object007,leg_01\nweb,object007,leg_02\n"
        "web,object008,wing\nweb,object008,model 3\n"
    )
    config, table = offline_config([f"generic={vocab}"], tmp_path / "cache")
    outputs = unify(table, config, "2026-01-01T00:00:00+00:00").outputs
    (tmp_path / "ontology").mkdir()
    (tmp_path / "ontology" / "alias_log.jsonl").write_text(outputs.alias_log_text() + "\n")
    aliases = AliasMap.load(tmp_path)
    assert outputs.categories.column("name").to_pylist() == ["object007", "object008"]
    assert aliases.resolve_category("Object 007") == "object007"
    assert aliases.resolve("object007", "F16 Wing").part == "f16_wing"
    assert aliases.resolve("object007", "leg_02") == aliases.resolve("object007", "leg_01")
    assert aliases.resolve("object007", "Leg 3").part == "leg"  # another instance
    assert aliases.resolve("object008", "model_3").part == "model_3"
