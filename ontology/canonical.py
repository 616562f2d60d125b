"""Choice of a group's canonical name: its most descriptive variant.

As in ALIGN-Parts, the more verbose variant names the merged entry
(``microwave_oven`` over ``microwave``, ``door_glass`` over ``glass``). Ranking:

1. a name a person marked canonical in ``--overrides``;
2. more words, then more letters;
3. more votes of the LLM verifier (its canonical choice for a merged pair);
4. more occurrences, then alphabetical (so the choice is stable).

The canonical name is that variant's canonical spelling (snake_case).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from ontology.entities import Entity
from ontology.normalize import name_tokens


def choose_canonical(
    members: Sequence[Entity],
    preferred: Collection[str] = (),
    votes: Mapping[str, int] | None = None,
) -> Entity:
    """The member whose spelling names the group.

    ``preferred``: raw names a person chose; ``votes``: raw name -> how many merge
    verdicts of the LLM chose it.
    """
    votes = votes or {}
    return min(
        members,
        key=lambda e: (
            e.name not in preferred,
            -len(name_tokens(e.name)),
            -len(e.canonical_spelling),
            -votes.get(e.name, 0),
            -e.count,
            e.name,
        ),
    )
