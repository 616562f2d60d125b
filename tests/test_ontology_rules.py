"""Normalization and the rules verifier."""

from __future__ import annotations

import functools

import polars as pl
import pytest

from ontology.entities import Entity, category_entities, part_entities
from ontology.forms import spelling_variant
from ontology.normalize import (
    canonical_spelling,
    category_prefixes,
    match_key,
    name_tokens,
    opposite_qualifiers,
    part_tokens,
)
from ontology.rules import RuleContext, rule_verdict
from ontology.verdicts import KEEP_SEPARATE, MERGE, Candidate
from ontology.vocabulary import (
    BUNDLED,
    VOCABULARY_SCHEMA,
    VocabularySpec,
    read_vocabulary,
    vocabulary_table,
)
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


# --- the rules on the real bundled vocabularies, merge and keep directions ---


@functools.cache
def _bundled() -> pl.DataFrame:
    return vocabulary_table(read_vocabulary(VocabularySpec.parse(n)) for n in BUNDLED)


def _scope(*raw_categories: str) -> tuple[dict[str, Entity], RuleContext]:
    """The part entities of raw categories unified into one scope, and their context."""
    table = _bundled().filter(pl.col("category").is_in(raw_categories))
    entities = part_entities(table, dict.fromkeys(raw_categories, raw_categories[-1]))
    return {e.name: e for e in entities}, RuleContext.of(entities)


def _categories() -> tuple[dict[str, Entity], RuleContext]:
    entities = category_entities(_bundled())
    return {e.name: e for e in entities}, RuleContext.of(entities)


def _judge(found: tuple[dict[str, Entity], RuleContext], a: str, b: str, how=("range",)):
    entities, context = found
    candidate = Candidate.of(entities[a], entities[b], 0.5, how)
    return rule_verdict(candidate, "2026-01-01T00:00:00+00:00", context)


@pytest.mark.parametrize(
    ("raw", "a", "b", "decision", "because"),
    [
        # opposite qualifiers, also inside compounds (head/foot of headboard/footboard)
        (("Bed", "bed"), "headboard", "bed_footboard", KEEP_SEPARATE, "opposite"),
        (
            ("StorageFurniture", "cabinet"),
            "back_panel",
            "vertical_front_panel",
            KEEP_SEPARATE,
            "opposite",
        ),
        # two qualifiers of one class (position: side vs front; head vs back)
        (
            ("StorageFurniture", "cabinet"),
            "base_side_panel",
            "vertical_front_panel",
            KEEP_SEPARATE,
            "position",
        ),
        (("Chair", "chair"), "head_connector", "backrest_connector", KEEP_SEPARATE, "position"),
        # lexicon words, compounds, implied modifiers, uninformative modifiers: merge
        (("Chair", "chair"), "back_connector", "backrest_connector", MERGE, "same part"),
        (("Chair", "chair"), "arm_connector", "armrest_connector", MERGE, "same part"),
        (("Chair", "chair"), "seat_holistic_frame", "seat_frame", MERGE, "same part"),
        (("Lamp", "lamp"), "light_bulb", "bulb", MERGE, "same part"),
        (("Table", "table"), "tabletop_connector", "top_connector", MERGE, "same part"),
        (("TrashCan", "garbage_bin"), "cover_lid", "garbage_bin_lid", MERGE, "tell nothing"),
        # ... but not across parts: a lid is not its connector
        (
            ("TrashCan", "garbage_bin"),
            "cover_lid",
            "garbage_bin_lid_connector",
            KEEP_SEPARATE,
            "sub-part",
        ),
        # only child: a leaf is what its only parent names; a piece of that parent is not
        (("Faucet", "faucet"), "tube", "faucet_spout", MERGE, "only child"),
        (("Lamp", "lamp"), "lamp_shade", "lamp_cover", MERGE, "only child"),
        (("Lamp", "lamp"), "lamp_shade", "lamp_cover_frame", KEEP_SEPARATE, "sub-part"),
        (("Clock", "clock"), "pendulum_body", "clock_pendulum", KEEP_SEPARATE, "sub-part"),
        # modifiers that tell nothing apart in their list; and where they do
        (
            ("StorageFurniture", "cabinet"),
            "back_panel",
            "vertical_back_panel",
            MERGE,
            "tell nothing",
        ),
        (("Bed", "bed"), "bar_stretcher", "stretcher", MERGE, "tell nothing"),
        (("Table", "table"), "bar_stretcher", "stretcher", KEEP_SEPARATE, "more general"),
        # a misspelling by one letter
        (("Lamp", "lamp"), "cord", "lamp_chord", MERGE, "spelling"),
    ],
)
def test_rules_on_real_names(raw, a, b, decision, because) -> None:
    verdict = _judge(_scope(*raw), a, b)
    assert verdict is not None and verdict.decision == decision, verdict
    assert because in verdict.rationale


