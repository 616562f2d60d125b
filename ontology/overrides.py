"""A person's decisions on candidate pairs (``--overrides FILE.csv``).

CSV with header; columns ``kind,category,name_a,name_b,decision`` and optionally
``canonical`` and ``rationale`` (other columns are ignored, so a filled-in
``review.csv`` is a valid overrides file):

* ``kind``: ``category`` or ``part``;
* ``category``: for parts, the category (canonical or any raw spelling); empty for
  categories;
* ``name_a``, ``name_b``: the two raw names, in either order;
* ``decision``: ``merge`` or ``keep_separate``; rows left empty are not decided yet
  and are counted, not applied;
* ``canonical``: optionally, which of the two names should be canonical.

An override decides its pair before rules or an LLM, and a pair that was no
candidate becomes one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from ontology.entities import CATEGORY, PART
from ontology.normalize import category_key
from ontology.verdicts import KEEP_SEPARATE, MERGE, Verdict
from schemas.locations import Location

OVERRIDE = "override"
REQUIRED_COLUMNS = ("kind", "category", "name_a", "name_b", "decision")


class OverridesError(ValueError):
    """An overrides file that cannot be used; the message names file, line and reason."""


@dataclass(frozen=True)
class Override:
    """One decided row; ``where`` is ``FILE:LINE``."""

    kind: str
    category: str
    name_a: str
    name_b: str
    decision: str
    canonical: str | None
    rationale: str
    where: str

    @property
    def names(self) -> tuple[str, str]:
        return tuple(sorted((self.name_a, self.name_b)))  # type: ignore[return-value]

    def verdict(self, at: str) -> Verdict:
        return Verdict(
            self.decision,
            OVERRIDE,
            self.rationale or f"decided by a person ({self.where})",
            canonical=self.canonical,
            at=at,
        )


@dataclass(frozen=True)
class Overrides:
    """All decided rows of an overrides file, and how many rows were left undecided."""

    rows: tuple[Override, ...] = ()
    undecided: int = 0

    @classmethod
    def load(cls, path: str) -> Overrides:
        """Read an overrides CSV (a local path or a URI, see ``schemas.locations``)."""
        try:
            text = Location.of(path).read_text()
        except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
            raise OverridesError(f"--overrides {path}: cannot read: {error}") from error
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise OverridesError(f"{path}: header lacks column(s) {', '.join(missing)}")
        rows: list[Override] = []
        undecided = 0
        try:
            for row in reader:
                where = f"{path}:{reader.line_num}"
                if None in row or None in row.values():
                    raise OverridesError(f"{where}: expected {len(reader.fieldnames)} fields")
                if not row["decision"].strip():
                    undecided += 1
                    continue
                rows.append(_override(row, where))
        except csv.Error as error:
            raise OverridesError(f"{path}:{reader.line_num}: {error}") from error
        return cls(tuple(rows), undecided)

    def naming_unknown(self, vocabulary: pl.DataFrame) -> list[Override]:
        """Rows naming a category or part that ``vocabulary`` (a vocabulary table) lacks."""
        known = {
            CATEGORY: set(vocabulary["category"].to_list()),
            PART: set(vocabulary["part"].to_list()),
        }
        return [row for row in self.rows if not {row.name_a, row.name_b} <= known[row.kind]]

    def for_scope(
        self, kind: str, category_names: Iterable[str] = ()
    ) -> dict[tuple[str, str], Override]:
        """Rows of one scope by their sorted name pair.

        ``category_names``: every spelling of a part scope's category (ignored for
        categories); rows match when their category has the same match key.
        """
        keys = {category_key(name) for name in category_names}
        return {
            row.names: row
            for row in self.rows
            if row.kind == kind and (kind == CATEGORY or category_key(row.category) in keys)
        }


def _override(row: dict[str, str], where: str) -> Override:
    kind, category, name_a, name_b, decision = (row[c].strip() for c in REQUIRED_COLUMNS)
    if kind not in (CATEGORY, PART):
        raise OverridesError(f"{where}: kind {kind!r} is neither {CATEGORY!r} nor {PART!r}")
    if decision not in (MERGE, KEEP_SEPARATE):
        raise OverridesError(
            f"{where}: decision {decision!r} is neither {MERGE!r} nor {KEEP_SEPARATE!r}"
        )
    if not (name_a and name_b) or name_a == name_b:
        raise OverridesError(f"{where}: name_a and name_b must be two different names")
    if kind == PART and not category:
        raise OverridesError(f"{where}: a part row needs its category")
    canonical = (row.get("canonical") or "").strip() or None
    if canonical not in (None, name_a, name_b):
        raise OverridesError(f"{where}: canonical {canonical!r} is neither name_a nor name_b")
    return Override(
        kind,
        category,
        name_a,
        name_b,
        decision,
        canonical,
        (row.get("rationale") or "").strip(),
        where,
    )
