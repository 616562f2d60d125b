"""Verification of candidate pairs: a person's override, then rules, then Gemini.

Every candidate leaves with exactly one verdict. Without an LLM verifier, what the
rules leave open is ``unverified`` (and goes to the review queue).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pydantic

from ontology.cache import JsonCache
from ontology.entities import CATEGORY, Entity
from ontology.gemini import GEMINI, BatchAsker, CallBudget, GeminiSettings, LlmItem
from ontology.normalize import name_tokens
from ontology.overrides import Override
from ontology.rules import RULES, RuleContext, rule_verdict
from ontology.verdicts import Candidate, Judged, Verdict
from schemas.ontology import KEEP_SEPARATE, MERGE, UNVERIFIED

#: Hierarchy paths shown per name.
_MAX_CONTEXT = 3

INSTRUCTIONS = """\
You verify candidate duplicates in a 3D part ontology that merges the vocabularies of \
several datasets. For every numbered pair below decide whether names A and B denote \
the same thing (same: true) or different things (same: false). Each name comes with \
its datasets, its hierarchy paths (a leaf means what its parents say), its sibling \
labels, the nodes it is the only child of, and a description. Parts at opposite \
positions, orientations or times (front/rear, left/right, top/bottom, \
horizontal/vertical, inner/outer, head/foot, hour/minute) are different, and so are a \
part and its own sub-part, and a general name and one of several kinds of it. If they are the \
same, give as canonical the more descriptive of the two names exactly as written \
(e.g. "door glass" over "glass"); otherwise repeat A. Give a one-sentence rationale. \
Answer in JSON: {"verdicts": [{"id": <pair number>, "same": true|false, \
"canonical": "<name>", "rationale": "<sentence>"}]}, one entry per pair."""


class _PairVerdict(pydantic.BaseModel):
    id: int
    same: bool
    canonical: str
    rationale: str


class _PairVerdicts(pydantic.BaseModel):
    verdicts: list[_PairVerdict]


class GeminiVerifier:
    """Verdicts by Gemini, cached under ``cache_dir/verdicts``."""

    def __init__(self, settings: GeminiSettings, cache_dir: str) -> None:
        self._model = settings.model
        self._asker = BatchAsker(
            settings, JsonCache(f"{cache_dir}/verdicts"), INSTRUCTIONS, _PairVerdicts, _by_number
        )

    def verify(self, candidates: Sequence[Candidate], budget: CallBudget) -> list[Verdict]:
        answers = self._asker.ask([_item(candidate) for candidate in candidates], budget)
        verdicts = []
        for candidate, answer in zip(candidates, answers, strict=True):
            if answer.value is None:
                decision, rationale, canonical = UNVERIFIED, answer.failure or "", None
            else:
                decision = MERGE if answer.value["same"] else KEEP_SEPARATE
                rationale = answer.value["rationale"]
                canonical = _raw_name(candidate, answer.value["canonical"])
            verdicts.append(
                Verdict(
                    decision,
                    GEMINI,
                    rationale,
                    model=self._model,
                    prompt_sha256=answer.prompt_sha256,
                    canonical=canonical if decision == MERGE else None,
                    at=answer.at,
                )
            )
        return verdicts


def judge(
    candidates: Sequence[Candidate],
    overrides: Mapping[str, Mapping[tuple[str, str], Override]],
    verifier: GeminiVerifier | None,
    budget: CallBudget,
    at: str,
    context: RuleContext | None = None,
) -> list[Judged]:
    """One verdict per candidate, in order.

    Args:
        candidates: pairs of any scopes.
        overrides: per scope, the person's rows by sorted name pair.
        verifier: Gemini for what rules leave open, or None (offline: ``unverified``).
        budget: LLM requests left.
        at: time stamp of override and rule verdicts.
        context: the label lists of every entity of the candidates' kind (the rules
            compare a name with its list mates); default: each pair alone.
    """
    verdicts: list[Verdict | None] = []
    for candidate in candidates:
        override = overrides.get(candidate.scope, {}).get(candidate.names)
        verdicts.append(override.verdict(at) if override else rule_verdict(candidate, at, context))
    open_pairs = [i for i, verdict in enumerate(verdicts) if verdict is None]
    if verifier is not None:
        answers = verifier.verify([candidates[i] for i in open_pairs], budget)
    else:
        left_open = Verdict(UNVERIFIED, RULES, "the rules leave this pair open", at=at)
        answers = [left_open] * len(open_pairs)
    for i, verdict in zip(open_pairs, answers, strict=True):
        verdicts[i] = verdict
    return [Judged(c, v) for c, v in zip(candidates, verdicts, strict=True)]  # type: ignore[arg-type]


def _describe(entity: Entity) -> str:
    """A name with what tells it apart: datasets, hierarchy, siblings, alternates, meaning."""
    facts = [f"datasets: {', '.join(f'{d}/{c}' for d, c in entity.sources)}"]
    if entity.paths:
        facts.append(f"hierarchy: {'; '.join(entity.paths[:_MAX_CONTEXT])}")
    if entity.siblings:
        facts.append(f"siblings: {', '.join(entity.siblings)}")
    if entity.alternates:
        facts.append(f"only child of: {', '.join(entity.alternates)}")
    if entity.kinds:
        facts.append(f"kinds or parts below it: {', '.join(entity.kinds[: _MAX_CONTEXT * 3])}")
    return f'"{entity.words}": {entity.description} [{"; ".join(facts)}]'


def _item(candidate: Candidate) -> LlmItem:
    where = (
        "object categories"
        if candidate.kind == CATEGORY
        else f"parts of a {' '.join(name_tokens(candidate.scope))}"
    )
    text = f"{where}: A {_describe(candidate.a)} | B {_describe(candidate.b)}"
    return LlmItem((candidate.kind, candidate.scope, *candidate.names), text)


def _raw_name(candidate: Candidate, answer: str) -> str | None:
    """The raw name of the pair the model chose as canonical (None if it named neither)."""
    chosen = name_tokens(answer)
    return next((e.name for e in (candidate.a, candidate.b) if name_tokens(e.name) == chosen), None)


def _by_number(reply: _PairVerdicts) -> dict[int, dict[str, Any]]:
    return {item.id: item.model_dump(exclude={"id"}) for item in reply.verdicts}
