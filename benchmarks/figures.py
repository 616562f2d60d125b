"""Figures the benchmarks hand to ``gpu_check.sh``: one tab-separated row per figure.

A row is ``part<TAB>figure<TAB>value``; ``gpu_table.py`` prints all rows as one table.
Every benchmark still prints its own figures; ``--rows PATH`` appends them to PATH too.
"""

from __future__ import annotations

import argparse

from schemas.common import one_line


def add_rows_option(parser: argparse.ArgumentParser) -> None:
    """``--rows PATH``: also append this run's figures to PATH (see the module docstring)."""
    parser.add_argument(
        "--rows",
        metavar="PATH",
        default=None,
        help="also append the figures as tab-separated rows (part, figure, value) to PATH, "
        "for benchmarks/gpu_check.sh",
    )


def append_rows(path: str | None, part: str, figures: list[tuple[str, str]]) -> None:
    """Append ``(figure, value)`` pairs of ``part`` to ``path``; nothing when path is None."""
    if path is None:
        return
    with open(path, "a", encoding="utf-8") as rows:
        for figure, value in figures:
            rows.write(f"{part}\t{one_line(figure, limit=None)}\t{one_line(value, limit=None)}\n")
