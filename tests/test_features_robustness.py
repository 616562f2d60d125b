"""The features pipeline on hostile inputs: invalid text, shared shape ids, bad side tables.

Each case is built in its source's real on-disk format. A bad input costs its own row at
most: the run completes, the manifest and the run file are written, and every good shape
of the same run is in the shards.
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import trimesh

import beam_runner
from featurizers.names import is_valid_text
from featurizers.sampling import sample_shape
from featurizers.shapes import MeshPiece, ShapeRecord
from pipelines import sample_data
from pipelines.sinks import ManifestEntry, WriteShards, manifest_table, write_json
from pipelines.sources import SourceInput
from pipelines.stages import SampledShape, ShapeTask, ShardKey, ToShardRow
from schemas.features import features_schema, shard_table
from schemas.reader import ShardReader
from schemas.table import FeatureTable
from tests.features_output import latest_manifest


def run_features(*args: str) -> int:
    return beam_runner.main(["--pipeline", "features", *args])


def read_outputs(out: Path) -> tuple[pl.DataFrame, list[dict], dict]:
    """The latest committed manifest, the shard rows and the run file of a features run."""
    manifest = latest_manifest(out)
    shapes = list(ShardReader(out / "features"))
    run = json.loads((out / "features_run.json").read_text())
    return manifest, shapes, run


def assert_good_shapes_written(manifest: pl.DataFrame, shapes: list[dict], good: set[str]):
    ok = manifest.filter(pl.col("status") == "ok")
    assert good <= set(ok["shape_id"])
    assert sorted(s["shape_id"] for s in shapes) == sorted(ok["shape_id"])


def assert_counts_agree(manifest: pl.DataFrame, run: dict) -> None:
    kept = manifest.filter(pl.col("status").is_in(["ok", "skipped_cached"]))
    warned = kept["warnings"].list.len()
    assert run["counts"] == {
        "ok": manifest.filter(pl.col("status") == "ok").height,
        "skipped_cached": manifest.filter(pl.col("status") == "skipped_cached").height,
        "failed": manifest.filter(pl.col("status") == "failed").height,
        "with_warnings": int((warned > 0).sum()),
    }
    assert run["warnings"] == int(warned.sum())


def first_leaf(node: dict) -> dict:
    """The first node of a PartNet hierarchy that lists objs."""
    if "objs" in node:
        return node
    return first_leaf(node["children"][0])


def test_a_lone_surrogate_in_a_partnet_name_costs_nothing_else(tmp_path):
    folder = tmp_path / "data_v0"
    sample_data.write_partnet(folder, "101", "Chair", sample_data.chair())
    sample_data.write_partnet(folder, "102", "Table", sample_data.table())
    bad = sample_data.write_partnet(folder, "103", "Lamp", sample_data.lamp())
    document = json.loads((bad / "result.json").read_text())
    first_leaf(document[0])["name"] = "base\udc80"
    (bad / "result.json").write_text(json.dumps(document))  # written as "base\udc80"
    assert '"base\\udc80"' in (bad / "result.json").read_text()

    out = tmp_path / "out"
    assert run_features("--source", "partnet", "--input", str(folder), "--output", str(out)) == 0
    manifest, shapes, run = read_outputs(out)
    assert manifest.height == 3
    assert_good_shapes_written(manifest, shapes, {"partnet/101", "partnet/102", "partnet/103"})
    lamp = next(s for s in shapes if s["shape_id"] == "partnet/103")
    names = [part["name_raw"] for part in lamp["parts"]]
    assert all(is_valid_text(name) for name in names)
    assert any("base\\udc80" in name for name in names)  # kept, escaped
    warnings = dict(zip(manifest["shape_id"], manifest["warnings"].to_list(), strict=True))
    assert warnings["partnet/103"] and not warnings["partnet/101"]
    assert_counts_agree(manifest, run)


def test_non_utf8_file_and_folder_names_cost_nothing_else(tmp_path):
    root = tmp_path / "assets"
    sample_data.write_glb(root / "chair.glb", sample_data.chair())
    sample_data.write_glb(
        Path(os.fsdecode(os.fsencode(root) + b"/caf\xe9/mug.glb")), sample_data.mug()
    )
    sample_data.write_glb(
        Path(os.fsdecode(os.fsencode(root) + b"/l\xe4mp.glb")), sample_data.lamp()
    )

    out = tmp_path / "out"
    assert run_features("--source", "glb", "--input", str(root), "--output", str(out)) == 0
    manifest, shapes, run = read_outputs(out)
    assert manifest.height == 3 and (manifest["status"] == "ok").all()
    assert_good_shapes_written(manifest, shapes, {"glb/chair"})
    for column in ("shape_id", "uri"):
        assert all(is_valid_text(text) for text in manifest[column])
    warned = manifest.filter(pl.col("warnings").list.len() > 0)["shape_id"].to_list()
    assert sorted(warned) == sorted(i for i in manifest["shape_id"] if i != "glb/chair")
    assert_counts_agree(manifest, run)


def test_invalid_names_are_escaped_where_rows_are_built_and_reported(tmp_path):
    """A record whose names a source let through unescaped still makes a valid row."""
    pieces = tuple(
        MeshPiece(trimesh.creation.box(bounds=[(k, 0, 0), (k + 0.5, 1, 1)]), part=k)
        for k in range(2)
    )
    names = ("seat", "leg\udc80")
    warnings = ("texture dropped",)
    record = ShapeRecord("glb/box", "glb", "b\udcffx", names, pieces, warnings=warnings)
    task = ShapeTask(ShardKey("new/00000", 1), SourceInput("glb/box", "/data/box\udcff.glb"))
    to_row = ToShardRow("hash", None)
    to_row.setup()
    ((shard, item),) = to_row.process(SampledShape(task, record, sample_shape(record, 64)))

    schema = features_schema()
    writer = WriteShards(
        str(tmp_path), str(tmp_path / "views"), schema, partial(shard_table, schema=schema), 4, "h"
    )
    writer.start_bundle()
    (entry,) = writer.process((shard, item))  # the shard's one row: written at once
    (row,) = pq.read_table(tmp_path / entry.shard).to_pylist()
    assert row["category_raw"] == "b\\udcffx"
    assert [part["name_raw"] for part in row["parts"]] == ["seat", "leg\\udc80"]
    assert entry.status == "ok" and entry.warnings[0] == "texture dropped"
    assert any("leg\\udc80" in warning for warning in entry.warnings[1:])

    FeatureTable(tmp_path).commit(manifest_table([entry]), {})
    (manifest_row,) = pl.from_arrow(FeatureTable(tmp_path).manifest()).to_dicts()
    assert manifest_row["uri"] == "/data/box\\udcff.glb"
    assert manifest_row["warnings"] == list(entry.warnings)


def test_manifest_and_run_file_take_raw_invalid_text(tmp_path):
    shard = "part-0000000000000000.parquet"
    entries = [
        ManifestEntry("glb/ok", "/d/ok.glb", "ok", shard=shard),
        ManifestEntry("glb/b\udc80d", "/d/b\udc80d.glb", "failed", "load: bad name \udc80"),
        ManifestEntry("glb/w", "/d/w.glb", "ok", shard=shard, warnings=("name \udcff escaped",)),
    ]
    pq.write_table(features_schema().empty_table(), tmp_path / shard)  # the committed shard
    FeatureTable(tmp_path).commit(manifest_table(entries), {})
    manifest = pl.from_arrow(FeatureTable(tmp_path).manifest())
    assert manifest["shape_id"].to_list() == ["glb/b\\udc80d", "glb/ok", "glb/w"]
    assert manifest["error"][0] == "load: bad name \\udc80"
    assert manifest["warnings"][2].to_list() == ["name \\udcff escaped"]

    write_json(str(tmp_path / "run.json"), {"input": "/d/b\udc80d"})
    assert json.loads((tmp_path / "run.json").read_text()) == {"input": "/d/b\udc80d"}


def folders_sharing_a_shape_id(root: Path) -> tuple[Path, Path]:
    """Two glb folders: ``first`` (mug, lamp) and ``second`` (mug, chair): ``glb/mug`` twice."""
    first, second = root / "first", root / "second"
    sample_data.write_glb(first / "mug.glb", sample_data.mug())
    sample_data.write_glb(first / "lamp.glb", sample_data.lamp())
    sample_data.write_glb(second / "mug.glb", sample_data.mug())
    sample_data.write_glb(second / "chair.glb", sample_data.chair())
    return first, second


def test_inputs_sharing_a_shape_id_fail_alone(tmp_path):
    first, second = folders_sharing_a_shape_id(tmp_path)
    out = tmp_path / "out"
    args = ["--source", "glb", "--input", str(first), "--source", "glb", "--input", str(second)]
    assert run_features(*args, "--output", str(out)) == 0
    manifest, shapes, run = read_outputs(out)
    failed = manifest.filter(pl.col("status") == "failed")
    assert failed["shape_id"].to_list() == ["glb/mug", "glb/mug"]
    assert sorted(failed["uri"]) == sorted([str(first / "mug.glb"), str(second / "mug.glb")])
    for reason in failed["error"]:
        assert "share the shape id glb/mug" in reason and "\n" not in reason
    assert_good_shapes_written(manifest, shapes, {"glb/lamp", "glb/chair"})
    assert run["inputs"] == 4 and run["counts"]["failed"] == 2


@pytest.mark.parametrize(
    "metadata",
    ['path,category\n"mug.glb,mug\n', "file,category\nmug.glb,mug\n"],
    ids=["unterminated-quote", "no-path-column"],
)
def test_a_malformed_metadata_csv_is_a_usage_error(metadata, tmp_path, capsys):
    folder = tmp_path / "assets"
    sample_data.write_glb(folder / "mug.glb", sample_data.mug())
    (folder / "metadata.csv").write_text(metadata)
    out = tmp_path / "out"
    assert run_features("--source", "glb", "--input", str(folder), "--output", str(out)) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "metadata.csv" in line
    assert not out.exists()
