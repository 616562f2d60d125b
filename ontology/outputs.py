"""The ontology's outputs from the resolved scopes: tables, alias log, review queue.

Categories are numbered in name order (``category_uid``), parts in (category, name)
order (``part_uid``); both equal the row index of their table.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from ontology.embed import EmbedderSpec
from ontology.entities import Entity
from ontology.grouping import Held
from ontology.resolve import CanonicalGroup, ResolvedScope
from ontology.verdicts import Judged
from schemas.ontology import (
    CANONICAL,
    HELD,
    KEEP_SEPARATE,
    MERGE,
    ONTOLOGY_SCHEMA_VERSION,
    REVIEW_COLUMNS,
    UNVERIFIED,
    categories_schema,
    parts_schema,
)


@dataclass(frozen=True)
class OntologyOutputs:
    """Everything the pipeline writes under ``OUT/ontology``.

    Attributes:
        categories: ``categories.parquet`` rows (``categories_schema``).
        parts: ``parts.parquet`` rows (``parts_schema``).
        alias_log: ``alias_log.jsonl`` records (``ALIAS_LOG_SCHEMA`` fields).
        review: ``review.csv`` rows (``REVIEW_COLUMNS``), most impactful first: by the
            occurrences the pair's names count together, then similarity, then names; one
            unverified pair per pair of groups.
    """

    categories: pa.Table
    parts: pa.Table
    alias_log: list[dict[str, Any]]
    review: pl.DataFrame

    def alias_log_text(self) -> str:
        """The alias log as JSON lines (no trailing newline)."""
        return "\n".join(json.dumps(record, ensure_ascii=False) for record in self.alias_log)

    def review_csv_text(self) -> str:
        """The review queue as CSV with header (no trailing newline)."""
        return self.review.write_csv().rstrip("\n")

    def counts(self) -> dict[str, int]:
        """Canonical categories and parts, merges, rejected, undecided and held pairs."""
        decisions = Counter(record["decision"] for record in self.alias_log)
        return {
            "categories": self.categories.num_rows,
            "parts": self.parts.num_rows,
            "merges": decisions[MERGE],
            "rejections": decisions[KEEP_SEPARATE],
            "unverified": decisions[UNVERIFIED],
            "held": decisions[HELD],
            "review_items": self.review.height,
        }


def build_outputs(
    categories: ResolvedScope,
    part_scopes: Sequence[ResolvedScope],
    embedder: EmbedderSpec,
    at: str,
) -> OntologyOutputs:
    """Number the canonical entries and lay out every output.

    ``at`` (ISO 8601 UTC) stamps the log records that no verdict stamped.
    """
    scopes = sorted(part_scopes, key=lambda scope: scope.scope)
    embedding_dim = embedder.dimensions
    schema_args = (embedding_dim, embedder.kind, embedder.label)
    category_uid = {group.name: uid for uid, group in enumerate(categories.groups)}
    parts_per_category = Counter(scope.scope for scope in scopes for _ in scope.groups)
    part_groups = [(scope.scope, group) for scope in scopes for group in scope.groups]

    category_table = pa.table(
        {
            "category_uid": range(len(categories.groups)),
            **_group_columns(categories.groups, embedding_dim),
            "num_parts": [parts_per_category[g.name] for g in categories.groups],
            "schema_version": [ONTOLOGY_SCHEMA_VERSION] * len(categories.groups),
        },
        schema=categories_schema(*schema_args),
    )
    part_columns = _group_columns([group for _, group in part_groups], embedding_dim)
    part_table = pa.table(
        {
            "part_uid": range(len(part_groups)),
            "category_uid": [category_uid[category] for category, _ in part_groups],
            "category": [category for category, _ in part_groups],
            **part_columns,
            "paths": [group.paths for _, group in part_groups],
            "schema_version": [ONTOLOGY_SCHEMA_VERSION] * len(part_groups),
        },
        schema=parts_schema(*schema_args),
    )

    log = _scope_records(
        categories, None, {name: (uid, None) for name, uid in category_uid.items()}, at
    )
    part_uid = {(category, group.name): uid for uid, (category, group) in enumerate(part_groups)}
    for scope in scopes:
        uids = {
            group.name: (category_uid[scope.scope], part_uid[scope.scope, group.name])
            for group in scope.groups
        }
        log.extend(_scope_records(scope, scope.scope, uids, at))

    review = pl.DataFrame(
        [
            _review_row(scope, judged, UNVERIFIED, judged.verdict.rationale)
            for scope in [categories, *scopes]
            for judged in _one_per_group_pair(scope)
        ]
        + [
            _review_row(scope, held.judged, held.reason, held.detail)
            for scope in [categories, *scopes]
            for held in scope.held
        ],
        schema={column: pl.String for column in REVIEW_COLUMNS}
        | {"similarity": pl.Float64, _IMPACT: pl.Int64},
        orient="row",
    )
    review = review.sort(
        _IMPACT,
        "similarity",
        "kind",
        "category",
        "name_a",
        "name_b",
        descending=[True, True, False, False, False, False],
    ).drop(_IMPACT)
    return OntologyOutputs(category_table, part_table, log, review)


def _one_per_group_pair(scope: ResolvedScope) -> list[Judged]:
    """The scope's unverified pairs, the strongest one per pair of groups.

    ``leg_01``/``top_leg`` and ``leg_02``/``top_leg`` ask one question once the
    instances are one group; the alias log keeps every pair.
    """
    group_of = scope.canonical_of()
    seen: set[frozenset[str]] = set()
    kept = []
    for judged in scope.judged:  # strongest first
        if judged.verdict.decision != UNVERIFIED:
            continue
        groups = frozenset(group_of[name] for name in judged.candidate.names)
        if groups not in seen:
            seen.add(groups)
            kept.append(judged)
    return kept


def _group_columns(groups: Sequence[CanonicalGroup], embedding_dim: int) -> dict[str, Any]:
    """Columns shared by the category and part tables."""
    vectors = np.stack([g.embedding for g in groups]) if groups else np.zeros((0, embedding_dim))
    return {
        "name": [g.name for g in groups],
        "description": [g.representative.description for g in groups],
        "description_source": [g.representative.description_source for g in groups],
        "embedding": pa.FixedSizeListArray.from_arrays(
            pa.array(vectors.astype(np.float32).ravel()), embedding_dim
        ),
        "aliases": [[m.name for m in g.members] for g in groups],
        "datasets": [g.datasets for g in groups],
        "count": [g.count for g in groups],
    }


def _scope_records(
    scope: ResolvedScope, category: str | None, uids: dict[str, tuple[int, int | None]], at: str
) -> list[dict[str, Any]]:
    """Alias log records of one scope: resolutions, then rejected/undecided/held pairs."""
    records = []
    for group in scope.groups:
        category_uid, part_uid = uids[group.name]
        for member in group.members:
            link = group.links.get(member.name)
            via = None
            if link is not None:
                other = next(n for n in link.candidate.names if n != member.name)
                via = other if other != group.representative.name else None
            records.append(
                _record(
                    scope.kind,
                    category,
                    member,
                    group.name,
                    MERGE if link else CANONICAL,
                    link,
                    at,
                    via=via,
                    category_uid=category_uid,
                    part_uid=part_uid,
                )
            )
    for judged in scope.judged:
        if judged.verdict.decision in (KEEP_SEPARATE, UNVERIFIED):
            records.append(_pair_record(scope, category, judged, judged.verdict.decision, at))
    for held in scope.held:
        records.append(_pair_record(scope, category, held.judged, HELD, at, held))
    return records


def _pair_record(
    scope: ResolvedScope,
    category: str | None,
    judged: Judged,
    decision: str,
    at: str,
    held: Held | None = None,
) -> dict[str, Any]:
    a, b = judged.candidate.a, judged.candidate.b
    record = _record(scope.kind, category, a, b.name, decision, judged, at)
    if held is not None:
        record["rationale"] = f"{held.reason}: {held.detail} (verdict: {judged.verdict.rationale})"
    return record


def _record(
    kind: str,
    category: str | None,
    alias: Entity,
    canonical: str,
    decision: str,
    judged: Judged | None,
    at: str,
    *,
    via: str | None = None,
    category_uid: int | None = None,
    part_uid: int | None = None,
) -> dict[str, Any]:
    verdict = judged.verdict if judged else None
    record = {
        "schema_version": ONTOLOGY_SCHEMA_VERSION,
        "kind": kind,
        "category": category,
        "alias": alias.name,
        "canonical": canonical,
        "key": alias.key,
        "decision": decision,
        "similarity": round(judged.candidate.similarity, 4) if judged else None,
        "verifier": verdict.verifier if verdict else None,
        "rationale": verdict.rationale if verdict else "",
        "model": verdict.model if verdict else None,
        "prompt_sha256": verdict.prompt_sha256 if verdict else None,
        "via": via,
        "category_uid": category_uid,
        "part_uid": part_uid,
        "datasets": list(alias.datasets),
        "at": verdict.at if verdict else at,
    }
    return record


#: Occurrences a review decision touches (both names' counts): the queue's first key.
_IMPACT = "impact"


def _review_row(scope: ResolvedScope, judged: Judged, reason: str, detail: str) -> tuple:
    return (
        scope.kind,
        scope.scope,
        *judged.candidate.names,
        round(judged.candidate.similarity, 4),
        reason,
        judged.verdict.verifier,
        detail,
        "",
        "",
        "",
        judged.candidate.a.count + judged.candidate.b.count,
    )
