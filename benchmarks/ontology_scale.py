"""Time, peak memory and review queue size of an offline ontology run at web scale.

    python benchmarks/ontology_scale.py [--names 20000] [--categories 600] [--json]

The vocabulary is generated (seeded, so every run is the same) in the layout of a generic
web vocabulary such as TexVerse's part names: categories ``object000`` ... ``object599``
(numbered names that must stay distinct categories), and per category part names built
from common heads and qualifiers, spelled the ways web names are (``Front Leg``,
``front_leg``, ``legs``), with instance numbers that the data shows (``leg_01`` next to
``leg_02`` in one list) and numbers that name things (``f16_wing``). Two generic datasets
share the categories. The run is ``--embedder lexical --describer template --verifier
rules`` through ``ontology.config.prepare_offline`` and ``ontology.unify.unify``.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ontology.config import prepare_offline
from ontology.unify import unify

HEADS = [
    "leg",
    "wheel",
    "door",
    "handle",
    "panel",
    "seat",
    "frame",
    "lid",
    "knob",
    "button",
    "screen",
    "base",
    "arm",
    "wing",
    "tail",
    "engine",
    "window",
    "mirror",
    "light",
    "cover",
    "strap",
    "hinge",
    "shelf",
    "drawer",
    "rail",
    "pole",
    "spring",
    "blade",
    "cushion",
    "tire",
    "barrel",
    "trigger",
    "stock",
    "scope",
    "lens",
    "cable",
    "plug",
    "switch",
    "body",
]
QUALIFIERS = [
    "front",
    "rear",
    "left",
    "right",
    "upper",
    "lower",
    "inner",
    "outer",
    "top",
    "bottom",
    "side",
    "main",
    "small",
]
NAMED_NUMBERS = ("f16", "ps5", "ak47", "model 3", "mk2")


def generate(names: int, categories: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """``(dataset, category, part)`` rows: about ``names`` distinct names in all."""
    rng = random.Random(seed)
    per_category = max(1, names // categories)
    rows = []
    for c in range(categories):
        category = f"object{c:03d}"
        seen: set[str] = set()
        while len(seen) < per_category:
            head = rng.choice(HEADS)
            words = [rng.choice(QUALIFIERS), head] if rng.random() < 0.6 else [head]
            if rng.random() < 0.05:
                words.insert(0, rng.choice(NAMED_NUMBERS))
            style = rng.random()
            if style < 0.15:
                name = " ".join(w.title() for w in words)
            elif style < 0.25:
                name = "_".join(words) + "s"
            else:
                name = "_".join(words)
            if rng.random() < 0.1:  # instances, as a shape's part list shows them
                for number in range(1, rng.randint(2, 4)):
                    seen.add(f"{name}_{number:02d}")
            else:
                seen.add(name)
        dataset = "web_a" if c % 2 else "web_b"
        rows.extend((dataset, category, part) for part in sorted(seen))
        if c % 3 == 0:  # a second dataset naming some of the same parts its own way
            rows.extend(("web_c", category, part.upper()) for part in sorted(seen)[:5])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=20_000)
    parser.add_argument("--categories", type=int, default=600)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    rows = generate(args.names, args.categories)
    with tempfile.TemporaryDirectory() as folder:
        vocab = Path(folder) / "vocab.csv"
        with vocab.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["dataset", "category", "part"])
            writer.writerows(rows)
        started = time.perf_counter()
        config, table = prepare_offline([f"generic={vocab}"], str(Path(folder) / "cache"))
        unified = unify(table, config, "2026-01-01T00:00:00+00:00")
        seconds = time.perf_counter() - started
    counts = unified.counts
    entities = counts["part_entities"]
    report = {
        "vocabulary_rows": table.height,
        "raw_categories": counts["category_entities"],
        "categories": counts["categories"],
        "part_names": entities,
        "parts": counts["parts"],
        "candidates_per_entity": round(
            2
            * (counts["part_candidates"] + counts["category_candidates"])
            / (entities + counts["category_entities"]),
            2,
        ),
        "review_items": counts["review_items"],
        "review_per_100_names": round(100 * counts["review_items"] / entities, 2),
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "timings_s": unified.timings_s,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{report['vocabulary_rows']} rows, {report['part_names']} part names over "
            f"{report['raw_categories']} categories -> {report['categories']} categories, "
            f"{report['parts']} parts; {report['candidates_per_entity']} candidates per "
            f"entity; review queue {report['review_items']} "
            f"({report['review_per_100_names']} per 100 names); {report['seconds']} s, "
            f"peak RSS {report['peak_rss_mb']} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
