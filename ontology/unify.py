"""One ontology run in plain Python: a vocabulary table -> the ontology's outputs.

Categories are unified first (all in one scope), then the part names of each canonical
category (one scope per category). Each kind goes through the same steps:

1. describe every name (one LLM budget, spent in (scope, name) order);
2. embed every name at once (the lexical embedder fits its IDF on all of them);
3. per scope, find the candidate pairs (similar, nearest neighbours, lexical relations,
   shared part names; ``ontology.candidates``);
4. verify every candidate (override, rules with every label list of the kind at hand,
   then the LLM, in (scope, strongest first) order, from what is left of the budget);
5. per scope, group the merges and name the groups.

Steps 1, 2 and 4 see all names of a kind at once by design (a fitted IDF, one budget
spent in a fixed order) and the Gemini requests within them already run
``--llm-workers`` at a time, so ``pipelines/ontology.py`` runs ``unify`` as one Beam
element rather than splitting it into stages.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import polars as pl

from ontology.candidates import scope_candidates
from ontology.config import OntologyConfig
from ontology.embed import entity_text
from ontology.entities import (
    CATEGORY,
    CATEGORY_SCOPE,
    PART,
    Entity,
    category_entities,
    part_entities,
)
from ontology.gemini import CallBudget
from ontology.outputs import OntologyOutputs, build_outputs
from ontology.overrides import Override, Overrides
from ontology.resolve import ResolvedScope, resolve_scope
from ontology.rules import RuleContext
from ontology.verdicts import Candidate, Judged, strongest_first
from ontology.verify import judge

#: Per scope, a person's decisions by sorted name pair.
ScopeOverrides = Mapping[str, Mapping[tuple[str, str], Override]]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Unified:
    """A run's outputs and what it counted and timed.

    Attributes:
        outputs: the tables, alias log and review queue.
        counts: ``OntologyOutputs.counts()``, plus ``llm_calls``, ``{kind}_entities``,
            ``{kind}_candidates`` (and per way found, ``Candidate.found_by``),
            ``{kind}_candidates_max_per_entity`` and
            ``{kind}_verdicts_{verifier}_{decision}``; sorted by name.
        timings_s: seconds of ``{kind}_{describe,embed,candidates,verify}``, sorted by name.
        judged: every candidate pair with its verdict, categories first, in (scope,
            strongest first) order.
    """

    outputs: OntologyOutputs
    counts: dict[str, int]
    timings_s: dict[str, float]
    judged: tuple[Judged, ...] = ()


def unify(vocabulary: pl.DataFrame, config: OntologyConfig, at: str) -> Unified:
    """Unify the categories and parts of a vocabulary table.

    Args:
        vocabulary: a vocabulary table (``ontology.vocabulary.VOCABULARY_SCHEMA``).
        config: the run's checked configuration (``ontology.config.prepare``).
        at: ISO 8601 UTC time stamping the verdicts and records this run makes.
    """
    steps = _Steps(config, at)
    overrides = {CATEGORY_SCOPE: config.overrides.for_scope(CATEGORY)}
    (categories,) = steps.unify_names(CATEGORY, category_entities(vocabulary), overrides)
    category_of = categories.canonical_of()
    parts = steps.unify_names(
        PART, part_entities(vocabulary, category_of), part_overrides(category_of, config.overrides)
    )
    outputs = build_outputs(categories, parts, config.embedder, at)
    counts = {**steps.counts, **outputs.counts(), "llm_calls": steps.calls}
    return Unified(
        outputs,
        dict(sorted(counts.items())),
        dict(sorted(steps.timings_s.items())),
        tuple(steps.judged),
    )


def part_overrides(category_of: Mapping[str, str], overrides: Overrides) -> ScopeOverrides:
    """A person's part decisions by canonical category (rows may use any spelling of it)."""
    spellings: dict[str, set[str]] = {}
    for raw, canonical in category_of.items():
        spellings.setdefault(canonical, {canonical}).add(raw)
    return {canonical: overrides.for_scope(PART, names) for canonical, names in spellings.items()}


