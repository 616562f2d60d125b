"""Normalization and the rules verifier."""

from __future__ import annotations

import pytest

from ontology.normalize import (
    canonical_spelling,
    category_prefixes,
    match_key,
    name_tokens,
    opposite_qualifiers,
    part_tokens,
)
from ontology.rules import rule_verdict
from ontology.verdicts import KEEP_SEPARATE, MERGE, Candidate
from tests.ontology_helpers import category, part


@pytest.mark.parametrize(
    ("raw", "tokens"),
    [
        ("StorageFurniture", ("storage", "furniture")),
        ("Arm Rest", ("arm", "rest")),
        ("back-frame_vertical bar", ("back", "frame", "vertical", "bar")),
        ("leg_2", ("leg",)),
        ("leg.001", ("leg",)),
        ("leg2", ("leg",)),
        ("TV", ("tv",)),
        ("3", ("3",)),
    ],
)
def test_name_tokens(raw: str, tokens: tuple[str, ...]) -> None:
    assert name_tokens(raw) == tokens


def test_match_key_joins_spellings_and_plurals() -> None:
    assert match_key(name_tokens("arm_rest")) == match_key(name_tokens("Armrest"))
    assert match_key(name_tokens("legs")) == match_key(name_tokens("leg"))
    assert match_key(name_tokens("glass")) == "glass"
    assert canonical_spelling("Bed Headboard 2") == "bed_headboard"


def test_category_prefix_is_stripped_but_never_the_whole_name() -> None:
    prefixes = category_prefixes(["bbq_grill"])
    assert part_tokens("bbq_control_knob", prefixes) == ("control", "knob")
    assert part_tokens("bed_headboard", category_prefixes(["Bed"])) == ("headboard",)
    assert part_tokens("sink_flange", category_prefixes(["sinks"])) == ("flange",)
    assert part_tokens("curtain", category_prefixes(["curtain"])) == ("curtain",)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("car_front_bumper", "car_rear_bumper", ("front", "rear")),
        ("back_frame_horizontal_bar", "back_frame_vertical_bar", ("horizontal", "vertical")),
        ("upper_cabinet", "lower_cabinet", ("upper", "lower")),
        ("inner_frame", "outer_frame", ("inner", "outer")),
        ("clock_hour_hand", "clock_minute_hand", ("hour", "minute")),
        ("front_bumper", "bumper", None),
        ("left_arm", "left_armrest", None),
    ],
)
def test_opposite_qualifiers(a: str, b: str, expected: tuple[str, str] | None) -> None:
    assert opposite_qualifiers(name_tokens(a), name_tokens(b)) == expected


def _verdict(a, b):
    return rule_verdict(Candidate.of(a, b, 0.9), "2026-01-01T00:00:00+00:00")


def test_category_prefix_variants_merge() -> None:
    verdict = _verdict(
        part("bed_headboard", "bed", dataset="3dcompat"),
        part("headboard", "bed", dataset="partnet"),
    )
    assert verdict.decision == MERGE
    assert "identical after normalization" in verdict.rationale


def test_front_rear_and_horizontal_vertical_stay_apart() -> None:
    bumpers = _verdict(part("car_front_bumper", "car"), part("car_rear_bumper", "car", dataset="x"))
    bars = _verdict(
        part("back_frame_horizontal_bar"), part("back_frame_vertical_bar", dataset="3dcompat")
    )
    assert bumpers.decision == bars.decision == KEEP_SEPARATE
    assert "'front'" in bumpers.rationale and "'vertical'" in bars.rationale


def test_two_labels_of_one_closed_list_stay_apart_even_when_spelled_alike() -> None:
    verdict = _verdict(
        part("bed_support", "bed", dataset="3dcompat"), part("support", "bed", dataset="3dcompat")
    )
    assert verdict.decision == KEEP_SEPARATE
    assert "3dcompat/bed" in verdict.rationale


def test_a_part_and_its_sub_part_stay_apart() -> None:
    door = part("door", "microwave", dataset="3dcompat")
    frame = part("door_frame", "microwave", path="microwave/body/door/door_frame")
    assert _verdict(door, frame).decision == KEEP_SEPARATE
    handle = part("handle", "microwave", path="microwave/body/door/handle")
    assert "sub-part" in _verdict(door, handle).rationale


def test_a_part_qualified_by_its_own_parent_merges() -> None:
    glass = part("glass", "microwave", path="microwave/body/door/glass")
    door_glass = part("door_glass", "microwave", dataset="find3d")
    verdict = _verdict(glass, door_glass)
    assert verdict.decision == MERGE
    assert "qualified by its parent 'door'" in verdict.rationale


def test_rules_leave_the_rest_open() -> None:
    switch = part("switch", "faucet", path="faucet/normal_faucet/switch")
    assert _verdict(switch, part("faucet_lever", "faucet", dataset="3dcompat")) is None
    assert _verdict(category("microwave"), category("microwave_oven", dataset="3dcompat")) is None
    assert _verdict(category("Chair"), category("chair", dataset="3dcompat")).decision == MERGE


def test_two_categories_of_one_dataset_stay_apart() -> None:
    verdict = _verdict(
        category("table", dataset="3dcompat"), category("sports_table", dataset="3dcompat")
    )
    assert verdict.decision == KEEP_SEPARATE
    assert "3dcompat/categories" in verdict.rationale
