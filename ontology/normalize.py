"""Spelling normalization of category and part names.

Names from different datasets spell the same thing differently: ``StorageFurniture``
and ``storage_furniture``, ``Arm Rest`` and ``armrest``, ``bed_headboard`` (in bed) and
``headboard``, ``leg_2`` and ``leg``. The functions here reduce a name to

* its *tokens*: lowercase words, camelCase split, separators (``_ - . / space``) removed,
  a trailing instance number dropped (``leg_2``, ``leg.001``, ``leg2`` -> ``leg``) where
  it is one: category names keep their numbers (``object007``, ``ps5``), part names keep
  them unless their label list shows instances (``ontology.entities``);
* its *canonical spelling*: the tokens joined by ``_`` (what the ontology prints);
* its *match key*: the tokens with a category prefix removed, each token singular, and
  joined without separators, so ``arm_rest``/``armrest`` and ``legs``/``leg`` meet.

Two names with the same match key in the same category are the same name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ontology.lexicon import OPPOSITES

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^0-9a-z]+")
_TRAILING_NUMBER = re.compile(r"(?<=[a-z])\d+$")

#: Sets of qualifiers that name opposite positions, orientations, times...: two names that
#: use different members of one set denote different parts (``front_bumper``/``rear_bumper``).
OPPOSITE_QUALIFIERS = OPPOSITES


def name_tokens(name: str, strip_number: bool = True) -> tuple[str, ...]:
    """Lowercase words of ``name`` without separators or a trailing instance number.

    ``"StorageFurniture"`` -> ``("storage", "furniture")``; ``"leg_2"`` -> ``("leg",)``.
    A name that is only a number keeps it. With ``strip_number=False`` a trailing number
    stays (``"object007"`` -> ``("object007",)``, ``"model 3"`` -> ``("model", "3")``):
    for names whose number names the thing rather than an instance of it.
    """
    words = _SEPARATORS.split(_CAMEL_BOUNDARY.sub(" ", name.strip()).lower())
    tokens = [word for word in words if word]
    if not strip_number:
        return tuple(tokens)
    while len(tokens) > 1 and tokens[-1].isdigit():
        tokens.pop()
    if tokens:
        tokens[-1] = _TRAILING_NUMBER.sub("", tokens[-1])
    return tuple(tokens)


def instance_stem(name: str) -> str | None:
    """The name without its trailing number (``leg_01`` -> ``leg``), or None if it has none."""
    tokens = name_tokens(name, strip_number=False)
    stripped = name_tokens(name)
    return None if tokens == stripped else "_".join(stripped)


def canonical_spelling(name: str, strip_number: bool = True) -> str:
    """The snake_case spelling the ontology prints for ``name``."""
    return "_".join(name_tokens(name, strip_number))


def singular(word: str) -> str:
    """A crude singular for matching only (``legs`` -> ``leg``, ``glass`` stays)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def match_key(tokens: Sequence[str]) -> str:
    """The separator-free, singular form under which spellings of one name meet."""
    return "".join(singular(token) for token in tokens)


def category_key(name: str) -> str:
    """Match key of a category name (a trailing number is part of a category's name)."""
    return match_key(name_tokens(name, strip_number=False))


def category_prefixes(category_names: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    """Token prefixes that may start a part name of a category, longest first.

    For ``bbq_grill`` these are ``("bbq", "grill")`` and ``("bbq",)``; plural category
    names also give their singular (``sinks`` -> ``sink``).
    """
    prefixes: set[tuple[str, ...]] = set()
    for name in category_names:
        tokens = name_tokens(name, strip_number=False)
        for variant in (tokens, (*tokens[:-1], singular(tokens[-1])) if tokens else ()):
            prefixes.update(variant[:end] for end in range(1, len(variant) + 1))
    return tuple(sorted(prefixes, key=lambda prefix: (-len(prefix), prefix)))


def strip_category_prefix(
    tokens: Sequence[str], prefixes: Sequence[tuple[str, ...]]
) -> tuple[str, ...]:
    """``tokens`` without the longest category prefix they start with (never all of them)."""
    for prefix in prefixes:
        if len(tokens) > len(prefix) and tuple(tokens[: len(prefix)]) == prefix:
            return tuple(tokens[len(prefix) :])
    return tuple(tokens)


def part_tokens(
    name: str, prefixes: Sequence[tuple[str, ...]], strip_number: bool = True
) -> tuple[str, ...]:
    """Tokens of a part name without its category prefix (``bed_headboard`` -> ``headboard``)."""
    return strip_category_prefix(name_tokens(name, strip_number), prefixes)


def opposite_qualifiers(tokens_a: Sequence[str], tokens_b: Sequence[str]) -> tuple[str, str] | None:
    """The first pair of opposite qualifiers the two names use, e.g. ``("front", "rear")``.

    None when the names do not use different members of one qualifier set.
    """
    for qualifiers in OPPOSITE_QUALIFIERS:
        used_a = qualifiers.intersection(tokens_a)
        used_b = qualifiers.intersection(tokens_b)
        if used_a and used_b and used_a != used_b:
            return min(used_a - used_b or used_a), min(used_b - used_a or used_b)
    return None
