"""A person's overrides: file format, precedence over rules and LLM, canonical choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ontology.gemini import CallBudget
from ontology.overrides import OVERRIDE, Overrides, OverridesError
from ontology.resolve import resolve_scope
from ontology.verdicts import KEEP_SEPARATE, MERGE, UNVERIFIED, Candidate
from ontology.verify import judge
from tests.ontology_helpers import part

HEADER = "kind,category,name_a,name_b,decision,canonical,rationale\n"


def _overrides(tmp_path: Path, rows: str) -> Overrides:
    path = tmp_path / "overrides.csv"
    path.write_text(HEADER + rows)
    return Overrides.load(str(path))


def test_overrides_decide_before_rules_and_llm(tmp_path: Path) -> None:
    overrides = _overrides(
        tmp_path,
        "part,Chair,stretcher,bar_stretcher,merge,bar_stretcher,same rail\n"
        "part,chair,seat,chair_seat,keep_separate,,\n"
        "part,chair,leg,foot,,,\n",
    )
    assert overrides.undecided == 1
    by_pair = overrides.for_scope("part", ["chair", "Chair"])
    stretcher, bar = part("stretcher", dataset="3dcompat"), part("bar_stretcher")
    seat, chair_seat = part("seat"), part("chair_seat", dataset="3dcompat")
    leg, foot = part("leg"), part("foot", dataset="3dcompat")
    candidates = [Candidate.of(stretcher, bar, 0.83), Candidate.of(seat, chair_seat, 0.9)]
    candidates.append(Candidate.of(leg, foot, 0.81))
    verdicts = [j.verdict for j in judge(candidates, {"chair": by_pair}, None, CallBudget(0), "t")]
    assert [(v.decision, v.verifier) for v in verdicts] == [
        (MERGE, OVERRIDE),
        (KEEP_SEPARATE, OVERRIDE),  # the rules alone would merge these identical spellings
        (UNVERIFIED, "rules"),
    ]
    assert verdicts[0].rationale == "same rail"
    assert "overrides.csv:3" in verdicts[1].rationale


def test_a_persons_canonical_choice_wins(tmp_path: Path) -> None:
    overrides = _overrides(tmp_path, "part,chair,stretcher,bar_stretcher,merge,stretcher,\n")
    stretcher, bar = part("stretcher", dataset="3dcompat"), part("bar_stretcher")
    (judged,) = judge(
        [Candidate.of(stretcher, bar, 0.83)],
        {"chair": overrides.for_scope("part", ["chair"])},
        None,
        CallBudget(0),
        "t",
    )
    scope = resolve_scope("part", "chair", [bar, stretcher], np.eye(2), [judged], 8)
    assert [g.name for g in scope.groups] == ["stretcher"]


def test_rows_naming_unknown_names_are_reported(tmp_path: Path) -> None:
    overrides = _overrides(
        tmp_path, "part,chair,seat,chair_seat,merge,,\ncategory,,Chair,Stool,merge,,\n"
    )
    vocabulary = pl.DataFrame(
        {"dataset": ["a", "b"], "category": ["Chair", "chair"], "part": ["seat", "chair_seat"]}
    )
    assert [row.where for row in overrides.naming_unknown(vocabulary)] == [
        f"{tmp_path / 'overrides.csv'}:3"
    ]


def test_category_rows_and_other_scopes(tmp_path: Path) -> None:
    overrides = _overrides(
        tmp_path,
        "category,,TrashCan,garbage_bin,merge,,\npart,table,top,tabletop,merge,,\n",
    )
    assert list(overrides.for_scope("category")) == [("TrashCan", "garbage_bin")]
    assert overrides.for_scope("part", ["chair"]) == {}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("part,chair,a,b,maybe,,\n", "overrides.csv:2: decision 'maybe'"),
        ("shape,chair,a,b,merge,,\n", "kind 'shape'"),
        ("part,chair,a,a,merge,,\n", "two different names"),
        ("part,,a,b,merge,,\n", "needs its category"),
        ("part,chair,a,b,merge,c,\n", "canonical 'c' is neither"),
        ("part,chair,a,b\n", "overrides.csv:2: expected 7 fields"),
    ],
)
def test_bad_override_rows_name_file_line_and_reason(
    tmp_path: Path, rows: str, message: str
) -> None:
    with pytest.raises(OverridesError) as error:
        _overrides(tmp_path, rows)
    assert message in str(error.value)


def test_missing_file_or_columns(tmp_path: Path) -> None:
    with pytest.raises(OverridesError, match="cannot read"):
        Overrides.load("/no/such/overrides.csv")
    path = tmp_path / "overrides.csv"
    path.write_text("kind,name_a,name_b\n")
    with pytest.raises(OverridesError, match=r"lacks column\(s\) category, decision"):
        Overrides.load(str(path))
