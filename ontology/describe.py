"""Descriptions of what a category or part is and what it is for.

* ``gemini``: one affordance sentence per name (a chair seat is "the horizontal surface
  where a person sits"), many names per request, cached per name by prompt hash;
* ``template``: offline, from the name and its hierarchy path ("the glass of the door
  of a microwave").

A name Gemini does not answer for (failed requests, exhausted budget) gets the
template description, marked ``description_source="template"``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pydantic

from ontology.cache import JsonCache
from ontology.entities import CATEGORY, Entity
from ontology.gemini import GEMINI, BatchAsker, CallBudget, GeminiSettings, LlmItem
from ontology.normalize import name_tokens

log = logging.getLogger(__name__)

TEMPLATE = "template"
#: Hierarchy paths / parents shown per name.
_MAX_CONTEXT = 3

INSTRUCTIONS = """\
You write the affordance descriptions of a 3D part ontology. For every numbered item \
below, write one sentence (at most 25 words) saying what the object category or part \
is and what it is for or how a person uses it, including where the part sits on the \
object when that distinguishes it; for example a chair seat is "the horizontal \
surface where a person sits". Use the hierarchy path for context. Answer in JSON: \
{"descriptions": [{"id": <item number>, "description": "<sentence>"}]}, one entry \
per item."""


class _ItemDescription(pydantic.BaseModel):
    id: int
    description: str


class _Descriptions(pydantic.BaseModel):
    descriptions: list[_ItemDescription]


def template_description(entity: Entity) -> str:
    """A description made from the name and its hierarchy, without a model."""
    if entity.kind == CATEGORY:
        return f"a {entity.words}, a kind of object"
    parents = entity.parents()[:_MAX_CONTEXT]
    within = f" of the {' or '.join(parents)}" if parents else ""
    return f"the {entity.words}{within} of a {' '.join(name_tokens(entity.scope))}"


class TemplateDescriber:
    """Offline descriptions (uses no LLM calls)."""

    def describe(self, entities: Sequence[Entity], budget: CallBudget) -> list[Entity]:
        return [_with_template(entity) for entity in entities]


class GeminiDescriber:
    """Descriptions by Gemini, cached under ``cache_dir/descriptions``."""

    def __init__(self, settings: GeminiSettings, cache_dir: str) -> None:
        self._asker = BatchAsker(
            settings,
            JsonCache(f"{cache_dir}/descriptions"),
            INSTRUCTIONS,
            _Descriptions,
            _descriptions_by_number,
        )

    def describe(self, entities: Sequence[Entity], budget: CallBudget) -> list[Entity]:
        answers = self._asker.ask([_item(entity) for entity in entities], budget)
        failures = [answer.failure for answer in answers if answer.value is None]
        if failures:
            log.warning(
                "%d of %d descriptions fall back to the template: %s",
                len(failures),
                len(answers),
                failures[0],
            )
        return [
            replace(entity, description=answer.value["description"], description_source=GEMINI)
            if answer.value is not None
            else _with_template(entity)
            for entity, answer in zip(entities, answers, strict=True)
        ]


def _with_template(entity: Entity) -> Entity:
    return replace(entity, description=template_description(entity), description_source=TEMPLATE)


def _item(entity: Entity) -> LlmItem:
    if entity.kind == CATEGORY:
        text = f'object category "{entity.words}" (datasets: {", ".join(entity.datasets)})'
    else:
        paths = "; ".join(entity.paths[:_MAX_CONTEXT])
        category = " ".join(name_tokens(entity.scope))
        text = f'part "{entity.words}" of a {category} (hierarchy: {paths})'
    return LlmItem((entity.kind, entity.scope, entity.name), text)


def _descriptions_by_number(reply: _Descriptions) -> dict[int, dict[str, Any]]:
    return {
        item.id: {"description": item.description.strip()}
        for item in reply.descriptions
        if item.description.strip()
    }
