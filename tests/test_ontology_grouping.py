"""Grouping without chaining, and the choice of canonical names."""

from __future__ import annotations

import numpy as np

from ontology.canonical import choose_canonical
from ontology.embed import EmbedderSpec
from ontology.grouping import BRIDGE, CONFLICT, OVERSIZED, group_names
from ontology.outputs import build_outputs
from ontology.resolve import resolve_scope
from ontology.verdicts import KEEP_SEPARATE, MERGE
from tests.ontology_helpers import category, judged, part

SEAT, CUSHION, PAD, PILLOW = (part(n) for n in ("seat", "seat_cushion", "cushion", "pillow"))


def _names(*entities):
    return [e.name for e in entities]


def test_no_group_holds_a_pair_judged_distinct() -> None:
    verdicts = [
        judged(SEAT, CUSHION, MERGE, 0.95),
        judged(CUSHION, PAD, MERGE, 0.90),
        judged(SEAT, PAD, KEEP_SEPARATE, 0.85),
    ]
    grouping = group_names(_names(SEAT, CUSHION, PAD), verdicts, max_group_size=8)
    assert grouping.groups == (("cushion",), ("seat", "seat_cushion"))
    (held,) = grouping.held
    assert held.reason == CONFLICT
    assert held.judged.candidate.names == ("cushion", "seat_cushion")
    assert "'seat'" in held.detail and "'cushion'" in held.detail


def test_a_bridge_between_two_subgroups_is_cut_and_held() -> None:
    back, backrest = part("back"), part("backrest")
    verdicts = [
        judged(SEAT, CUSHION, MERGE, 0.95),
        judged(back, backrest, MERGE, 0.93),
        judged(CUSHION, back, MERGE, 0.81),
    ]
    grouping = group_names(_names(SEAT, CUSHION, back, backrest), verdicts, max_group_size=8)
    assert grouping.groups == (("back", "backrest"), ("seat", "seat_cushion"))
    assert [(h.reason, h.judged.candidate.names) for h in grouping.held] == [
        (BRIDGE, ("back", "seat_cushion"))
    ]


def test_a_single_name_hanging_on_one_link_is_no_bridge() -> None:
    verdicts = [
        judged(SEAT, CUSHION, MERGE, 0.95),
        judged(CUSHION, PAD, MERGE, 0.94),
        judged(SEAT, PAD, MERGE, 0.93),
        judged(PAD, PILLOW, MERGE, 0.85),
    ]
    grouping = group_names(_names(SEAT, CUSHION, PAD, PILLOW), verdicts, max_group_size=8)
    assert grouping.groups == (("cushion", "pillow", "seat", "seat_cushion"),)
    assert grouping.held == ()


def test_oversized_groups_go_to_review() -> None:
    verdicts = [
        judged(SEAT, CUSHION, MERGE, 0.95),
        judged(PAD, PILLOW, MERGE, 0.94),
        judged(CUSHION, PAD, MERGE, 0.90),
    ]
    grouping = group_names(_names(SEAT, CUSHION, PAD, PILLOW), verdicts, max_group_size=3)
    assert len(grouping.groups) == 2
    assert [h.reason for h in grouping.held] == [OVERSIZED]


def test_identical_spellings_are_never_cut_as_bridges() -> None:
    seat_3dc = part("chair_seat", dataset="3dcompat")  # same key as "seat"
    verdicts = [
        judged(CUSHION, SEAT, MERGE, 0.95),
        judged(SEAT, seat_3dc, MERGE, 0.70, verifier="rules"),
        judged(seat_3dc, PAD, MERGE, 0.90),
    ]
    grouping = group_names(_names(SEAT, CUSHION, PAD, seat_3dc), verdicts, max_group_size=8)
    assert grouping.groups == (("chair_seat", "cushion", "seat", "seat_cushion"),)


