"""ShapeStream, ShapeMap and collate_shapes on a real features table and a real ontology.

The table is the features pipeline's run on the bundled samples with ``--ontology`` (the
offline ontology of the bundled PartNet vocabulary), in shards of 2 shapes and row
groups of 1, so the 10 shapes lie in 10 row groups over several files. The Find3D
``table lamp`` sample is a category that vocabulary lacks: its three parts keep
``part_uid`` -1, which the unresolved-name tests use.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from pyarrow import fs as pafs
from torch.utils.data import DataLoader

import beam_runner
from schemas.dataset import (
    OntologyText,
    RowGroupSampler,
    ShapeMap,
    ShapeStream,
    collate_shapes,
)
from schemas.reader import ShardReader
from tests.features_output import committed_rows

UNRESOLVED_SHAPE = "find3d/unseen/table_lamp_d4e5f6"


def training_outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(features folder, ontology output)``, built once per test session."""
    root = tmp_path_factory.getbasetemp() / "training-outputs"
    features, ontology = root / "named" / "features", root / "ontology"
    if not (root / "built").exists():
        shutil.rmtree(root, ignore_errors=True)
        assert beam_runner.main([
            "--pipeline", "ontology", "--vocab", "partnet", "--embedder", "lexical",
            "--describer", "template", "--verifier", "rules", "--output", str(ontology),
        ]) == 0  # fmt: skip
        assert beam_runner.main([
            "--pipeline", "features", "--ontology", str(ontology), "--num-points", "128",
            "--shapes-per-shard", "2", "--shapes-per-row-group", "1",
            "--output", str(root / "named"),
        ]) == 0  # fmt: skip
        (root / "built").touch()
    return features, ontology


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return training_outputs(tmp_path_factory)


def shape_ids(features: Path) -> list[str]:
    return sorted(committed_rows(features.parent)["shape_id"].to_list())


def epoch_ids(stream: ShapeStream, num_workers: int = 0) -> list[str]:
    loader = DataLoader(stream, batch_size=2, num_workers=num_workers, collate_fn=collate_shapes)
    return [shape_id for batch in loader for shape_id in batch["shape_id"]]


@pytest.mark.filterwarnings("ignore:This DataLoader will create 3 worker processes")
def test_each_shape_once_per_epoch_over_three_workers_and_two_ranks(outputs):
    features, _ = outputs
    stream_of = {rank: ShapeStream(features, ["point_part"], seed=3, rank=rank, world_size=2)
                 for rank in (0, 1)}  # fmt: skip
    assert len(stream_of[0].shapes.row_groups) == 10 and len(stream_of[0].files) > 1
    for epoch in (0, 1):
        seen = {}
        for rank, stream in stream_of.items():
            stream.set_epoch(epoch)
            seen[rank] = epoch_ids(stream, num_workers=3)
        assert not set(seen[0]) & set(seen[1])
        assert sorted(seen[0] + seen[1]) == shape_ids(features)


def test_order_changes_with_the_epoch_and_repeats_with_the_seed(outputs):
    features, _ = outputs

    def order(seed: int, epoch: int) -> list[str]:
        stream = ShapeStream(features, ["points"], seed=seed)
        stream.set_epoch(epoch)
        return epoch_ids(stream)

    first = order(7, 0)
    assert sorted(first) == shape_ids(features)
    assert order(7, 0) == first
    assert order(7, 1) != first
    assert order(8, 0) != first
    unshuffled = epoch_ids(ShapeStream(features, ["points"], shuffle=False))
    assert unshuffled == [shape["shape_id"] for shape in ShardReader(features, ["shape_id"])]


def test_set_epoch_reaches_persistent_workers(outputs):
    features, _ = outputs
    stream = ShapeStream(features, ["points"], seed=5)
    loader = DataLoader(stream, batch_size=2, num_workers=2, collate_fn=collate_shapes,
                        persistent_workers=True)  # fmt: skip
    orders = []
    for epoch in (0, 1):
        stream.set_epoch(epoch)
        orders.append([shape_id for batch in loader for shape_id in batch["shape_id"]])
    expected = []
    for epoch in (0, 1):
        stream.set_epoch(epoch)
        expected.append(epoch_ids(stream, num_workers=2))
    assert orders == expected and orders[0] != orders[1]


