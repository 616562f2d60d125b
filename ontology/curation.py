"""Gemini judges web assets by their thumbnail and metadata (the curate pipeline's LLM step).

Each asset is one numbered item: its metadata as one line of JSON, followed by its
thumbnail as an inline image part (``ontology.gemini.BatchAsker``: batches, retries, the
call budget). The reply follows ``_AssetJudgements``: per item keep or reject, whether it
is one single object, a category guess (one of the given categories, or ``none``), a
quality from 1 to 5 and a one-line reason. Answers are cached by (thumbnail SHA-256,
metadata SHA-256, prompt SHA-256, model): an unchanged asset is never asked about twice.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pydantic
from PIL import Image

from ontology.cache import JsonCache
from ontology.gemini import BatchAsker, CallBudget, GeminiSettings, LlmItem
from schemas.common import one_line

log = logging.getLogger(__name__)

#: Items per request by default: a thumbnail of at most ``THUMBNAIL_PIXELS`` per side is
#: a few hundred input tokens, so eight assets make a small request.
DEFAULT_BATCH_SIZE = 8
#: Thumbnails larger than this many pixels per side are scaled down before sending.
THUMBNAIL_PIXELS = 512
#: Least quality (1-5) of an asset Gemini keeps, by default.
DEFAULT_MIN_QUALITY = 3
NO_CATEGORY = "none"

INSTRUCTIONS = """\
You preselect 3D models from a web collection for a dataset of single, well-made objects \
with meaningful parts and good textures. Every numbered item below is one model: its \
metadata as JSON, followed by its thumbnail image when it has one. For each item decide: \
keep (true for one complete, clean, textured object worth featurizing; false for scenes, \
rooms, terrains, scans with holes or noise, broken or placeholder models, text or 2D art), \
single_object (true when the model shows one object, not a collection or a scene), \
category (the object's category{categories_rule}), quality (1 = unusable to 5 = excellent \
geometry and texture) and reason (one short sentence). Answer in JSON: {{"judgements": \
[{{"id": <item number>, "keep": ..., "single_object": ..., "category": ..., "quality": ..., \
"reason": ...}}]}}, one entry per item."""


class _AssetJudgement(pydantic.BaseModel):
    id: int
    keep: bool
    single_object: bool
    category: str
    quality: int
    reason: str


class _AssetJudgements(pydantic.BaseModel):
    judgements: list[_AssetJudgement]


@dataclass(frozen=True)
class Thumbnail:
    """An image as sent: bytes, their MIME type, and the SHA-256 of the original file."""

    data: bytes
    mime_type: str
    sha256: str


@dataclass(frozen=True)
class AssetToJudge:
    """One asset's question: metadata (``ListingRow.metadata()``), its hash, a thumbnail."""

    metadata: dict[str, Any]
    metadata_sha256: str
    thumbnail: Thumbnail | None


@dataclass(frozen=True)
class Judgement:
    """Gemini's answer about one asset, or why there is none.

    Attributes:
        keep, single_object, quality, reason: the answer (None when there is none).
        category: the guess, "" for ``none`` or a guess outside the given categories.
        failure: why there is no answer (None when there is one).
        note: a remark on the answer (a guess outside the categories), "" when none.
        prompt_sha256, at: as in ``ontology.gemini.LlmAnswer``.
    """

    keep: bool | None
    single_object: bool | None
    category: str
    quality: int | None
    reason: str
    failure: str | None
    note: str
    prompt_sha256: str
    at: str

    @classmethod
    def unanswered(cls, failure: str, prompt_sha256: str = "", at: str = "") -> Judgement:
        """No answer, and why."""
        return cls(None, None, "", None, "", failure, "", prompt_sha256, at)


def prepare_thumbnail(data: bytes, sha256: str) -> Thumbnail:
    """The image to send: as it is when PNG/JPEG/WebP at most ``THUMBNAIL_PIXELS`` per side,
    else scaled down (aspect kept) and encoded as PNG.

    Raises:
        ValueError: PIL cannot read the image (one line).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            kind = image.format
            if kind in ("PNG", "JPEG", "WEBP") and max(image.size) <= THUMBNAIL_PIXELS:
                return Thumbnail(data, f"image/{kind.lower()}", sha256)
            small = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            small.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"unreadable image ({one_line(error)})") from error
    out = io.BytesIO()
    small.save(out, format="PNG")
    return Thumbnail(out.getvalue(), "image/png", sha256)


def instructions(categories: Sequence[str]) -> str:
    """The judging instructions; with categories, a ``Categories:`` line lists them."""
    if not categories:
        return INSTRUCTIONS.format(categories_rule=", one or two lowercase words")
    rule = f", one of the categories listed below, or {NO_CATEGORY} when none fits"
    return f"{INSTRUCTIONS.format(categories_rule=rule)}\nCategories: {', '.join(categories)}"


class GeminiJudge:
    """Judgements by Gemini, cached under ``cache_dir/judgements``."""

    def __init__(self, settings: GeminiSettings, cache_dir: str, categories: Sequence[str]):
        self._categories = frozenset(categories)
        self._asker = BatchAsker(
            settings,
            JsonCache(f"{cache_dir}/judgements"),
            instructions(categories),
            _AssetJudgements,
            _judgements_by_number,
        )

    def judge(self, assets: Sequence[AssetToJudge], budget: CallBudget) -> list[Judgement]:
        """One judgement per asset, in order (batched; cached answers cost no call)."""
        answers = self._asker.ask([_item(asset) for asset in assets], budget)
        judgements = []
        for answer in answers:
            if answer.value is None:
                judgements.append(
                    Judgement.unanswered(answer.failure, answer.prompt_sha256, answer.at)
                )
                continue
            value = answer.value
            category, note = self._category(value["category"])
            judgements.append(
                Judgement(
                    value["keep"],
                    value["single_object"],
                    category,
                    value["quality"],
                    value["reason"],
                    None,
                    note,
                    answer.prompt_sha256,
                    answer.at,
                )
            )
        return judgements

    def _category(self, guess: str) -> tuple[str, str]:
        guess = "_".join(guess.lower().split())
        if guess in ("", NO_CATEGORY):
            return "", ""
        if self._categories and guess not in self._categories:
            return "", f"gemini guessed category {guess!r}, which is not among the categories"
        return guess, ""


def _item(asset: AssetToJudge) -> LlmItem:
    thumbnail = asset.thumbnail
    seen = "thumbnail attached" if thumbnail else "no thumbnail"
    text = f"{json.dumps(asset.metadata, ensure_ascii=False, sort_keys=True)} ({seen})"
    identity = (thumbnail.sha256 if thumbnail else "", asset.metadata_sha256)
    if thumbnail is None:
        return LlmItem(identity, text)
    return LlmItem(identity, text, thumbnail.data, thumbnail.mime_type)


def _judgements_by_number(reply: _AssetJudgements) -> dict[int, dict[str, Any]]:
    return {
        item.id: {
            "keep": item.keep,
            "single_object": item.single_object,
            "category": item.category.strip(),
            "quality": min(5, max(1, item.quality)),
            "reason": " ".join(item.reason.split()),
        }
        for item in reply.judgements
    }
