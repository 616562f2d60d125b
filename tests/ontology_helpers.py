"""Builders of small ontology objects for tests."""

from __future__ import annotations

import json
from pathlib import Path

from ontology.config import prepare_offline as offline_config  # noqa: F401 (imported from here)
from ontology.entities import CATEGORY, CATEGORY_LIST, CATEGORY_SCOPE, PART, Entity
from ontology.normalize import category_prefixes, name_tokens, part_tokens
from ontology.verdicts import Candidate, Judged, Verdict


def part(
    name: str,
    scope: str = "chair",
    *,
    dataset: str = "partnet",
    path: str | None = None,
    description: str = "",
    count: int = 1,
) -> Entity:
    """A part entity of one dataset's ``scope`` category."""
    return Entity(
        PART,
        scope,
        name,
        part_tokens(name, category_prefixes([scope])),
        ((dataset, scope),),
        count,
        (path or f"{scope}/{name}",),
        description=description or f"the {name} of a {scope}",
    )


def category(name: str, *, dataset: str = "partnet", count: int = 1) -> Entity:
    return Entity(
        CATEGORY, CATEGORY_SCOPE, name, name_tokens(name), ((dataset, CATEGORY_LIST),), count
    )


def judged(
    a: Entity, b: Entity, decision: str, similarity: float = 0.9, verifier: str = "gemini"
) -> Judged:
    return Judged(Candidate.of(a, b, similarity), Verdict(decision, verifier, "test"))


def run_ontology(output: Path, *flags: str) -> int:
    """``beam_runner.py --pipeline ontology ... --output OUTPUT``; its exit code."""
    import beam_runner

    return beam_runner.main(["--pipeline", "ontology", *flags, "--output", str(output)])


def read_run(output: Path) -> dict:
    return json.loads((output / "ontology_run.json").read_text())


def read_log(output: Path) -> list[dict]:
    lines = (output / "ontology" / "alias_log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]
