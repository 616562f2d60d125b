"""The helpers both sides share, defined once in ``schemas.common``."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from schemas.common import ModelUnavailableError, one_line, write_atomically


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


@pytest.mark.parametrize("kind", ["local", "mock"])
def test_an_atomic_write_leaves_the_whole_file_and_no_temporary(tmp_path, kind):
    if kind == "local":
        filesystem, folder = pafs.LocalFileSystem(), f"{tmp_path}/out/features"
    else:
        filesystem, folder = pafs._MockFileSystem(), "bucket/out/features"
    path = f"{folder}/part-00000.parquet"
    table = pa.table({"value": [1, 2, 3]})

    write_atomically(filesystem, path, lambda stream: stream.write(b"an older run"))
    write_atomically(filesystem, path, lambda stream: pq.write_table(table, stream))

    listed = filesystem.get_file_info(pafs.FileSelector(folder))
    assert [info.base_name for info in listed] == ["part-00000.parquet"]
    with filesystem.open_input_file(path) as handle:
        assert pq.read_table(handle).equals(table)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    filesystem, path = pafs.LocalFileSystem(), f"{tmp_path}/run.json"
    write_atomically(filesystem, path, lambda stream: stream.write(b"{}"))

    def half_written(stream):
        stream.write(b'{"half')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(filesystem, path, half_written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
    assert (tmp_path / "run.json").read_bytes() == b"{}"
