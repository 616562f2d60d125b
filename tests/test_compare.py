"""schemas.compare: two features tables hold the same data, provenance aside."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.compare import compare_outputs
from tests.table_fixtures import commit_shards

SHARD = "part-0000000000000001.parquet"


def write(folder, name: str, points: list[float], run: str, extra: bytes = b"1") -> None:
    schema = pa.schema(
        [("shape_id", pa.string()), ("points", pa.float32())],
        metadata={b"partbank.run": run.encode(), b"partbank.schema_version": extra},
    )
    table = pa.table({"shape_id": ["a/1", "a/2"], "points": points}, schema=schema)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)


def test_runs_that_differ_only_in_provenance_are_equal(tmp_path):
    for run in ("a", "b"):
        write(tmp_path / run / "features", SHARD, [1.0, 2.0], run)
        commit_shards(tmp_path / run / "features", {SHARD: ["a/1", "a/2"]}, {"run": run})
    assert compare_outputs(tmp_path / "a", tmp_path / "b" / "features") == {
        "_log/v000001.parquet": [],
        SHARD: [],
    }


def test_a_changed_value_metadata_or_shard_is_named(tmp_path):
    other = "part-0000000000000002.parquet"
    write(tmp_path / "a", SHARD, [1.0, 2.0], "a")
    write(tmp_path / "a", other, [0.0, 0.0], "a")
    write(tmp_path / "a", "part-00000000000000ff.parquet", [0.0, 0.0], "a")  # uncommitted
    commit_shards(tmp_path / "a", {SHARD: ["a/1", "a/2"]})
    commit_shards(tmp_path / "a", {SHARD: ["a/1", "a/2"], other: ["a/3", "a/4"]})
    write(tmp_path / "b", SHARD, [1.0, 2.5], "b", extra=b"2")
    commit_shards(tmp_path / "b", {SHARD: ["a/1", "a/2"]})
    differences = compare_outputs(tmp_path / "a", tmp_path / "b")
    assert differences == {
        "_log/v000002.parquet": ["4 rows vs 2"],
        other: [f"not in {tmp_path / 'b'}'s latest version"],
        SHARD: [
            "schema metadata differs (provenance aside)",
            "row 1 (a/2): column points differs",
        ],
    }
    assert compare_outputs(tmp_path / "a", tmp_path / "b", frozenset({"points"})) == {
        **differences,
        SHARD: ["schema metadata differs (provenance aside)"],
    }


def test_folders_without_a_committed_version_are_not_equal(tmp_path):
    write(tmp_path / "a", SHARD, [1.0, 2.0], "a")
    assert compare_outputs(tmp_path / "a", tmp_path / "a") == {
        "": [f"no committed version in {tmp_path / 'a'}: run the features pipeline into it first"]
    }
