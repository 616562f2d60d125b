"""Error reporting shared by the ontology modules."""

from __future__ import annotations


def one_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an error's message (at most ``limit`` characters), or its type."""
    lines = str(error).splitlines()
    return lines[0][:limit] if lines and lines[0] else type(error).__name__
