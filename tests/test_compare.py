"""schemas.compare: two features folders hold the same data, provenance aside."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.compare import compare_outputs


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
        write(tmp_path / run / "features", "part-00000-of-00001.parquet", [1.0, 2.0], run)
    assert compare_outputs(tmp_path / "a", tmp_path / "b" / "features") == {
        "part-00000-of-00001.parquet": []
    }


def test_a_changed_value_metadata_or_file_is_named(tmp_path):
    write(tmp_path / "a", "part-00000-of-00001.parquet", [1.0, 2.0], "a")
    write(tmp_path / "b", "part-00000-of-00001.parquet", [1.0, 2.5], "b", extra=b"2")
    write(tmp_path / "a", "_manifest.parquet", [0.0, 0.0], "a")
    differences = compare_outputs(tmp_path / "a", tmp_path / "b")
    assert differences == {
        "_manifest.parquet": [f"missing from {tmp_path / 'b'}"],
        "part-00000-of-00001.parquet": [
            "schema metadata differs (beyond partbank.run)",
            "row 1 (a/2): column points differs",
        ],
    }
    assert compare_outputs(tmp_path / "a", tmp_path / "b", frozenset({"points"})) == {
        **differences,
        "part-00000-of-00001.parquet": ["schema metadata differs (beyond partbank.run)"],
    }


def test_two_empty_folders_are_not_equal(tmp_path):
    assert all(compare_outputs(tmp_path, tmp_path).values())
