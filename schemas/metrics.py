"""Named part segmentation metrics (ALIGN-Parts, section 4 "Metrics"), a library and a CLI.

For one shape: every ground-truth part with at least one labeled point is matched to the
predicted segment of highest IoU with it (ties: the lowest segment id). IoUs count the
labeled points only (``gt_part`` -1 is ignored, predicted or not); a part that no
segment overlaps scores 0.

- ``miou``: the mean of those best IoUs (class-agnostic, as PartField evaluates);
- ``la_miou``: each IoU counts only when the matched segment's name equals the part's
  name (exact string equality), else 0;
- ``rla_miou``: each IoU weighed by the cosine similarity of the two names' text
  embeddings, clipped to [0, 1] (equal names weigh 1), so that
  ``miou >= rla_miou >= la_miou`` always holds. It needs ``similarity``; None without.

A dataset score is the mean over shapes (shapes without a labeled part are left out and
counted); the CLI also gives it per category::

    python -m schemas.metrics PREDICTIONS.parquet OUT/features [--ontology OUT-ONTOLOGY]
        [--version N] [--split test [--splits default]]

A predictions file has one row per shape: ``shape_id`` (string), ``pred_segment``
(list<int>: a segment id per point, in the shard row's point order, -1 for none) and
``pred_names`` (list<string>: the name of segment id i at i). Ground truth is the
table's ``point_part`` and ``parts[].name``. With ``--ontology`` (the ontology the table
was built with), rLA-mIoU compares names by their ``parts.parquet`` embeddings: a name is
looked up as a canonical part of the shape's category, else resolved through the alias
log (``AliasMap``); a predicted name found neither way has similarity 0 and is counted.
A prediction row that does not fit its shape (another point count, a segment without a
name, a shape the table lacks) is reported in one line and left out; the rest is scored.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

#: ``similarity(predicted name, ground-truth name)`` -> cosine of their text embeddings.
Similarity = Callable[[str, str], float]
METRICS = ("miou", "la_miou", "rla_miou")


def part_miou(
    pred_segment: np.ndarray | Sequence[int],
    pred_names: Sequence[str],
    gt_part: np.ndarray | Sequence[int],
    gt_names: Sequence[str],
    similarity: Similarity | None = None,
) -> dict[str, float | None]:
    """mIoU, LA-mIoU and rLA-mIoU of one shape (see the module docstring).

    Args:
        pred_segment: (N,) int, a segment id per point; -1: no segment.
        pred_names: the name of each segment id (``pred_names[s]``).
        gt_part: (N,) int, a ground-truth part index per point; -1: unlabeled, ignored.
        gt_names: the name of each part index.
        similarity: cosine of two names' text embeddings (needed for ``rla_miou``).

    Returns:
        ``{"miou", "la_miou", "rla_miou"}``: means over the shape's labeled parts, NaN when
        it has none; ``rla_miou`` None without ``similarity``.

    Raises:
        ValueError: arrays of different lengths, or an id without a name.
    """
    pred = np.asarray(pred_segment, dtype=np.int64).reshape(-1)
    gt = np.asarray(gt_part, dtype=np.int64).reshape(-1)
    if len(pred) != len(gt):
        raise ValueError(f"{len(pred)} predicted points for {len(gt)} ground-truth points")
    for ids, names, what in ((pred, pred_names, "segment"), (gt, gt_names, "part")):
        if len(ids) and ids.max() >= len(names):
            raise ValueError(f"{what} id {ids.max()} has no name ({len(names)} names)")
    labeled = gt >= 0
    pred, gt = pred[labeled], gt[labeled]
    parts = np.unique(gt)
    if len(parts) == 0:
        nan = float("nan")
        return {"miou": nan, "la_miou": nan, "rla_miou": None if similarity is None else nan}
    segments = np.unique(pred[pred >= 0])
    # (parts, segments) intersections, sizes and unions over the labeled points
    part_row = np.searchsorted(parts, gt)
    covered = pred >= 0
    segment_col = np.searchsorted(segments, pred[covered])
    cells = len(parts) * max(len(segments), 1)
    inter = np.bincount(part_row[covered] * len(segments) + segment_col, minlength=cells)
    inter = inter[: len(parts) * len(segments)].reshape(len(parts), len(segments))
    part_size = np.bincount(part_row, minlength=len(parts))
    segment_size = np.bincount(segment_col, minlength=len(segments))
    union = part_size[:, None] + segment_size[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)
    ious, exact, relaxed = [], [], []
    for row, part in enumerate(parts):
        if len(segments) == 0 or iou[row].max() == 0:
            ious.append(0.0), exact.append(0.0), relaxed.append(0.0)
            continue
        best = int(np.argmax(iou[row]))  # first maximum: the lowest segment id
        score = float(iou[row, best])
        predicted, truth = pred_names[segments[best]], gt_names[part]
        ious.append(score)
        exact.append(score if predicted == truth else 0.0)
        if similarity is not None:
            weight = 1.0 if predicted == truth else min(max(similarity(predicted, truth), 0.0), 1.0)
            relaxed.append(score * weight)
    return {
        "miou": float(np.mean(ious)),
        "la_miou": float(np.mean(exact)),
        "rla_miou": None if similarity is None else float(np.mean(relaxed)),
    }


def mean_scores(scores: Sequence[dict[str, float | None]]) -> dict[str, Any]:
    """The mean of each metric over shapes (NaN shapes, without labeled parts, left out),
    with ``shapes`` (counted) and ``empty`` (left out); a metric some shape lacks is None."""
    kept = [s for s in scores if not math.isnan(s["miou"])]
    result: dict[str, Any] = {"shapes": len(kept), "empty": len(scores) - len(kept)}
    for metric in METRICS:
        values = [s[metric] for s in kept if s[metric] is not None]
        result[metric] = float(np.mean(values)) if values and len(values) == len(kept) else None
    return result


class NameSimilarity:
    """Cosine similarity of part names through the ontology's ``parts.parquet`` embeddings.

    Args:
        ontology: the ontology output folder (``OUT`` or ``OUT/ontology``).

    Attributes:
        unknown: ``(category, name)`` -> times a name was found neither as a canonical
            part of the category nor through the alias log (similarity 0).
    """

    def __init__(self, ontology: str):
        from ontology import AliasMap
        from schemas.dataset import OntologyText

        self.text = OntologyText(ontology)
        self.aliases = AliasMap.load(ontology)
        self._uid = {
            (category, name): uid
            for uid, (category, name) in enumerate(
                zip(self.text.part_categories, self.text.part_names, strict=True)
            )
        }
        self.unknown: Counter = Counter()

    def part_uid(self, category: str, name: str) -> int | None:
        """The ``part_uid`` a name has in a category; None if the ontology does not know it."""
        if (category, name) in self._uid:
            return self._uid[(category, name)]
        try:
            return self.aliases.resolve(category, name).part_uid
        except KeyError:
            return None

    def for_category(self, category: str) -> Similarity:
        """``similarity(predicted, ground truth)`` for names of parts of ``category``."""

        def similarity(predicted: str, truth: str) -> float:
            uids = [self.part_uid(category, name) for name in (predicted, truth)]
            for name, uid in zip((predicted, truth), uids, strict=True):
                if uid is None:
                    self.unknown[(category, name)] += 1
            if None in uids:
                return 0.0
            a, b = (self.text.part_embeddings[uid] for uid in uids)
            return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

        return similarity


def evaluate(
    predictions: str,
    features: str,
    ontology: str | None = None,
    version: int | None = None,
    split: str | None = None,
    splits: str = "default",
) -> tuple[dict[str, list[dict]], list[str]]:
    """Score a predictions file against a features table.

    Returns:
        category -> the per-shape scores of its shapes, and the one-line problems (rows
        left out, names the ontology did not know).
    """
    import pyarrow.parquet as pq

    from schemas.locations import Location
    from schemas.reader import ShardReader

    file = Location.of(predictions)
    table = pq.read_table(
        file.path, columns=["shape_id", "pred_segment", "pred_names"], filesystem=file.filesystem
    )
    predicted = {row["shape_id"]: row for row in table.to_pylist()}
    similarity = NameSimilarity(ontology) if ontology else None
    stored = None
    if split is not None:
        from schemas.splits import Splits

        stored = Splits.load(features, splits)
    by_category: dict[str, list[dict]] = defaultdict(list)
    problems: list[str] = []
    found: set[str] = set()
    columns = ["shape_id", "category", "point_part", "parts"]
    for shape in ShardReader(features, columns=columns, version=version):
        shape_id = shape["shape_id"]
        if shape_id not in predicted or (stored and stored.split_of(shape_id) != split):
            continue
        found.add(shape_id)
        row = predicted[shape_id]
        category = shape["category"]
        try:
            scores = part_miou(
                row["pred_segment"] or [],
                row["pred_names"] or [],
                shape["point_part"],
                [part["name"] for part in shape["parts"]],
                similarity.for_category(category) if similarity else None,
            )
        except ValueError as error:
            problems.append(f"{predictions}: {shape_id}: {error}")
            continue
        by_category[category].append(scores)
    for shape_id in sorted(set(predicted) - found):
        if stored is None or stored.split_of(shape_id) == split:
            problems.append(f"{predictions}: {shape_id}: not in {features}")
    if similarity is not None:
        for (category, name), count in sorted(similarity.unknown.items()):
            problems.append(
                f"{ontology}: {category}/{name!r} is not in the ontology: similarity 0 "
                f"({count} comparisons)"
            )
    return dict(by_category), problems


def format_table(by_category: dict[str, list[dict]]) -> str:
    """A Markdown table: one row per category and ``all`` (means over shapes)."""
    rows = [(name, mean_scores(scores)) for name, scores in sorted(by_category.items())]
    rows.append(("all", mean_scores([s for scores in by_category.values() for s in scores])))
    lines = [
        "| category | shapes | mIoU | LA-mIoU | rLA-mIoU |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, means in rows:
        cells = ["-" if means[m] is None else f"{means[m]:.4f}" for m in METRICS]
        lines.append(f"| {name} | {means['shapes']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m schemas.metrics",
        description="mIoU, LA-mIoU and rLA-mIoU of predictions against a features table.",
    )
    parser.add_argument("predictions", help="Parquet: shape_id, pred_segment, pred_names")
    parser.add_argument("features", help="the features folder (OUT/features), local or a URI")
    parser.add_argument("--ontology", help="the ontology output the table was built with")
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--split", default=None, help="score only this split's shapes")
    parser.add_argument("--splits", default="default", help="the stored split to use")
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        by_category, problems = evaluate(
            args.predictions, args.features, args.ontology, args.version, args.split, args.splits
        )
    except (OSError, ValueError, KeyError) as error:
        print(f"schemas.metrics: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(format_table(by_category))
    return 0 if by_category else 1


if __name__ == "__main__":
    sys.exit(main())
