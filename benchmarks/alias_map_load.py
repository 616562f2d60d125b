"""Time ``AliasMap.load`` on a 100k-line alias log and the throughput of ``resolve``.

    python benchmarks/alias_map_load.py [--lines 100000] [--json]

The log is synthetic but has the real record layout (``schemas.ontology``): 500
categories with two spellings each, and parts with a canonical record, a merged legacy
spelling and a rejected candidate pair, until the line count is reached.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ontology import AliasMap
from ontology.normalize import category_key, category_prefixes, match_key, part_tokens
from schemas.ontology import ALIAS_LOG_SCHEMA, CANONICAL, KEEP_SEPARATE, MERGE

CATEGORIES = 500


def _record(**fields: object) -> str:
    record = dict.fromkeys(ALIAS_LOG_SCHEMA.names)
    record.update(schema_version=1, datasets=["synthetic"], at="2026-01-01T00:00:00+00:00")
    record.update(fields)
    return json.dumps(record)


def write_synthetic_log(path: Path, lines: int) -> dict[str, list[tuple[str, str]]]:
    """Write about ``lines`` records (whole parts only, so every query is known) to ``path``;
    return (category, part) queries by spelling."""
    rng = random.Random(0)
    queries: dict[str, list[tuple[str, str]]] = {"exact": [], "normalized": []}
    out: list[str] = []
    for uid in range(CATEGORIES):
        name = f"category_{uid}"
        for alias, decision in ((name, CANONICAL), (f"Category{uid}", MERGE)):
            out.append(
                _record(
                    kind="category",
                    alias=alias,
                    canonical=name,
                    key=category_key(alias),
                    decision=decision,
                    category_uid=uid,
                )
            )
    part_uid = 0
    while len(out) + 3 <= lines:
        category = f"category_{part_uid % CATEGORIES}"
        prefixes = category_prefixes([category])
        part = f"part_{part_uid}_{rng.choice(['bar', 'panel', 'leg', 'door'])}"
        legacy = f"{category}_{part}".upper()
        for alias, decision in ((part, CANONICAL), (legacy, MERGE)):
            out.append(
                _record(
                    kind="part",
                    category=category,
                    alias=alias,
                    canonical=part,
                    key=match_key(part_tokens(alias, prefixes)),
                    decision=decision,
                    similarity=0.9,
                    verifier="rules",
                    part_uid=part_uid,
                )
            )
        out.append(
            _record(
                kind="part",
                category=category,
                alias=part,
                canonical=f"x{part}",
                key=part,
                decision=KEEP_SEPARATE,
                similarity=0.85,
                verifier="rules",
            )
        )
        queries["exact"].append((category, part))
        queries["normalized"].append((f"Category{part_uid % CATEGORIES}", legacy.lower()))
        part_uid += 1
    path.write_text("\n".join(out) + "\n")
    return queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "alias_log.jsonl"
        queries = write_synthetic_log(log, args.lines)
        lines = len(log.read_text().splitlines())
        started = time.perf_counter()
        aliases = AliasMap.load(log)
        load_s = time.perf_counter() - started
    result: dict[str, float] = {"lines": lines, "load_s": round(load_s, 3)}
    for spelling, pairs in queries.items():
        started = time.perf_counter()
        for category, name in pairs:
            aliases.resolve(category, name)
        result[f"resolve_{spelling}_per_s"] = round(len(pairs) / (time.perf_counter() - started))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"AliasMap.load of a {lines}-line alias log: {load_s:.3f} s")
        print(f"resolve, exact spelling:      {result['resolve_exact_per_s']:,} lookups/s")
        print(f"resolve, normalized spelling: {result['resolve_normalized_per_s']:,} lookups/s")


if __name__ == "__main__":
    main()
