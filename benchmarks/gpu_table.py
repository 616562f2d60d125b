"""The one table of ``gpu_check.sh``: its rows and the CUDA tests' results, as Markdown.

    python benchmarks/gpu_table.py ROWS [--junit cuda.xml]

ROWS holds tab-separated ``part, figure, value`` lines (``benchmarks/figures.py``); the
JUnit XML of ``pytest -m cuda`` adds one row per test (passed, FAILED with the first line
of its message, or skipped with its reason) and a count, placed before the file's first
``cuda tests`` row. Rows keep the file's order.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.common import one_line

HEADER = ("part", "figure", "value")


def test_rows(junit: Path) -> list[tuple[str, str, str]]:
    """One row per test case of a JUnit XML report, then a count of each outcome."""
    rows, counts = [], {"passed": 0, "failed": 0, "skipped": 0}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        outcome, detail = "passed", ""
        for tag, name in (("failure", "failed"), ("error", "failed"), ("skipped", "skipped")):
            element = case.find(tag)
            if element is not None:
                outcome = name
                detail = (element.get("message") or element.text or "").strip()
                break
        counts[outcome] += 1
        detail = one_line(detail.splitlines()[0] if detail else "")[:120]
        value = {"passed": "passed", "failed": "FAILED", "skipped": "skipped"}[outcome]
        rows.append(
            ("cuda tests", case.get("name", "?"), f"{value}: {detail}" if detail else value)
        )
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
    return [*rows, ("cuda tests", "total", summary)]


def file_rows(path: Path) -> list[tuple[str, str, str]]:
    """The ``part, figure, value`` lines of ``path`` (none when it does not exist)."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [tuple([*line.split("\t"), "", ""][:3]) for line in lines if line.strip()]


def markdown(rows: list[tuple[str, str, str]]) -> str:
    """A Markdown table of ``rows`` under ``HEADER``, columns padded to line up."""
    cells = [HEADER, *rows]
    widths = [max(len(row[k]) for row in cells) for k in range(3)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=Path, help="tab-separated part, figure, value lines")
    parser.add_argument("--junit", type=Path, default=None, help="JUnit XML of pytest -m cuda")
    args = parser.parse_args()
    rows = file_rows(args.rows)
    if args.junit and args.junit.is_file():  # the tests go before the first "cuda tests" row
        at = next((i for i, row in enumerate(rows) if row[0] == "cuda tests"), len(rows))
        rows[at:at] = test_rows(args.junit)
    print(markdown(rows))


if __name__ == "__main__":
    main()
