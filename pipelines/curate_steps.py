"""The curate pipeline's two steps, as plain functions its Beam graph maps over.

1. ``check_asset`` (per listing row, in parallel): hash the model file, thumbnail and
   metadata; unless a previous run checked the same content under the same limits, read
   the mesh and run the cheap checks (``featurizers.curation``).
2. ``decide`` (all rows at once, in listing order): mark exact duplicates (same model file
   bytes as an earlier row), let Gemini judge what survives (``ontology.curation``), and
   build the selection table, ``selected.csv`` and the run's counts.

Every listing row gets one selection row; a rejected row has at least one reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from featurizers.curation import (
    ASSET_CODES,
    DUPLICATE,
    GEMINI,
    REASON_CODES,
    UNREADABLE,
    CheckLimits,
    MeshStats,
    check_reasons,
    license_key,
    mesh_stats,
    reason,
    reason_code,
)
from featurizers.listing import ListingRow
from ontology.cache import cache_key
from ontology.curation import AssetToJudge, GeminiJudge, Judgement, prepare_thumbnail
from ontology.gemini import CallBudget, GeminiSettings, MissingApiKeyError
from pipelines.sources import files
from pipelines.sources.base import SourceError, check_file, read_file
from pipelines.sources.meshes import load_mesh_file
from pipelines.sources.meshfile import mesh_input_files
from schemas.common import one_line
from schemas.curation import SELECTION_SCHEMA

log = logging.getLogger(__name__)

KEEP, REJECT = "keep", "reject"
#: Changes whenever what a ``row_key`` covers changes, so old keys never match new ones.
FORMAT_TAG = "partbank-curate-v1"
#: Assets whose thumbnails are read and judged together (bounds the memory they take).
JUDGE_CHUNK = 512
MESH, THUMBNAIL = "mesh", "thumbnail"

_STATS = ("triangles", "textured_share", "components", "objects", "bbox_aspect")


@dataclass(frozen=True)
class AssetCheck:
    """One listing row after the cheap checks.

    Attributes:
        listing: the row.
        model_sha256, thumbnail_sha256, metadata_sha256: content hashes (``model_hash``,
            the thumbnail's bytes, ``ListingRow.metadata_sha256``; "" when unreadable or
            absent).
        row_key: hash of the three and the check limits: equal keys, equal check results.
        stats: the mesh statistics, None when the mesh could not be read.
        reasons: failed checks (``ASSET_CODES``).
        notes: ``"mesh: ..."``/``"thumbnail: ..."`` remarks that reject nothing.
        reused: the results are a previous run's (same ``row_key``).
    """

    listing: ListingRow
    model_sha256: str
    thumbnail_sha256: str
    metadata_sha256: str
    row_key: str
    stats: MeshStats | None
    reasons: tuple[str, ...]
    notes: tuple[str, ...]
    reused: bool


@dataclass(frozen=True)
class JudgeSetup:
    """How ``decide`` asks Gemini (None: the checks decide). Safe to pickle: no client."""

    settings: GeminiSettings
    cache_dir: str
    categories: tuple[str, ...]
    min_quality: int
    max_calls: int | None


@dataclass(frozen=True)
class Selection:
    """``decide``'s outputs: the selection table, ``selected.csv`` text, counts."""

    table: pa.Table
    selected_csv: str
    counts: dict[str, int]


def limits_key(limits: CheckLimits) -> str:
    """The check limits as canonical JSON (part of every ``row_key``)."""
    return json.dumps(asdict(limits), sort_keys=True)


def check_asset(
    row: ListingRow, limits: CheckLimits, limits_json: str, previous: Mapping[str, dict]
) -> AssetCheck:
    """Hash a row's files and run the cheap checks (or reuse ``previous[row_key]``)."""
    notes: list[str] = []
    model_sha256, unreadable = model_hash(row.path)
    thumbnail_sha256, problem = thumbnail_hash(row.thumbnail)
    if problem:
        notes.append(reason(THUMBNAIL, problem))
    metadata_sha256 = row.metadata_sha256()
    key = cache_key(FORMAT_TAG, model_sha256, thumbnail_sha256, metadata_sha256, limits_json)
    hashes = (model_sha256, thumbnail_sha256, metadata_sha256, key)
    if unreadable:
        return AssetCheck(row, *hashes, None, (unreadable,), tuple(notes), False)
    if key in previous:
        done = previous[key]
        stats = (
            MeshStats(*(done[name] for name in _STATS)) if done["triangles"] is not None else None
        )
        notes.extend(done["notes"])
        return AssetCheck(row, *hashes, stats, done["reasons"], tuple(notes), True)
    reasons, stats = _mesh_reasons(row, limits, notes)
    return AssetCheck(row, *hashes, stats, tuple(reasons), tuple(notes), False)


