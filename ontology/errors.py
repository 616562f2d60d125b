"""Error reporting shared by the ontology modules (``one_line`` is the common one)."""

from __future__ import annotations

from schemas.common import one_line

__all__ = ["one_line"]
