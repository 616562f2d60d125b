"""Deterministic rules that settle the obvious candidates (and are the offline verifier).

They reason on each name's head noun and modifiers (``ontology.forms``), its hierarchy
paths, and the label lists it belongs to (``RuleContext``), in this order:

Keep separate:
  * opposite qualifiers (front/rear, horizontal/vertical, hour/minute, head/foot, ...;
    ``ontology.lexicon``): ``car_front_bumper``/``car_rear_bumper``; and different
    qualifiers of one class on each side (``left_door``/``top_door``: two positions);
  * the same letters with different numbers (``object007``/``object008``, ``f15``/
    ``f16``), or different model codes (``ps5_button``/``mk2_button``): numbers that name
    things;
  * two labels of one closed label list (a PartNet or 3DCoMPaT++ category): the dataset
    itself tells them apart, even when they normalize alike (3DCoMPaT++ bed has both
    ``bed_support`` and ``support``).

Merge:
  * identical after normalization (case, separators, category prefix, instance numbers,
    plural): ``bed_headboard``/``headboard`` in bed, ``Arm Rest``/``armrest``;
  * only child: a node whose only child is the other name's node (PartNet
    ``spout/tube`` is the spout; ``StorageFurniture``'s only kind is ``cabinet``).

Keep separate:
  * a category and one of the kinds right below its root (PartNet ``Bottle``: ``jug``).

Merge:
  * the same head and modifiers once lexicon words are unified, compounds split and
    implied or uninformative modifiers dropped (``back_connector``/``backrest_connector``,
    ``light_bulb``/``bulb`` in a lamp, ``tabletop_connector``/``top_connector`` in a
    table, ``seat_holistic_frame``/``seat_frame``).

Keep separate:
  * a part and its own sub-part: ``door``/``door_frame``, or ``door`` and a part whose
    hierarchy path runs through ``door`` (a name repeating its parent counts as its
    rest: ``cover/cover_lid`` is a lid, and a lid's connector is its sub-part).

Merge:
  * a part name qualified by its own parent in the other's hierarchy: ``glass`` under
    ``microwave/body/door`` and ``door_glass``;
  * modifiers that tell nothing apart: ``vertical_back_panel`` and ``back_panel`` when
    no other label of ``vertical_back_panel``'s lists is a back panel, ``cover/cover_lid``
    and a bin's ``lid`` (names that are an only child are compared as their parent, not
    here; a modifier naming a part of the other's list is no qualifier: a pendulum's
    ``pendulum_body`` against a clock's ``clock_body`` next to its ``clock_pendulum`` is
    left open). When one is (a
    table's ``bar_stretcher`` next to ``circular_stretcher``, against ``stretcher``), the
    shorter name is more general: keep separate;
  * one word spelled with one letter more (``chord``/``cord``, words of 4+ letters).

Keep separate:
  * different head nouns with no other evidence than being near neighbours below the
    threshold or categories sharing part names (``Candidate.found_by``).

Everything else is left open (``None``): an LLM, a person or the review queue decides.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ontology.entities import CATEGORY, PART, Entity
from ontology.forms import Form, form_of, one_word_apart, scope_words, spelling_variant, words_of
from ontology.lexicon import QUALIFIER_WORDS, QUALIFIERS
from ontology.normalize import (
    category_key,
    category_prefixes,
    match_key,
    name_tokens,
    opposite_qualifiers,
    part_tokens,
)
from ontology.verdicts import KEEP_SEPARATE, MERGE, WEAK_SOURCES, Candidate, Verdict
from ontology.vocabulary import CLOSED_VOCABULARIES

RULES = "rules"
_DIGITS = re.compile(r"\d+")


@dataclass
class RuleContext:
    """The label lists of a kind's entities: what tells a name apart from its siblings.

    Attributes:
        lists: (scope, dataset, raw category): a label list as one scope sees it -> the
            entities using it, by name.
    """

    lists: dict[tuple[str, str, str], list[Entity]]
    _forms: dict[tuple[str, str, str], Form] = field(default_factory=dict)
    _heads: dict[tuple[str, str, str], dict[str, list[Entity]]] = field(default_factory=dict)

    @classmethod
    def of(cls, entities: Iterable[Entity]) -> RuleContext:
        lists: dict[tuple[str, str, str], list[Entity]] = {}
        for entity in entities:
            for source in entity.sources:
                lists.setdefault((entity.scope, *source), []).append(entity)
        return cls({key: sorted(found, key=lambda e: e.name) for key, found in lists.items()})

    def own_form(self, entity: Entity) -> Form:
        """The entity's form (``ontology.forms``), computed once."""
        key = (entity.kind, entity.scope, entity.name)
        if key not in self._forms:
            self._forms[key] = form_of(entity.tokens, _implied(entity))
        return self._forms[key]

    def alternate_forms(self, entity: Entity) -> list[Form]:
        implied = _implied(entity)
        return [form_of(tokens, implied) for tokens in _alternate_tokens(entity)]

    def listmates(self, entity: Entity, head: str) -> list[Entity]:
        """The other entities with head noun ``head`` of ``entity``'s label lists, by name."""
        mates = {
            mate.name: mate
            for source in entity.sources
            for mate in self._by_head((entity.scope, *source)).get(head, [])
            if mate.name != entity.name
        }
        return [mates[name] for name in sorted(mates)]

    def _by_head(self, label_list: tuple[str, str, str]) -> dict[str, list[Entity]]:
        """A label list's entities by head noun (indexed once)."""
        if label_list not in self._heads:
            heads: dict[str, list[Entity]] = {}
            for entity in self.lists.get(label_list, []):
                heads.setdefault(self.own_form(entity).head, []).append(entity)
            self._heads[label_list] = heads
        return self._heads[label_list]