def test_row_group_sampler_orders_an_epoch_row_group_by_row_group(outputs, monkeypatch):
    features, _ = outputs
    dataset = ShapeMap(features, ["points"])
    sampler = RowGroupSampler(dataset, seed=4)
    epochs = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        epochs.append(list(sampler))
    assert sorted(epochs[0]) == list(range(len(dataset))) and epochs[0] != epochs[1]
    sampler.set_epoch(0)
    assert list(sampler) == epochs[0]
    reads = []
    read = dataset.shapes.read
    monkeypatch.setattr(dataset.shapes, "read", lambda group: reads.append(group) or read(group))
    loader = DataLoader(dataset, batch_size=4, sampler=sampler, collate_fn=collate_shapes)
    assert sorted(i for b in loader for i in b["shape_id"]) == shape_ids(features)
    assert sorted(reads, key=lambda g: (g.file, g.group)) == sorted(
        dataset.shapes.row_groups, key=lambda g: (g.file, g.group)
    )  # each row group once


def test_items_hold_the_requested_columns_as_tensors(outputs):
    features, _ = outputs
    item = next(iter(ShapeStream(features, columns=["points", "point_part"], shuffle=False)))
    assert set(item) == {"shape_id", "category", "parts", "part_names_raw", "part_uid",
                         "points", "point_part"}  # fmt: skip
    assert item["points"].shape == (128, 3) and item["points"].dtype == torch.float32
    assert item["point_part"].dtype == torch.int64
    assert item["points"].numpy().flags.writeable  # shared with numpy, no read-only warning


def test_part_embeddings_are_the_ontology_rows_of_the_shapes_part_uids(outputs):
    features, ontology = outputs
    parts = pl.read_parquet(ontology / "ontology" / "parts.parquet")
    categories = pl.read_parquet(ontology / "ontology" / "categories.parquet")
    stream = ShapeStream(features, ["points", "point_part"], ontology=ontology, seed=1)
    loader = DataLoader(stream, batch_size=4, num_workers=2, collate_fn=collate_shapes)
    checked = 0
    for batch in loader:
        for b, shape_id in enumerate(batch["shape_id"]):
            for a in np.flatnonzero(batch["part_embedding_valid"][b].numpy()):
                uid = int(batch["part_uid"][b, a])
                row = parts.row(uid, named=True)
                assert row["part_uid"] == uid and row["name"] == batch["parts"][b][a]
                expected = np.asarray(row["embedding"], dtype=np.float32)
                assert np.array_equal(batch["part_embeddings"][b, a].numpy(), expected)
                checked += 1
            category = batch["category"][b]
            known = categories.filter(pl.col("name") == category)
            if known.height:
                expected = np.asarray(known["embedding"][0], dtype=np.float32)
                assert int(batch["category_uid"][b]) == known["category_uid"][0]
                assert np.array_equal(batch["category_embedding"][b].numpy(), expected)
            else:
                assert shape_id == UNRESOLVED_SHAPE and int(batch["category_uid"][b]) == -1
                assert not batch["category_embedding"][b].any()
    assert checked == 2 + 2 + 2 + 3 + 3 + 2 + 4 + 4 + 2  # every resolved part of 9 shapes


def test_unresolved_parts_become_unlabeled_by_default_and_are_reported(outputs, caplog):
    features, ontology = outputs
    stream = ShapeStream(features, ["point_part"], ontology=ontology, shuffle=False)
    with caplog.at_level(logging.WARNING, logger="schemas.dataset"):
        items = {item["shape_id"]: item for item in stream}
    lamp = items[UNRESOLVED_SHAPE]
    assert lamp["parts"] == [] and lamp["part_embeddings"].shape == (0, OntologyText(ontology).dim)
    assert lamp["unresolved_parts"] == 3 and (lamp["point_part"] == -1).all()
    assert "1 of 10 shapes had parts the ontology did not resolve (3 parts" in caplog.text
    counted = stream.count_unresolved()
    assert counted == {("table lamp", None): 1, ("table lamp", "lamp_base_part"): 1,
                       ("table lamp", "lamp_pole"): 1, ("table lamp", "lamp_shade"): 1}  # fmt: skip
    resolved = items["partnet/1004"]  # the same parts in a lamp the ontology knows
    assert resolved["unresolved_parts"] == 0 and len(resolved["parts"]) == 3


