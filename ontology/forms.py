"""Head noun and modifiers of a name: the shape the rules reason on.

``leg`` is the head of ``bar_stretcher``'s sibling ``leg``; ``stretcher`` is the head of
``bar_stretcher``, ``bar`` its modifier. A name's form is built from its tokens (category
prefix already stripped) in four steps:

1. plural words become singular;
2. lexicon words become their group's word (``backrest`` -> ``back``, ``light`` ->
   ``lamp``; ``ontology.lexicon``);
3. compounds split: a word starting with a category word (``tabletop`` in a table:
   ``table`` + ``top``) or with a qualifier (``headboard``: ``head`` + ``board``);
4. modifiers implied by the category (``lamp`` in a lamp: ``light_bulb`` -> ``bulb``) or
   that say nothing (``holistic``, ``single``) are dropped; the head always stays.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from ontology.lexicon import QUALIFIERS, UNINFORMATIVE_MODIFIERS, canonical_word
from ontology.normalize import singular

#: Shortest rest of a compound split off a category word or a qualifier.
_MIN_COMPOUND_REST = 3
_MIN_QUALIFIER_REST = 4


@dataclass(frozen=True)
class Form:
    """A name as head noun and modifiers.

    Attributes:
        head: the last word that is not a number (singular, lexicon word).
        modifiers: the other words that tell it apart, sorted, no repeats.
    """

    head: str
    modifiers: tuple[str, ...]

    @property
    def key(self) -> str:
        """``modifiers|head``: equal keys are equal forms."""
        return f"{' '.join(self.modifiers)}|{self.head}"

    def __str__(self) -> str:
        return " ".join((*self.modifiers, self.head))


@functools.lru_cache(maxsize=4096)
def scope_words(scope_tokens: tuple[str, ...]) -> frozenset[str]:
    """The words a category implies for its parts (its own words, as lexicon words)."""
    return frozenset(canonical_word(singular(token)) for token in scope_tokens)


def words_of(tokens: Sequence[str], implied: frozenset[str] = frozenset()) -> list[str]:
    """Steps 1-3 of the module docstring: singular lexicon words, compounds split."""
    words: list[str] = []
    for token in tokens:
        word = canonical_word(singular(token))
        words.extend(_split_compound(word, implied))
    return words


def form_of(tokens: Sequence[str], implied: frozenset[str] = frozenset()) -> Form:
    """The form of a name's tokens in a category implying the words ``implied``."""
    words = words_of(tokens, implied)
    if not words:
        return Form("", ())
    named = [i for i, word in enumerate(words) if not word.isdigit()]
    at = named[-1] if named else len(words) - 1  # a trailing number is no head: leg 01
    head = words[at]
    modifiers = {
        word
        for i, word in enumerate(words)
        if i != at and word not in implied and word not in UNINFORMATIVE_MODIFIERS and word != head
    }
    return Form(head, tuple(sorted(modifiers)))


@functools.lru_cache(maxsize=65536)
def _split_compound(word: str, implied: frozenset[str]) -> tuple[str, ...]:
    """``tabletop`` -> ``(table, top)`` in a table; ``headboard`` -> ``(head, board)``."""
    for prefixes, shortest in ((_longest_first(implied), _MIN_COMPOUND_REST), _QUALIFIERS):
        for prefix in prefixes:
            rest = word[len(prefix) :]
            if word.startswith(prefix) and len(rest) >= shortest:
                return prefix, canonical_word(rest)
    return (word,)


@functools.lru_cache(maxsize=4096)
def _longest_first(words: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(words, key=lambda w: (-len(w), w)))


_QUALIFIERS = (_longest_first(QUALIFIERS), _MIN_QUALIFIER_REST)


def spelling_variant(x: str, y: str) -> bool:
    """Whether two words differ by one inserted letter (``cord``/``chord``), both >= 4 long."""
    if len(x) > len(y):
        x, y = y, x
    if len(x) < 4 or len(y) != len(x) + 1 or x[0] != y[0]:
        return False
    return any(y[:i] + y[i + 1 :] == x for i in range(1, len(y)))


def one_word_apart(f: Form, g: Form) -> tuple[str, str] | None:
    """The words two forms differ in when one word of each is their only difference."""
    if f.head != g.head:
        return (f.head, g.head) if f.modifiers == g.modifiers else None
    only_f = sorted(set(f.modifiers) - set(g.modifiers))
    only_g = sorted(set(g.modifiers) - set(f.modifiers))
    return (only_f[0], only_g[0]) if len(only_f) == len(only_g) == 1 else None