def rule_verdict(
    candidate: Candidate, at: str, context: RuleContext | None = None
) -> Verdict | None:
    """The rules' verdict on ``candidate`` given at time ``at``, or None if they leave it open.

    ``context`` holds the label lists of the candidate's kind (default: only the pair's).
    """
    context = context or RuleContext.of([candidate.a, candidate.b])
    for rule in _RULES:
        found = rule(candidate, context)
        if found is not None:
            decision, rationale = found
            return Verdict(decision, RULES, rationale, at=at)
    return None


_Found = tuple[str, str] | None


def _opposites(candidate: Candidate, context: RuleContext) -> _Found:
    a, b = candidate.a, candidate.b
    opposite = opposite_qualifiers(
        [*a.tokens, *words_of(a.tokens, _implied(a))], [*b.tokens, *words_of(b.tokens, _implied(b))]
    )
    if opposite is None:
        return None
    return KEEP_SEPARATE, (
        f"opposite qualifiers: {opposite[0]!r} in {a.name!r} vs {opposite[1]!r} in {b.name!r}"
    )


def _qualifier_class(candidate: Candidate, context: RuleContext) -> _Found:
    """Different qualifiers of one class on each side (``left_door``/``top_door``)."""
    a, b = (set(context.own_form(e).modifiers) for e in (candidate.a, candidate.b))
    for name, qualifiers in QUALIFIER_WORDS.items():
        only_a = sorted((a - b) & qualifiers)
        only_b = sorted((b - a) & qualifiers)
        if only_a and only_b:
            return KEEP_SEPARATE, (
                f"different {name} qualifiers: {only_a[0]!r} in {candidate.a.name!r} vs "
                f"{only_b[0]!r} in {candidate.b.name!r}"
            )
    return None


def _numbers(candidate: Candidate, context: RuleContext) -> _Found:
    """Numbers that name things: the same letters with other numbers (``f15``/``f16``), or
    different model codes (``ps5_button``/``mk2_button``)."""
    a, b = candidate.a.words, candidate.b.words
    letters_a, letters_b = _DIGITS.sub("", a), _DIGITS.sub("", b)
    codes_a, codes_b = ({w for w in words.split() if _DIGITS.search(w)} for words in (a, b))
    if letters_a == letters_b and _DIGITS.findall(a) != _DIGITS.findall(b):
        return KEEP_SEPARATE, f"numbers that name different things: {a!r} vs {b!r}"
    if codes_a and codes_b and codes_a != codes_b:
        return KEEP_SEPARATE, (
            f"different model codes: {sorted(codes_a)[0]!r} vs {sorted(codes_b)[0]!r}"
        )
    return None


