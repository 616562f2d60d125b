"""Candidate recall, candidates per entity, and P/R of the offline ontology on the dev set.

    python benchmarks/ontology_recall.py [--embedder-model DIR] [--threshold 0.8] [--json]

Runs ``ontology.unify`` on the bundled PartNet + 3DCoMPaT++ vocabularies with template
descriptions and the rules verifier, once with the lexical embedder and, when
``--embedder-model`` names a local SentenceTransformer folder (e.g. all-mpnet-base-v2),
once with it, and scores the labeled pairs of ``tests/data/ontology_dev_pairs.csv``:

* candidate recall: the share of ``merge`` pairs that were candidates (or one entity);
* candidates per entity: candidate pairs each entity takes part in, on average;
* precision / recall of ``merge`` over the dev pairs: a pair is predicted merged when
  both names end in the same canonical category (and canonical part).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ontology.config import prepare
from ontology.entities import CATEGORY
from ontology.gemini import GeminiSettings
from ontology.unify import Unified, unify

DEV_PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "ontology_dev_pairs.csv"
AT = "2026-01-01T00:00:00+00:00"


def read_pairs(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def run(embedder: str, model: str, threshold: float) -> tuple[Unified, float]:
    """An offline run on the bundled vocabularies and its seconds (``prepare`` included)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        config, table = prepare(
            ["partnet", "3dcompat"],
            embedder=embedder,
            embedder_model=model,
            describer="template",
            verifier="rules",
            gemini=GeminiSettings(),
            overrides_path=None,
            threshold=threshold,
            max_group_size=8,
            max_llm_calls=None,
            cache_dir=cache,
        )
        unified = unify(table, config, AT)
    return unified, time.perf_counter() - started


def score(unified: Unified, pairs: Sequence[dict[str, str]]) -> dict[str, float]:
    """Candidate recall, candidates per entity, and P/R per kind and overall."""
    outputs = unified.outputs
    category_of = {
        alias: name
        for name, aliases in zip(
            outputs.categories["name"].to_pylist(),
            outputs.categories["aliases"].to_pylist(),
            strict=True,
        )
        for alias in aliases
    }
    part_of = {
        (category, alias): name
        for category, name, aliases in zip(
            outputs.parts["category"].to_pylist(),
            outputs.parts["name"].to_pylist(),
            outputs.parts["aliases"].to_pylist(),
            strict=True,
        )
        for alias in aliases
    }
    candidates = {(j.candidate.kind, j.candidate.scope, *j.candidate.names) for j in unified.judged}
    figures: dict[str, float] = {}
    tallies: dict[str, list[int]] = {}
    for pair in pairs:
        kind = pair["kind"]
        scope_a, scope_b = category_of[pair["category_a"]], category_of[pair["category_b"]]
        if kind == CATEGORY:
            merged = scope_a == scope_b
            names = tuple(sorted((pair["name_a"], pair["name_b"])))
            paired = merged or ("category", "", *names) in candidates
        else:
            canonical_a = part_of[scope_a, pair["name_a"]]
            canonical_b = part_of[scope_b, pair["name_b"]]
            merged = scope_a == scope_b and canonical_a == canonical_b
            names = tuple(sorted((pair["name_a"], pair["name_b"])))
            paired = scope_a == scope_b and (
                pair["name_a"] == pair["name_b"] or ("part", scope_a, *names) in candidates
            )
        truth = pair["label"] == "merge"
        for group in (kind, "all"):
            tally = tallies.setdefault(group, [0, 0, 0, 0, 0])  # tp fp fn merges paired
            tally[0] += merged and truth
            tally[1] += merged and not truth
            tally[2] += truth and not merged
            tally[3] += truth
            tally[4] += truth and paired
    for group, (tp, fp, fn, merges, paired) in sorted(tallies.items()):
        figures[f"{group}_precision"] = round(tp / (tp + fp), 3) if tp + fp else 1.0
        figures[f"{group}_recall"] = round(tp / (tp + fn), 3) if tp + fn else 1.0
        figures[f"{group}_candidate_recall"] = round(paired / merges, 3) if merges else 1.0
    counts = unified.counts
    entities = counts["category_entities"] + counts["part_entities"]
    pairs_found = counts["category_candidates"] + counts["part_candidates"]
    figures["candidates_per_entity"] = round(2 * pairs_found / entities, 2)
    for kind in ("category", "part"):
        figures[f"{kind}_candidates_per_entity"] = round(
            2 * counts[f"{kind}_candidates"] / counts[f"{kind}_entities"], 2
        )
    figures["review_items"] = counts["review_items"]
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder-model", default=None, metavar="DIR")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--dev-pairs", type=Path, default=DEV_PAIRS)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    pairs = read_pairs(args.dev_pairs)
    runs = [("lexical", "")]
    if args.embedder_model:
        runs.append(("mpnet", args.embedder_model))
    report = {"dev_pairs": len(pairs), "merges": sum(p["label"] == "merge" for p in pairs)}
    for embedder, model in runs:
        unified, seconds = run(embedder, model, args.threshold)
        report[embedder] = {"seconds": round(seconds, 2), **score(unified, pairs)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"dev set: {report['dev_pairs']} pairs, {report['merges']} merges")
    for embedder, _ in runs:
        figures = report[embedder]
        print(
            f"{embedder}: {figures['seconds']} s; candidate recall "
            f"{figures['all_candidate_recall']}, {figures['candidates_per_entity']} candidates "
            f"per entity (categories {figures['category_candidates_per_entity']}, parts "
            f"{figures['part_candidates_per_entity']}); P {figures['all_precision']} "
            f"R {figures['all_recall']} (categories P {figures['category_precision']} "
            f"R {figures['category_recall']}, parts P {figures['part_precision']} "
            f"R {figures['part_recall']}); review items {figures['review_items']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
