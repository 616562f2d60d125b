"""A small lexicon of general part-vocabulary words the rules reason with.

Every entry names general English word relations that hold across datasets, never a
pair of dataset labels:

* ``EQUIVALENT_WORDS``: words that name the same thing as a part or object word (the
  first of each group stands for the others): a chair's *back* is its *backrest*, a
  *post* is a *pole*, a *trash* can is a *garbage* can, a waste *can* is a *bin*, a
  *light* is a *lamp*.
* ``UNINFORMATIVE_MODIFIERS``: words that say a part is taken whole or in one piece
  (``holistic``, ``single``, ``whole``, ``main``); they never tell two parts apart.
* ``QUALIFIER_CLASSES``: qualifiers by class (position, orientation, time, size,
  shape); two names using different members of one set of ``OPPOSITES`` name different
  parts (``front``/``rear``, ``horizontal``/``vertical``, ``hour``/``minute``,
  ``head``/``foot``).
"""

from __future__ import annotations

#: Groups of words naming the same part or object; the first word stands for the group.
EQUIVALENT_WORDS: tuple[tuple[str, ...], ...] = (
    ("back", "backrest"),  # the back of a seat is its backrest
    ("arm", "armrest"),  # the arm of a seat is its armrest
    ("head", "headrest"),  # the head of a seat is its headrest
    ("pole", "post"),  # an upright rod
    ("garbage", "trash", "rubbish", "waste"),
    ("bin", "can"),  # a waste can is a bin
    ("lamp", "light"),  # a light (fixture) is a lamp
    ("cord", "cable"),  # a power cord
)

#: Modifiers that say a part is taken whole or as one piece; dropped before comparing.
UNINFORMATIVE_MODIFIERS = frozenset({"holistic", "single", "whole", "main", "entire"})

#: Qualifier classes, each a tuple of sets of mutually exclusive qualifiers.
QUALIFIER_CLASSES: dict[str, tuple[frozenset[str], ...]] = {
    "position": tuple(
        frozenset(words.split())
        for words in (
            "front rear back",
            "left right",
            "top bottom",
            "upper lower",
            "inner outer",
            "inside outside",
            "interior exterior",
            "head foot",
            "side middle",
        )
    ),
    "orientation": (frozenset({"horizontal", "vertical"}),),
    "time": (frozenset({"hour", "minute", "second"}),),
    "size": (frozenset({"long", "short"}), frozenset({"small", "large"})),
    "shape": (frozenset({"straight", "curved"}),),
}

#: The qualifier words of each class.
QUALIFIER_WORDS: dict[str, frozenset[str]] = {
    name: frozenset(word for qualifiers in sets for word in qualifiers)
    for name, sets in QUALIFIER_CLASSES.items()
}

#: Every set of opposite qualifiers, in class order.
OPPOSITES: tuple[frozenset[str], ...] = tuple(
    qualifiers for sets in QUALIFIER_CLASSES.values() for qualifiers in sets
)

#: Every qualifier word of ``QUALIFIER_CLASSES``.
QUALIFIERS = frozenset(word for qualifiers in OPPOSITES for word in qualifiers)

_CANONICAL_WORD = {word: group[0] for group in EQUIVALENT_WORDS for word in group}


def canonical_word(word: str) -> str:
    """The word standing for ``word``'s lexicon group (``backrest`` -> ``back``), else itself."""
    return _CANONICAL_WORD.get(word, word)