def _closed_list(candidate: Candidate, context: RuleContext) -> _Found:
    shared = sorted(
        f"{dataset}/{category}"
        for dataset, category in set(candidate.a.sources) & set(candidate.b.sources)
        if dataset in CLOSED_VOCABULARIES
    )
    if not shared:
        return None
    return KEEP_SEPARATE, f"both are labels of the closed label list {shared[0]}"


def _identical(candidate: Candidate, context: RuleContext) -> _Found:
    if candidate.a.key != candidate.b.key:
        return None
    return MERGE, (
        "identical after normalization (case, separators, category prefix, "
        "instance numbers, plural)"
    )


def _only_child(candidate: Candidate, context: RuleContext) -> _Found:
    for x, y in _both_ways(candidate):
        y_forms = {form.key for form in (context.own_form(y), *context.alternate_forms(y))}
        for alternate, form in zip(x.alternates, context.alternate_forms(x), strict=True):
            if form.key in y_forms:
                return MERGE, (
                    f"{x.name!r} is the only child of {alternate!r} in its hierarchy, "
                    f"which names what {y.name!r} names"
                )
    return None


def _sub_kind(candidate: Candidate, context: RuleContext) -> _Found:
    if candidate.kind != CATEGORY:
        return None
    for x, y in _both_ways(candidate):
        kind = next((k for k in x.kinds if category_key(k) == y.key), None)
        if kind is not None:
            return KEEP_SEPARATE, f"{y.name!r} is one of the kinds or parts below {x.name!r}"
    return None


def _sub_part(candidate: Candidate, context: RuleContext) -> _Found:
    if candidate.kind != PART:
        return None
    for whole, piece in _both_ways(candidate):
        above = piece.ancestor_keys - {piece.key}  # a group named like the part is the part
        for tokens in (whole.tokens, *_alternate_tokens(whole), *_after_parent(whole)):
            if match_key(tokens) in above or _starts_with(piece.tokens, tokens):
                return KEEP_SEPARATE, f"{piece.name!r} is a sub-part of {whole.name!r}"
    return None


def _same_form(candidate: Candidate, context: RuleContext) -> _Found:
    form = context.own_form(candidate.a)
    if form.key != context.own_form(candidate.b).key:
        return None
    return MERGE, (
        f"the same part once lexicon words, compounds and implied or uninformative "
        f"modifiers are normalized: {str(form)!r}"
    )


def _parent_qualified(candidate: Candidate, context: RuleContext) -> _Found:
    if candidate.kind != PART:
        return None
    for general, specific in _both_ways(candidate):
        parent = _qualifying_parent(general, specific)
        if parent is not None:
            return MERGE, (
                f"{specific.name!r} is {general.name!r} qualified by its parent {parent!r}"
            )
    return None


def _implied_modifiers(candidate: Candidate, context: RuleContext) -> _Found:
    for general, specific in _both_ways(candidate):
        if general.alternates or specific.alternates:
            continue  # an only child means what its parent names: compared as that
        short, long = context.own_form(general), context.own_form(specific)
        extra = sorted(set(long.modifiers) - set(short.modifiers))
        if short.head != long.head or not extra or not set(short.modifiers) < set(long.modifiers):
            continue
        named = [m for m in extra if _names_a_part(m, general, context)]
        if named:
            continue  # "pendulum body" is the pendulum's body where a pendulum is a part
        rivals = [
            mate.name
            for mate in context.listmates(specific, short.head)
            if _covers(short, context.own_form(mate)) and mate.name != general.name
        ]
        closer = [
            mate.name
            for mate in context.listmates(general, short.head)
            if _between(short, context.own_form(mate), long)
        ]
        if rivals:
            return KEEP_SEPARATE, (
                f"{general.name!r} is more general than {specific.name!r}: its label list "
                f"also has {rivals[0]!r}"
            )
        if closer:
            return KEEP_SEPARATE, f"{closer[0]!r} is closer to {specific.name!r}"
        return MERGE, (
            f"{specific.name!r} is {general.name!r} with modifier(s) {', '.join(extra)!r} that "
            f"tell nothing apart in its label list"
        )
    return None


