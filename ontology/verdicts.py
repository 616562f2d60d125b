"""Candidate pairs and the verdicts verifiers give them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ontology.entities import Entity
from schemas.ontology import KEEP_SEPARATE, MERGE, UNVERIFIED

#: A verifier's decisions; ``unverified``: rules left it open, the LLM failed or its
#: budget ran out.
DECISIONS = (MERGE, KEEP_SEPARATE, UNVERIFIED)


def utc_now() -> str:
    """The current time as ISO 8601 UTC with seconds, the log's ``at`` format."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


#: How a candidate pair was found (``Candidate.found_by``): similar at the threshold
#: (``range``), among each other's nearest neighbours (``neighbour``), by a shared head noun,
#: form, spelling or alternate name (``lexical``), the same match key (``key``), categories
#: sharing part names (``overlap``), or a person's override (``override``).
FOUND_BY = ("range", "neighbour", "lexical", "key", "overlap", "override")
#: Ways of finding a pair that alone are no evidence of a duplicate.
WEAK_SOURCES = frozenset({"neighbour", "overlap"})


@dataclass(frozen=True)
class Candidate:
    """Two entities of one scope that may name the same thing (``a.name < b.name``).

    ``similarity`` is the cosine similarity of their embeddings; ``found_by`` the ways
    the pair was found (``FOUND_BY`` items, in that order; empty when not recorded).
    """

    a: Entity
    b: Entity
    similarity: float
    found_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (self.a.kind == self.b.kind and self.a.scope == self.b.scope):
            raise ValueError(f"candidate {self.a.name!r}/{self.b.name!r} mixes scopes")
        if not self.a.name < self.b.name:
            raise ValueError(f"candidate names out of order: {self.a.name!r}, {self.b.name!r}")

    @classmethod
    def of(
        cls, x: Entity, y: Entity, similarity: float, found_by: tuple[str, ...] = ()
    ) -> Candidate:
        """The candidate of two entities in either order."""
        first, second = (x, y) if x.name < y.name else (y, x)
        return cls(first, second, similarity, found_by)

    @property
    def kind(self) -> str:
        return self.a.kind

    @property
    def scope(self) -> str:
        return self.a.scope

    @property
    def names(self) -> tuple[str, str]:
        return self.a.name, self.b.name


#: Decimal digits similarities are rounded to before ordering pairs by them, so that float
#: noise (the same pair scored from either side, or on another machine) cannot reorder ties.
SIMILARITY_DIGITS = 6


def rounded_similarity(candidate: Candidate) -> float:
    return round(candidate.similarity, SIMILARITY_DIGITS)


def strongest_first(candidate: Candidate) -> tuple[float, tuple[str, str]]:
    """The order of candidate pairs: by rounded similarity descending, then by names."""
    return -rounded_similarity(candidate), candidate.names


@dataclass(frozen=True)
class Verdict:
    """A verifier's decision on one candidate.

    Attributes:
        decision: ``merge``, ``keep_separate`` or ``unverified``.
        verifier: who decided: ``override``, ``rules`` or ``gemini``.
        rationale: why, in a sentence.
        model: the LLM that decided, if any.
        prompt_sha256: hash of the pair's prompt (LLM verdicts).
        canonical: the name the verifier prefers as canonical, if it said.
        at: when the verdict was given (ISO 8601 UTC).
    """

    decision: str
    verifier: str
    rationale: str
    model: str | None = None
    prompt_sha256: str | None = None
    canonical: str | None = None
    at: str = ""

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"unknown decision {self.decision!r}; expected one of {DECISIONS}")


@dataclass(frozen=True)
class Judged:
    """A candidate with its verdict."""

    candidate: Candidate
    verdict: Verdict