def model_hash(path: str) -> tuple[str, str]:
    """(SHA-256 of a model file's bytes and of its side files', "") or ("", the reason it
    cannot be read).

    The hash covers the model file's bytes and, in ``mesh_input_files`` order, each side
    file's name relative to the model's folder and its bytes: copies of an asset under
    other names, or in other folders with the same side files, hash alike.
    """
    digests = files.FileDigests()
    paths = mesh_input_files(path, digests)
    if not digests.digest(path).startswith("sha256:"):
        try:
            check_file(path)
        except SourceError as error:
            return "", reason(UNREADABLE, one_line(error))
        return "", reason(UNREADABLE, f"{path}: unreadable")
    folder = files.parent(path)
    fields = [
        ("" if side == path else files.relative_to(side, folder), digests.digest(side))
        for side in paths
    ]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest(), ""


def thumbnail_hash(location: str) -> tuple[str, str]:
    """(SHA-256 of the thumbnail's bytes or "", why it could not be read or "")."""
    if not location:
        return "", ""
    if location.lower().startswith(("http://", "https://")):
        return "", f"{location}: web URLs are not fetched; judged without a thumbnail"
    try:
        return hashlib.sha256(read_file(location)).hexdigest(), ""
    except SourceError as error:
        return "", f"{one_line(error)}; judged without a thumbnail"


def _mesh_reasons(
    row: ListingRow, limits: CheckLimits, notes: list[str]
) -> tuple[list[str], MeshStats | None]:
    try:
        mesh_file = load_mesh_file(row.path)
    except SourceError as error:
        return [reason(UNREADABLE, one_line(error))], None
    notes.extend(reason(MESH, warning) for warning in mesh_file.warnings)
    meshes = [piece.mesh for piece in mesh_file.meshes]
    if not any(len(mesh.faces) for mesh in meshes):
        return [reason(UNREADABLE, f"{row.path}: no triangles")], None
    if not all(np.isfinite(mesh.vertices).all() for mesh in meshes):
        return [reason(UNREADABLE, f"{row.path}: non-finite vertex coordinates")], None
    stats = mesh_stats(meshes, limits)
    return check_reasons(stats, row.license, limits), stats


def decide(checks: Sequence[AssetCheck], judge: JudgeSetup | None) -> Selection:
    """The selection over all checked rows (any order in, listing order out)."""
    checks = sorted(checks, key=lambda check: check.listing.row)
    reasons = {check.listing.row: list(check.reasons) for check in checks}
    duplicate_of: dict[int, str] = {}
    first: dict[str, str] = {}
    for check in checks:
        digest = check.model_sha256
        if digest and digest in first:
            duplicate_of[check.listing.row] = first[digest]
            reasons[check.listing.row].append(
                reason(DUPLICATE, f"same model file bytes as {first[digest]!r}")
            )
        elif digest:
            first[digest] = check.listing.id
    survivors = [check for check in checks if not reasons[check.listing.row]]
    judgements: dict[int, Judgement] = {}
    budget = CallBudget(judge.max_calls if judge else None)
    if judge is not None and survivors:
        judgements = _judge(survivors, judge, budget)
    rows = []
    for check in checks:
        number = check.listing.row
        notes = list(check.notes)
        judgement = judgements.get(number)
        decided_by = "checks"
        if judgement is not None and judgement.failure is None:
            decided_by = GEMINI
            reasons[number] += _gemini_reasons(judgement, judge.min_quality)
            if judgement.note:
                notes.append(reason(GEMINI, judgement.note))
        elif judgement is not None:
            notes.append(reason(GEMINI, f"no answer ({judgement.failure}); the checks decided"))
        rows.append(_row(check, reasons[number], notes, decided_by, judgement, duplicate_of))
    table = pa.Table.from_pylist(rows, schema=SELECTION_SCHEMA)
    return Selection(table, selected_csv(rows), _counts(rows, budget))


