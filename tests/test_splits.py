"""Deterministic splits stored with the features table, and the datasets reading one split."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.dataset import ShapeMap, ShapeStream
from schemas.splits import SplitRule, Splits, hash_fraction, main, read_holdout, write_splits
from tests.test_dataset import shape_ids, training_outputs


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return training_outputs(tmp_path_factory)


def test_a_shape_id_lands_in_the_same_split_whatever_else_is_split():
    rule = SplitRule({"train": 0.8, "val": 0.1, "test": 0.1})
    ids = [f"glb/asset_{i:05d}" for i in range(3000)]
    alone = {shape_id: rule.split_of(shape_id) for shape_id in ids[:50]}
    assert {shape_id: rule.split_of(shape_id) for shape_id in reversed(ids)} | alone == {
        shape_id: rule.split_of(shape_id) for shape_id in ids
    }
    shares = {name: [rule.split_of(i) for i in ids].count(name) / len(ids) for name in rule.ratios}
    assert shares == pytest.approx({"train": 0.8, "val": 0.1, "test": 0.1}, abs=0.025)
    salted = SplitRule(rule.ratios, salt="v2")
    assert [salted.split_of(i) for i in ids] != [rule.split_of(i) for i in ids]
    assert 0 <= hash_fraction("partnet/1001") < 1
    with pytest.raises(ValueError, match="non-negative"):
        SplitRule({"train": -1.0})


def test_holdout_lists_come_first_and_match_whole_ids_or_their_last_component(tmp_path: Path):
    holdout = tmp_path / "holdout_seen.txt"
    holdout.write_text("# Find3D held-out objects\nmug_a1b2c3\n\npartnet/1001\n")
    ids = read_holdout(holdout)
    assert ids == ["mug_a1b2c3", "partnet/1001"]
    rule = SplitRule({"train": 1.0}, holdout={"test": ids})
    assert rule.split_of("find3d/seenclass/mug_a1b2c3") == "test"
    assert rule.split_of("partnet/1001") == "test"
    assert rule.split_of("partnet/1002") == "train"
    with pytest.raises(ValueError, match="'partnet/1001' is in two splits"):
        SplitRule({"train": 1.0}, holdout={"test": ids, "val": ["partnet/1001"]})


def test_a_stored_split_lists_the_versions_shapes_and_leaves_the_log_alone(outputs):
    features, _ = outputs
    log_before = sorted((features / "_log").iterdir())
    rule = SplitRule({"train": 0.5, "val": 0.5}, holdout={"test": ["partnet/1001"]})
    written = write_splits(features, rule, name="halves")
    assert Path(written.path) == features / "_splits" / "halves.parquet"
    assert sorted((features / "_log").iterdir()) == log_before
    stored = Splits.load(features, "halves")
    assert sorted(stored.assigned) == shape_ids(features) and stored.version == 1
    assert all(stored.split_of(i) == rule.split_of(i) for i in stored.assigned)
    assert stored.split_of("glb/added_later") == rule.split_of("glb/added_later")
    assert stored.names() == ["train", "val", "test"]
    with pytest.raises(FileNotFoundError, match="no stored split 'other'"):
        Splits.load(features, "other")


def test_the_datasets_read_one_split_and_all_splits_make_the_version(outputs):
    features, _ = outputs
    write_splits(features, SplitRule({"train": 0.6, "val": 0.4}), name="two")
    stored = Splits.load(features, "two")
    seen = []
    for split in ("train", "val"):
        expected = sorted(i for i, s in stored.assigned.items() if s == split)
        streamed = [item["shape_id"] for item in ShapeStream(features, ["points"], split=split,
                                                             splits="two")]  # fmt: skip
        mapped = [item["shape_id"] for item in ShapeMap(features, ["points"], split=split,
                                                        splits="two")]  # fmt: skip
        assert sorted(streamed) == sorted(mapped) == expected and expected
        seen += streamed
    assert sorted(seen) == shape_ids(features)
    with pytest.raises(ValueError, match="split 'test' is not one of"):
        ShapeStream(features, split="test", splits="two")


def test_command_line_stores_a_split_and_prints_its_counts(outputs, tmp_path, capsys):
    features, _ = outputs
    holdout = tmp_path / "holdout.txt"
    holdout.write_text("partnet/1002\n")
    assert main([str(features), "--name", "cli", "--ratios", "train=1",
                 "--holdout", f"test={holdout}"]) == 0  # fmt: skip
    assert "version 1: train 9, test 1" in capsys.readouterr().out
    assert Splits.load(features, "cli").split_of("partnet/1002") == "test"
    assert main([str(tmp_path / "nothing"), "--name", "x"]) == 2
    assert "no committed version" in capsys.readouterr().err