def _spelling(candidate: Candidate, context: RuleContext) -> _Found:
    words = one_word_apart(context.own_form(candidate.a), context.own_form(candidate.b))
    if words is not None and spelling_variant(*words):
        return MERGE, f"a spelling variant: {words[0]!r} / {words[1]!r}"
    return None


def _weak(candidate: Candidate, context: RuleContext) -> _Found:
    if not candidate.found_by or not set(candidate.found_by) <= WEAK_SOURCES:
        return None
    heads = [
        {form.head for form in (context.own_form(e), *context.alternate_forms(e))}
        for e in (candidate.a, candidate.b)
    ]
    if heads[0] & heads[1]:
        return None
    return KEEP_SEPARATE, (
        f"different head nouns and no evidence beyond {' and '.join(candidate.found_by)}"
    )


_RULES = (
    _opposites,
    _qualifier_class,
    _numbers,
    _closed_list,
    _identical,
    _only_child,
    _sub_kind,
    _same_form,
    _sub_part,
    _parent_qualified,
    _implied_modifiers,
    _spelling,
    _weak,
)


def _both_ways(candidate: Candidate) -> tuple[tuple[Entity, Entity], tuple[Entity, Entity]]:
    return (candidate.a, candidate.b), (candidate.b, candidate.a)


def _names_a_part(word: str, entity: Entity, context: RuleContext) -> bool:
    """Whether a label of ``entity``'s lists (or ``entity``) is the part ``word`` names."""
    return any(
        context.own_form(mate) == Form(word, ())
        for mate in (entity, *context.listmates(entity, word))
    )


def _covers(general: Form, other: Form) -> bool:
    """Whether ``other`` is a kind of ``general`` too (same head, all its modifiers)."""
    return other.head == general.head and set(general.modifiers) <= set(other.modifiers)


def _between(short: Form, middle: Form, long: Form) -> bool:
    """Whether ``middle`` sits strictly between ``short`` and ``long`` in modifiers."""
    return middle.head == short.head and set(short.modifiers) < set(middle.modifiers) <= set(
        long.modifiers
    )


def _implied(entity: Entity) -> frozenset[str]:
    """The words an entity's category implies (none for categories)."""
    return _scope_implies(entity.scope) if entity.kind == PART else frozenset()


@functools.lru_cache(maxsize=4096)
def _scope_implies(scope: str) -> frozenset[str]:
    return scope_words(name_tokens(scope))


def _alternate_tokens(entity: Entity) -> list[tuple[str, ...]]:
    if not entity.alternates:
        return []
    if entity.kind == CATEGORY:
        return [name_tokens(name, strip_number=False) for name in entity.alternates]
    prefixes = _prefixes(entity.scope)
    return [part_tokens(name, prefixes) for name in entity.alternates]


@functools.lru_cache(maxsize=4096)
def _prefixes(scope: str) -> tuple[tuple[str, ...], ...]:
    return category_prefixes([scope])


def _after_parent(entity: Entity) -> list[tuple[str, ...]]:
    """The part's tokens without a leading repeat of its parent's name, per parent.

    ``cover_lid`` under ``cover`` -> ``lid``; a rest that is only a position
    (``frame_top`` under ``frame``) names a piece of the parent and is not returned.
    """
    if entity.kind != PART:
        return []
    prefixes = _prefixes(entity.scope)
    rests = []
    for parent in entity.parents():
        head = part_tokens(parent, prefixes)
        rest = entity.tokens[len(head) :]
        if _starts_with(entity.tokens, head) and rest and rest[-1] not in QUALIFIERS:
            rests.append(tuple(rest))
    return sorted(set(rests))


def _starts_with(tokens: Sequence[str], head: Sequence[str]) -> bool:
    """Whether ``tokens`` is ``head`` followed by more words (``door_frame`` after ``door``)."""
    return len(tokens) > len(head) and match_key(tokens[: len(head)]) == match_key(head)


def _qualifying_parent(general: Entity, specific: Entity) -> str | None:
    """The words ``specific`` puts before ``general``'s name when they name its parent."""
    extra = len(specific.tokens) - len(general.tokens)
    if extra <= 0 or match_key(specific.tokens[extra:]) != general.key:
        return None
    qualifier = specific.tokens[:extra]
    return " ".join(qualifier) if match_key(qualifier) in general.ancestor_keys else None