class _Steps:
    """The models of a run, the LLM calls made so far, and the counts and timings."""

    def __init__(self, config: OntologyConfig, at: str) -> None:
        self._config = config
        self._at = at
        self._describer = config.make_describer()
        self._embedder = config.embedder.build()
        self._verifier = config.make_verifier()
        self.calls = 0
        self.judged: list[Judged] = []
        self.counts: Counter[str] = Counter()
        self.timings_s: dict[str, float] = {}

    def unify_names(
        self, kind: str, entities: Sequence[Entity], overrides: ScopeOverrides
    ) -> list[ResolvedScope]:
        """The resolved scopes of one kind's entities, sorted by scope."""
        ordered = sorted(entities, key=lambda entity: (entity.scope, entity.name))
        described = self._with_budget(
            kind, "describe", lambda budget: self._describer.describe(ordered, budget)
        )
        vectors = self._timed(
            kind, "embed", lambda: self._embedder.embed([entity_text(e) for e in described])
        )
        scopes = _by_scope(described, vectors)
        candidates = self._timed(
            kind, "candidates", lambda: self._candidates(kind, scopes, overrides)
        )
        context = RuleContext.of(described)
        judged = self._with_budget(
            kind,
            "verify",
            lambda budget: judge(candidates, overrides, self._verifier, budget, self._at, context),
        )
        self.judged.extend(judged)
        self.counts.update(
            f"{kind}_verdicts_{j.verdict.verifier}_{j.verdict.decision}" for j in judged
        )
        judged_in: dict[str, list[Judged]] = {}
        for one in judged:  # in strongest-first order within each scope
            judged_in.setdefault(one.candidate.scope, []).append(one)
        return [
            resolve_scope(
                kind,
                scope,
                members,
                member_vectors,
                judged_in.get(scope, []),
                self._config.max_group_size,
            )
            for scope, (members, member_vectors) in scopes.items()
        ]

    def _candidates(
        self,
        kind: str,
        scopes: Mapping[str, tuple[list[Entity], np.ndarray]],
        overrides: ScopeOverrides,
    ) -> list[Candidate]:
        """Every scope's candidates in (scope, strongest first) order; counts them.

        Counts ``{kind}_entities``, ``{kind}_candidates``, ``{kind}_candidates_{found_by}``
        (pairs found that way, among others) and ``{kind}_candidates_max_per_entity``.
        """
        candidates = []
        per_entity: Counter[tuple[str, str]] = Counter()
        for scope, (members, member_vectors) in scopes.items():
            found = scope_candidates(
                members, member_vectors, self._config.threshold, overrides.get(scope, {}).keys()
            )
            self.counts[f"{kind}_entities"] += len(members)
            self.counts[f"{kind}_candidates"] += len(found)
            for candidate in found:
                self.counts.update(f"{kind}_candidates_{how}" for how in candidate.found_by)
                per_entity.update((scope, name) for name in candidate.names)
            candidates.extend(found)
        self.counts[f"{kind}_candidates_max_per_entity"] = max(per_entity.values(), default=0)
        return sorted(candidates, key=lambda c: (c.scope, *strongest_first(c)))

    def _with_budget(self, kind: str, step: str, work: Callable[[CallBudget], _T]) -> _T:
        """``work`` given the LLM requests left; the requests it made count as made."""
        budget = self._config.budget(self.calls)
        result = self._timed(kind, step, lambda: work(budget))
        self.calls += budget.used
        return result

    def _timed(self, kind: str, step: str, work: Callable[[], _T]) -> _T:
        started = time.monotonic()
        result = work()
        self.timings_s[f"{kind}_{step}"] = round(time.monotonic() - started, 3)
        return result


def _by_scope(
    entities: Sequence[Entity], vectors: np.ndarray
) -> dict[str, tuple[list[Entity], np.ndarray]]:
    """Per scope (sorted): its entities sorted by name and their ``(n, d)`` vectors."""
    rows: dict[str, list[int]] = {}
    for row, entity in enumerate(entities):
        rows.setdefault(entity.scope, []).append(row)
    scopes = {}
    for scope in sorted(rows):
        ordered = sorted(rows[scope], key=lambda row: entities[row].name)
        scopes[scope] = ([entities[row] for row in ordered], vectors[ordered])
    return scopes