def _judge(
    survivors: Sequence[AssetCheck], judge: JudgeSetup, budget: CallBudget
) -> dict[int, Judgement]:
    try:
        gemini = GeminiJudge(judge.settings, judge.cache_dir, judge.categories)
    except MissingApiKeyError:  # a worker without the launcher's environment
        failure = Judgement.unanswered("no Gemini API key on the worker")
        return {check.listing.row: failure for check in survivors}
    judgements: dict[int, Judgement] = {}
    for start in range(0, len(survivors), JUDGE_CHUNK):
        chunk = survivors[start : start + JUDGE_CHUNK]
        assets = [
            AssetToJudge(check.listing.metadata(), check.metadata_sha256, _thumbnail(check))
            for check in chunk
        ]
        for check, judgement in zip(chunk, gemini.judge(assets, budget), strict=True):
            judgements[check.listing.row] = judgement
    return judgements


def _thumbnail(check: AssetCheck):
    """The thumbnail to send, or None (none given, or it cannot be read or decoded)."""
    if not check.thumbnail_sha256:
        return None
    try:
        return prepare_thumbnail(read_file(check.listing.thumbnail), check.thumbnail_sha256)
    except (SourceError, ValueError) as error:
        log.warning("%s: %s; judged without it", check.listing.thumbnail, one_line(error))
        return None


def _gemini_reasons(judgement: Judgement, min_quality: int) -> list[str]:
    found = []
    if not judgement.keep:
        found.append(reason(GEMINI, f"rejected: {judgement.reason}"))
    if not judgement.single_object:
        found.append(reason(GEMINI, "not a single object"))
    if judgement.quality < min_quality:
        found.append(reason(GEMINI, f"quality {judgement.quality} below {min_quality}"))
    return found


def _row(
    check: AssetCheck,
    reasons: list[str],
    notes: list[str],
    decided_by: str,
    judgement: Judgement | None,
    duplicate_of: Mapping[int, str],
) -> dict[str, Any]:
    listing = check.listing
    answered = judgement if judgement is not None and judgement.failure is None else None
    guess = answered.category if answered else ""
    stats = asdict(check.stats) if check.stats else dict.fromkeys(_STATS)
    return {
        "row": listing.row,
        "id": listing.id,
        "path": listing.path,
        "thumbnail": listing.thumbnail,
        "decision": REJECT if reasons else KEEP,
        "decided_by": decided_by,
        "reasons": reasons,
        "notes": notes,
        "category": listing.category or guess,
        "listing_category": listing.category,
        "license": license_key(listing.license),
        "model_sha256": check.model_sha256,
        "thumbnail_sha256": check.thumbnail_sha256,
        "metadata_sha256": check.metadata_sha256,
        "row_key": check.row_key,
        "reused": check.reused,
        **stats,
        "duplicate_of": duplicate_of.get(listing.row, ""),
        "gemini_keep": answered.keep if answered else None,
        "gemini_single_object": answered.single_object if answered else None,
        "gemini_category": guess,
        "gemini_quality": answered.quality if answered else None,
        "gemini_reason": answered.reason if answered else "",
        "gemini_prompt_sha256": judgement.prompt_sha256 if judgement else "",
    }


def selected_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """``path,category`` of the kept rows in listing order (the glb source's CSV list)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", "category"])
    writer.writerows((row["path"], row["category"]) for row in rows if row["decision"] == KEEP)
    return out.getvalue().rstrip("\n")


def _counts(rows: Sequence[Mapping[str, Any]], budget: CallBudget) -> dict[str, int]:
    codes = Counter(
        code for row in rows for code in dict.fromkeys(reason_code(r) for r in row["reasons"])
    )
    counts = {
        "listed": len(rows),
        "kept": sum(row["decision"] == KEEP for row in rows),
        "rejected": sum(row["decision"] == REJECT for row in rows),
        "reused": sum(row["reused"] for row in rows),
        "judged_by_gemini": sum(row["decided_by"] == GEMINI for row in rows),
        "llm_calls": budget.used,
    }
    counts.update({f"rejected_{code}": codes[code] for code in REASON_CODES})
    return counts


def previous_checks(table: pa.Table) -> dict[str, dict[str, Any]]:
    """A previous selection table's check results by ``row_key`` (reasons and notes of the
    asset alone: not duplicates, not Gemini's)."""
    found = {}
    for row in table.select(["row_key", "reasons", "notes", *_STATS]).to_pylist():
        found[row["row_key"]] = {
            **{name: row[name] for name in _STATS},
            "reasons": tuple(r for r in row["reasons"] if reason_code(r) in ASSET_CODES),
            "notes": tuple(n for n in row["notes"] if reason_code(n) == MESH),
        }
    return found
