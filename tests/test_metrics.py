"""mIoU, LA-mIoU and rLA-mIoU on hand-computed cases, and the CLI on a real features table."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.metrics import NameSimilarity, format_table, main, mean_scores, part_miou
from schemas.reader import ShardReader
from tests.test_dataset import training_outputs


def cosine(table: dict[frozenset, float]):
    return lambda a, b: table[frozenset((a, b))]


def test_the_papers_relaxed_match_example_gets_partial_credit():
    # a monitor: points 0-3 are the screen, 4-5 the stand; the prediction finds both
    # segments but names the screen "monitor"; cos(monitor, screen) = 0.8
    scores = part_miou(
        pred_segment=[0, 0, 0, 1, 1, 1],
        pred_names=["monitor", "stand"],
        gt_part=[0, 0, 0, 0, 1, 1],
        gt_names=["screen", "stand"],
        similarity=cosine({frozenset(("monitor", "screen")): 0.8}),
    )
    # screen: best segment 0, IoU 3/4, named wrong; stand: segment 1, IoU 2/3, named right
    assert scores["miou"] == pytest.approx((3 / 4 + 2 / 3) / 2)
    assert scores["la_miou"] == pytest.approx((0 + 2 / 3) / 2)
    assert scores["rla_miou"] == pytest.approx((0.8 * 3 / 4 + 2 / 3) / 2)


def test_unlabeled_points_are_ignored_and_uncovered_parts_score_zero():
    scores = part_miou(
        pred_segment=[5, 5, 5, 5, -1, -1],
        pred_names={5: "seat"} | {i: "-" for i in range(5)},
        gt_part=[0, 0, -1, -1, 1, 1],
        gt_names=["seat", "leg"],
    )
    # seat: segment 5 over the labeled points {0, 1} is exactly the seat (the points
    # predicted on unlabeled points do not count); leg: no segment -> 0
    assert scores == {"miou": 0.5, "la_miou": 0.5, "rla_miou": None}


def test_ties_go_to_the_lowest_segment_id_and_negative_cosines_give_no_credit():
    scores = part_miou(
        pred_segment=[2, 1, 3, 3],
        pred_names=["", "arm", "leg", "back"],
        gt_part=[0, 0, 1, 1],
        gt_names=["leg", "back"],
        similarity=cosine({frozenset(("arm", "leg")): -0.4}),
    )
    # leg ties between segments 1 and 2 (IoU 1/2 each): segment 1 "arm" is taken
    assert scores["miou"] == pytest.approx(0.75)
    assert scores["la_miou"] == pytest.approx(0.5)
    assert scores["rla_miou"] == pytest.approx(0.5)


def test_a_shape_without_labeled_points_has_no_score_and_means_leave_it_out():
    empty = part_miou([0, 0], ["a"], [-1, -1], ["a"], similarity=lambda a, b: 1.0)
    assert np.isnan(empty["miou"])
    full = part_miou([0, 0], ["a"], [0, 0], ["a"], similarity=lambda a, b: 1.0)
    assert full == {"miou": 1.0, "la_miou": 1.0, "rla_miou": 1.0}
    means = mean_scores([empty, full, part_miou([0, 1], ["a", "b"], [0, 0], ["b"])])
    assert means["shapes"] == 2 and means["empty"] == 1
    assert means["miou"] == pytest.approx(0.75) and means["rla_miou"] is None
    with pytest.raises(ValueError, match="3 predicted points for 2"):
        part_miou([0, 0, 0], ["a"], [0, 0], ["a"])
    with pytest.raises(ValueError, match="segment id 1 has no name"):
        part_miou([0, 1], ["a"], [0, 0], ["a"])


def test_miou_bounds_rla_which_bounds_la_on_random_shapes():
    rng = np.random.default_rng(12)
    names = ["back", "seat", "leg", "arm", "base"]
    weights = rng.uniform(-1, 1, (5, 5))
    similarity = lambda a, b: weights[names.index(a), names.index(b)]  # noqa: E731
    for _ in range(200):
        n = int(rng.integers(1, 60))
        gt = rng.integers(-1, 4, n)
        pred = rng.integers(-1, 6, n)
        scores = part_miou(pred, list(rng.choice(names, 6)), gt, names[:4], similarity)
        if np.isnan(scores["miou"]):
            continue
        assert scores["miou"] + 1e-12 >= scores["rla_miou"] >= scores["la_miou"] - 1e-12


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return training_outputs(tmp_path_factory)


def test_cli_scores_a_predictions_file_per_category(outputs, tmp_path, capsys):
    features, ontology = outputs
    rows, expected = [], {}
    similarity = NameSimilarity(str(ontology))
    for shape in ShardReader(features, ["shape_id", "category", "point_part", "parts"]):
        truth = [part["name"] for part in shape["parts"]]
        if not truth:
            continue
        # every part found, the first one merged with its neighbour and named "leg"
        segment = np.where(shape["point_part"] == 1, 0, shape["point_part"]).astype(int)
        named = ["leg", *truth[1:]]
        rows.append({"shape_id": shape["shape_id"], "pred_segment": segment.tolist(),
                     "pred_names": named})  # fmt: skip
        scores = part_miou(
            segment, named, shape["point_part"], truth, similarity.for_category(shape["category"])
        )
        expected.setdefault(shape["category"], []).append(scores)
    rows.append({"shape_id": "partnet/404", "pred_segment": [0], "pred_names": ["x"]})
    rows.append({**rows[0], "pred_segment": rows[0]["pred_segment"][:5]})  # a broken row
    predictions = tmp_path / "predictions.parquet"
    pq.write_table(pa.Table.from_pylist(rows[1:]), predictions)
    code = main([str(predictions), str(features), "--ontology", str(ontology)])
    out, err = capsys.readouterr()
    assert code == 0
    del expected[next(iter(expected))][0]  # the broken row's shape is left out
    assert out.strip() == format_table({name: found for name, found in expected.items() if found})
    assert "partnet/404: not in" in err and "5 predicted points for 128" in err
    table = pl.DataFrame(
        [line.strip("|").split("|") for line in out.splitlines()[2:]], orient="row"
    ).select(pl.all().str.strip_chars())
    overall = table.row(table.height - 1)
    assert overall[0] == "all" and int(overall[1]) == len(rows) - 3  # 404, broken, its shape
    miou, la, rla = (float(value) for value in overall[2:])
    assert miou >= rla >= la and la < miou
