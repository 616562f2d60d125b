"""Deterministic rules that settle the obvious candidates (and are the offline verifier).

Keep separate, checked first:
  * opposite qualifiers (front/rear, left/right, top/bottom, upper/lower,
    horizontal/vertical, inner/outer, ...): ``car_front_bumper``/``car_rear_bumper``;
  * two labels of one closed label list (a PartNet or 3DCoMPaT++ category): the dataset
    itself tells them apart, even when they normalize alike (3DCoMPaT++ bed has both
    ``bed_support`` and ``support``).

Merge:
  * identical after normalization (case, separators, category prefix, trailing instance
    numbers, plural): ``bed_headboard``/``headboard`` in bed, ``Arm Rest``/``armrest``;
  * a part name qualified by its own parent in the hierarchy: ``glass`` under
    ``microwave/body/door`` and ``door_glass``.

Keep separate (parts):
  * a part and its own sub-part: ``door``/``door_frame``, or ``door`` and a part whose
    hierarchy path runs through ``door``.

Everything else is left open (``None``): an LLM, a person or the review queue decides.
"""

from __future__ import annotations

from collections.abc import Sequence

from ontology.entities import PART, Entity
from ontology.normalize import match_key, opposite_qualifiers
from ontology.verdicts import KEEP_SEPARATE, MERGE, Candidate, Verdict
from ontology.vocabulary import CLOSED_VOCABULARIES

RULES = "rules"


def rule_verdict(candidate: Candidate, at: str) -> Verdict | None:
    """The rules' verdict on ``candidate`` given at time ``at``, or None if they leave it open."""
    a, b = candidate.a, candidate.b
    opposite = opposite_qualifiers(a.tokens, b.tokens)
    if opposite is not None:
        return Verdict(
            KEEP_SEPARATE,
            RULES,
            f"opposite qualifiers: {opposite[0]!r} in {a.name!r} vs {opposite[1]!r} in {b.name!r}",
            at=at,
        )
    shared = sorted(
        f"{dataset}/{category}"
        for dataset, category in set(a.sources) & set(b.sources)
        if dataset in CLOSED_VOCABULARIES
    )
    if shared:
        return Verdict(
            KEEP_SEPARATE, RULES, f"both are labels of the closed label list {shared[0]}", at=at
        )
    if a.key == b.key:
        return Verdict(
            MERGE,
            RULES,
            "identical after normalization (case, separators, category prefix, "
            "instance numbers, plural)",
            at=at,
        )
    if a.kind != PART:
        return None
    for whole, piece in ((a, b), (b, a)):
        if whole.key in piece.ancestor_keys or _starts_with(piece.tokens, whole.tokens):
            return Verdict(
                KEEP_SEPARATE, RULES, f"{piece.name!r} is a sub-part of {whole.name!r}", at=at
            )
    for general, specific in ((a, b), (b, a)):
        parent = _qualifying_parent(general, specific)
        if parent is not None:
            return Verdict(
                MERGE,
                RULES,
                f"{specific.name!r} is {general.name!r} qualified by its parent {parent!r}",
                at=at,
            )
    return None


def _starts_with(tokens: Sequence[str], head: Sequence[str]) -> bool:
    """Whether ``tokens`` is ``head`` followed by more words (``door_frame`` after ``door``)."""
    return len(tokens) > len(head) and match_key(tokens[: len(head)]) == match_key(head)


def _qualifying_parent(general: Entity, specific: Entity) -> str | None:
    """The words ``specific`` puts before ``general``'s name when they name its parent."""
    extra = len(specific.tokens) - len(general.tokens)
    if extra <= 0 or match_key(specific.tokens[extra:]) != general.key:
        return None
    qualifier = specific.tokens[:extra]
    return " ".join(qualifier) if match_key(qualifier) in general.ancestor_keys else None