def test_modifiers_that_name_other_parts_are_no_qualifiers() -> None:
    clock = _scope("Clock", "clock")
    assert _judge(clock, "pendulum_body", "clock_body") is None  # the clock has a pendulum
    chair = _scope("Chair", "chair")  # a name repeating its parent is not its rest alone
    assert _judge(chair, "arm_connector", "backrest_connector") is None
    assert _judge(chair, "back_support", "support") is None


def test_category_rules_on_real_names() -> None:
    categories = _categories()
    only_kind = _judge(categories, "StorageFurniture", "cabinet")
    assert (only_kind.decision, "only child of 'cabinet'" in only_kind.rationale) == (MERGE, True)
    synonyms = _judge(categories, "TrashCan", "garbage_bin")  # trash ~ garbage, can ~ bin
    assert synonyms.decision == MERGE and "garbage bin" in synonyms.rationale
    kind = _judge(categories, "Bottle", "jug")  # PartNet's Bottle has jug and normal_bottle
    assert kind.decision == KEEP_SEPARATE and "kinds or parts below 'Bottle'" in kind.rationale
    general = _judge(categories, "Table", "sports_table")  # 3DCoMPaT++ also has table
    assert general.decision == KEEP_SEPARATE and "more general" in general.rationale
    assert _judge(categories, "Chair", "stool", ("overlap",)).decision == KEEP_SEPARATE
    assert _judge(categories, "Chair", "stool", ("range",)) is None  # similar: left open


def test_near_neighbours_with_different_heads_are_kept_unless_similar() -> None:
    bed = _scope("Bed", "bed")
    assert "different head nouns" in _judge(bed, "blanket", "bed_duvet", ("neighbour",)).rationale
    assert _judge(bed, "blanket", "bed_duvet", ("range", "neighbour")) is None


def test_numbers_name_things_unless_a_list_shows_instances() -> None:
    table = pl.DataFrame(
        [
            ("web", "object007", "leg_01", "object007/leg_01", 1),
            ("web", "object007", "leg_02", "object007/leg_02", 1),
            ("web", "object007", "f16_wing", "object007/f16_wing", 1),
            ("web", "object007", "f15_wing", "object007/f15_wing", 1),
            ("web", "object008", "wing", "object008/wing", 1),
        ],
        schema=VOCABULARY_SCHEMA,
        orient="row",
    )
    categories = category_entities(table)
    assert [c.words for c in categories] == ["object007", "object008"]
    keep = _judge(({c.name: c for c in categories}, None), "object007", "object008")
    assert keep.decision == KEEP_SEPARATE and "numbers" in keep.rationale
    parts = {e.name: e for e in part_entities(table, {"object007": "object007", "object008": "x"})}
    assert parts["leg_01"].key == parts["leg_02"].key == "leg"  # instances of one leg
    assert (parts["f16_wing"].tokens, parts["f16_wing"].canonical_spelling) == (
        ("f16", "wing"),
        "f16_wing",
    )
    assert _judge((parts, None), "leg_01", "leg_02").decision == MERGE
    assert _judge((parts, None), "f15_wing", "f16_wing").decision == KEEP_SEPARATE


@pytest.mark.parametrize(
    ("x", "y", "variant"),
    [
        ("cord", "chord", True),
        ("chord", "cord", True),
        ("rack", "track", False),
        ("pole", "hole", False),
        ("bar", "bars", False),
    ],
)
def test_spelling_variants_are_one_inserted_letter(x: str, y: str, variant: bool) -> None:
    assert spelling_variant(x, y) == variant
