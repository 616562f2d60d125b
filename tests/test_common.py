"""The helpers both sides share, defined once in ``schemas.common``."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from schemas.common import ModelUnavailableError, one_line, write_atomically
from schemas.locations import Location


def test_both_pipelines_raise_and_catch_the_same_model_error():
    from featurizers import weights
    from ontology import embed

    assert weights.ModelUnavailableError is embed.ModelUnavailableError is ModelUnavailableError


@pytest.mark.parametrize(
    ("error", "limit", "expected"),
    [
        (ValueError("bad\n  mesh\tfile"), 300, "bad mesh file"),
        (KeyError(), 300, "KeyError"),
        (OSError("x" * 400), 300, "x" * 300),
        (OSError("x" * 400), None, "x" * 400),
        ("a cell\twith\r\nbreaks", None, "a cell with breaks"),
    ],
)
def test_one_line_puts_a_message_on_one_line(error, limit, expected):
    assert one_line(error, limit) == expected


@pytest.mark.parametrize("spelling", ["path", "file-uri", "mock-filesystem"])
def test_an_atomic_write_leaves_the_whole_file_and_no_temporary(tmp_path, spelling):
    local = pafs.LocalFileSystem()
    folder = {
        "path": f"{tmp_path}/out/features",
        "file-uri": f"file://{tmp_path}/out/features",
        "mock-filesystem": Location.of("bucket/out/features", pafs._MockFileSystem()),
    }[spelling]
    target = Location.of(folder) / "part-00000.parquet"
    table = pa.table({"value": [1, 2, 3]})

    write_atomically(target, lambda stream: stream.write(b"an older run"))
    spelled = target if spelling == "mock-filesystem" else f"{folder}/part-00000.parquet"
    write_atomically(spelled, lambda stream: pq.write_table(table, stream))

    filesystem = target.filesystem
    listed = filesystem.get_file_info(pafs.FileSelector(Location.of(folder).path))
    assert [info.base_name for info in listed] == ["part-00000.parquet"]
    with filesystem.open_input_file(target.path) as handle:
        assert pq.read_table(handle).equals(table)
    if spelling != "mock-filesystem":
        assert local.get_file_info(f"{tmp_path}/out/features/part-00000.parquet").size > 0


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = str(tmp_path / "run.json")
    write_atomically(path, lambda stream: stream.write(b"{}"))

    def half_written(stream):
        stream.write(b'{"half')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, half_written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
    assert (tmp_path / "run.json").read_bytes() == b"{}"