def test_unresolved_parts_kept_with_a_zero_embedding_when_asked(outputs):
    features, ontology = outputs
    stream = ShapeStream(
        features, ["point_part"], ontology=ontology, shuffle=False, unresolved="zero"
    )
    lamp = next(item for item in stream if item["shape_id"] == UNRESOLVED_SHAPE)
    raw = next(s for s in ShardReader(features) if s["shape_id"] == UNRESOLVED_SHAPE)
    assert lamp["parts"] == [part["name"] for part in raw["parts"]] and len(lamp["parts"]) == 3
    assert np.array_equal(lamp["point_part"].numpy(), raw["point_part"])
    assert not lamp["part_embedding_valid"].any() and not lamp["part_embeddings"].any()
    assert lamp["part_uid"].tolist() == [-1, -1, -1]
    with pytest.raises(ValueError, match="unresolved='drop'"):
        ShapeStream(features, ontology=ontology, unresolved="drop")


def test_a_rerun_ontology_is_the_same_but_another_is_refused(outputs, tmp_path):
    features, ontology = outputs
    other = tmp_path / "other"
    shutil.copytree(ontology / "ontology", other / "ontology")
    log = other / "ontology" / "alias_log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    log.write_text("".join(json.dumps({**r, "at": "2030-01-01T00:00:00Z"}) + "\n" for r in records))
    ShapeStream(features, ontology=other)  # only the times differ: the same ontology
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:-1]))  # one alias less
    with pytest.raises(ValueError, match="part_uids index another parts table"):
        ShapeStream(features, ontology=other)


def test_a_uri_or_a_filesystem_reads_the_same_shapes(outputs):
    features, _ = outputs
    by_path = epoch_ids(ShapeStream(features, ["points"], seed=2))
    assert epoch_ids(ShapeStream(features.as_uri(), ["points"], seed=2)) == by_path
    inside = pafs.SubTreeFileSystem(str(features.parent), pafs.LocalFileSystem())
    streamed = ShapeStream("features", ["points"], seed=2, filesystem=inside)
    assert epoch_ids(streamed, num_workers=2) == epoch_ids(
        ShapeStream(features, ["points"], seed=2), num_workers=2
    )


def test_shape_map_reads_each_row_group_of_a_batch_once(outputs, monkeypatch):
    features, ontology = outputs
    dataset = ShapeMap(features, ["points", "point_part"], ontology=ontology)
    reader = list(ShardReader(features, ["shape_id", "points"]))
    assert len(dataset) == len(reader) == 10
    assert dataset[3]["shape_id"] == reader[3]["shape_id"]
    assert np.array_equal(dataset[-1]["points"].numpy(), reader[-1]["points"])
    reads = []
    read = dataset.shapes.read
    monkeypatch.setattr(dataset.shapes, "read", lambda group: reads.append(group) or read(group))
    batch = dataset.__getitems__([9, 0, 5, 0, 4])
    assert [item["shape_id"] for item in batch] == [reader[i]["shape_id"] for i in (9, 0, 5, 0, 4)]
    assert len(reads) == len(set(reads)) <= 4  # at most once each (one may be cached)
    loader = DataLoader(dataset, batch_size=4, shuffle=True, collate_fn=collate_shapes)
    assert sorted(i for b in loader for i in b["shape_id"]) == shape_ids(features)
    with pytest.raises(IndexError):
        dataset[10]


def test_collate_pads_parts_and_builds_masks(outputs):
    features, ontology = outputs
    items = list(ShapeMap(features, ["points", "point_part"], ontology=ontology, unresolved="zero"))
    batch = collate_shapes(items)
    counts = [len(item["parts"]) for item in items]
    assert batch["part_mask"].shape == (10, max(counts), 128)
    assert batch["points"].shape == (10, 128, 3)
    for b, item in enumerate(items):
        for a in range(max(counts)):
            assert bool(batch["part_valid"][b, a]) == (a < counts[b])
            expected = item["point_part"] == a
            assert torch.equal(batch["part_mask"][b, a], expected)
        assert (batch["part_uid"][b, counts[b] :] == -1).all()
        assert not batch["part_embeddings"][b, counts[b] :].any()
    uneven = [dict(items[0]), dict(items[1], points=torch.zeros(64, 3))]
    with pytest.raises(ValueError, match=f"'points' is \\(128, 3\\) in {items[0]['shape_id']}"):
        collate_shapes(uneven)