def test_canonical_is_the_most_descriptive_variant() -> None:
    microwave, oven = category("microwave"), category("microwave_oven", dataset="3dcompat")
    assert choose_canonical([microwave, oven]).name == "microwave_oven"
    glass, door_glass = part("glass", "microwave"), part("door_glass", "microwave")
    assert choose_canonical([glass, door_glass]).name == "door_glass"
    assert choose_canonical([glass, door_glass], preferred={"glass"}).name == "glass"
    common, rare = part("seat", count=9), part("tabs", count=1)
    assert choose_canonical([rare, common]).name == "seat"
    cushion, pillows = part("cushion", count=5), part("pillows")
    assert choose_canonical([cushion, pillows]).name == "cushion"
    assert choose_canonical([cushion, pillows], votes={"pillows": 1}).name == "pillows"


def test_resolved_groups_record_how_each_alias_joined() -> None:
    glass = part("glass", "microwave", path="microwave/body/door/glass")
    door_glass = part("door_glass", "microwave", dataset="3dcompat")
    frame = part("frame", "microwave")
    vectors = np.eye(3, dtype=np.float32)
    merge = judged(glass, door_glass, MERGE, 0.865)
    scope = resolve_scope(
        "part", "microwave", [door_glass, frame, glass], vectors, [merge], max_group_size=8
    )
    assert [g.name for g in scope.groups] == ["door_glass", "frame"]
    group = scope.groups[0]
    assert group.representative is door_glass
    assert [m.name for m in group.members] == ["door_glass", "glass"]
    assert group.links == {"glass": merge}
    assert scope.canonical_of() == {
        "door_glass": "door_glass",
        "glass": "door_glass",
        "frame": "frame",
    }
    np.testing.assert_array_equal(group.embedding, vectors[0])


def test_two_labels_of_one_closed_list_never_share_a_group() -> None:
    # 3DCoMPaT++ bed has bed_support and support; a third name merged with both must not
    # chain them, though no verdict was given on the pair (they are never paired)
    bed_support, support = (part(n, "bed", dataset="3dcompat") for n in ("bed_support", "support"))
    frame = part("frame_support", "bed", dataset="partnet")
    verdicts = [
        judged(frame, bed_support, MERGE, 0.95),
        judged(frame, support, MERGE, 0.90),
    ]
    scope = resolve_scope("part", "bed", [bed_support, frame, support], np.eye(3), verdicts, 8)
    assert [[m.name for m in g.members] for g in scope.groups] == [
        ["bed_support", "frame_support"],
        ["support"],
    ]
    (held,) = scope.held
    assert held.reason == CONFLICT and "'bed_support' and 'support'" in held.detail


def test_the_review_queue_puts_the_most_used_names_first() -> None:
    rare_a, rare_b = part("knob", count=1), part("dial", dataset="x", count=1)
    common_a, common_b = part("leg", count=40), part("foot", dataset="x", count=30)
    verdicts = [
        judged(rare_a, rare_b, "unverified", 0.95, verifier="rules"),
        judged(common_a, common_b, "unverified", 0.55, verifier="rules"),
    ]
    entities = [rare_b, common_b, rare_a, common_a]
    chair = resolve_scope("part", "chair", entities, np.eye(4), verdicts, 8)
    categories = resolve_scope("category", "", [category("chair")], np.eye(4)[:1], [], 8)
    outputs = build_outputs(categories, [chair], EmbedderSpec("test", "identity", 4), "t")
    assert outputs.review.select("name_a", "name_b").rows() == [("foot", "leg"), ("dial", "knob")]


def test_the_review_queue_asks_once_per_pair_of_groups() -> None:
    leg_1, leg_2 = part("leg_01", dataset="web"), part("leg_02", dataset="web")  # instances
    top_leg = part("top_leg", dataset="x")
    verdicts = [
        judged(leg_1, leg_2, MERGE, 1.0, verifier="rules"),
        judged(leg_1, top_leg, "unverified", 0.8, verifier="rules"),
        judged(leg_2, top_leg, "unverified", 0.7, verifier="rules"),
    ]
    chair = resolve_scope("part", "chair", [leg_1, leg_2, top_leg], np.eye(3), verdicts, 8)
    categories = resolve_scope("category", "", [category("chair")], np.eye(3)[:1], [], 8)
    outputs = build_outputs(categories, [chair], EmbedderSpec("test", "identity", 3), "t")
    assert outputs.review.select("name_a", "name_b", "similarity").rows() == [
        ("leg_01", "top_leg", 0.8)
    ]
    assert outputs.counts()["unverified"] == 2  # the alias log keeps both pairs
