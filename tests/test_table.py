"""schemas.table: a features folder is the versions its manifests commit, and readers read
exactly a committed version's shard files.

Shards are real shard files (``features_schema`` with every registered featurizer's
columns, float16 and uint8 ones included); manifests are built by hand.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from schemas.features import Part, ShardRow, features_schema, shard_table
from schemas.locations import Location
from schemas.reader import ShardReader
from schemas.table import CommitConflict, FeatureTable, NoCommittedVersion
from tests.table_fixtures import manifest

SCHEMA = features_schema()


def shape_row(shape_id: str) -> ShardRow:
    """A real shard row of 5 points, its values drawn from the shape id."""
    rng = np.random.default_rng(list(shape_id.encode()))
    return ShardRow(
        shape_id=shape_id,
        source=shape_id.split("/")[0],
        category_raw="Chair",
        category="chair",
        mesh_sha256=hashlib.sha256(shape_id.encode()).hexdigest(),
        config_hash="c" * 64,
        center=rng.random(3, dtype=np.float32),
        scale=1.5,
        points=rng.random((5, 3), dtype=np.float32),
        normals=rng.random((5, 3), dtype=np.float32),
        face_index=np.arange(5, dtype=np.int32),
        point_part=np.array([0, 0, 1, 1, -1], np.int16),
        parts=(Part("chair_back", "back", 3), Part("leg_01", "leg", 7)),
        features={
            "dino": rng.random((5, 768)).astype(np.float16),
            "rgb": rng.integers(0, 256, (5, 3), dtype=np.uint8),
        },
    )


def write_shard(folder: Path, shape_ids: list[str]) -> str:
    """A shard file of these shapes, named by its shape ids; its name."""
    name = f"part-{hashlib.sha256('|'.join(shape_ids).encode()).hexdigest()[:16]}.parquet"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(shard_table([shape_row(i) for i in shape_ids], SCHEMA), folder / name)
    return name


@pytest.fixture
def two_versions(tmp_path: Path) -> tuple[Path, str, str]:
    """A features folder with two commits: version 1 holds shard A (glb/a1, glb/a2);
    version 2 skips those (cached in A), adds shard B (glb/b1) and a failed input."""
    folder = tmp_path / "features"
    first = write_shard(folder, ["glb/a1", "glb/a2"])
    table = FeatureTable(folder)
    rows = [("glb/a1", "ok", first), ("glb/a2", "ok", first)]
    assert table.commit(manifest(*rows), {"run": 1}) == 1
    second = write_shard(folder, ["glb/b1"])
    rows = [
        ("glb/a1", "skipped_cached", first),
        ("glb/a2", "skipped_cached", first),
        ("glb/b1", "ok", second),
        ("glb/bad", "failed", ""),
    ]
    assert table.commit(manifest(*rows), {"run": 2}) == 2
    return folder, first, second


def shape_ids(reader: ShardReader) -> list[str]:
    return [shape["shape_id"] for shape in reader]


def test_each_commit_is_a_version_that_readers_can_open(two_versions):
    folder, first, second = two_versions
    table = FeatureTable(folder)
    assert table.versions() == [1, 2] and table.latest_version() == 2
    assert sorted(p.name for p in (folder / "_log").iterdir()) == [
        "v000001.parquet",
        "v000002.parquet",
    ]
    assert table.shard_names(1) == [first]
    assert table.shard_names() == sorted([first, second])
    assert [f.name for f in table.shard_files(2)] == sorted([first, second])
    assert table.manifest(1).column("status").to_pylist() == ["ok", "ok"]
    assert table.manifest()["shape_id"].to_pylist() == ["glb/a1", "glb/a2", "glb/b1", "glb/bad"]
    assert table.commit_metadata(1) == {"run": 1} and table.commit_metadata() == {"run": 2}

    latest = ShardReader(folder)
    assert latest.version == 2 and len(latest) == 3
    assert sorted(shape_ids(latest)) == ["glb/a1", "glb/a2", "glb/b1"]
    first_version = ShardReader(folder, version=1)
    assert first_version.version == 1 and shape_ids(first_version) == ["glb/a1", "glb/a2"]
    shape = first_version[1]
    want = shape_row("glb/a2")
    np.testing.assert_array_equal(shape["dino"], want.features["dino"])
    assert shape["dino"].dtype == np.float16 and shape["rgb"].dtype == np.uint8
    item = first_version.torch_dataset()[0]
    assert str(item["dino"].dtype) == "torch.float16" and item["part_names"] == ["back", "leg"]


def test_a_commit_without_shards_is_a_version_holding_nothing(tmp_path: Path):
    folder = tmp_path / "never-written"
    table = FeatureTable(folder)
    assert table.commit(manifest(("glb/x", "failed", "")), {}) == 1
    reader = ShardReader(folder)
    assert reader.version == 1 and len(reader) == 0 and reader.files == []


def test_versions_are_the_version_files_only(two_versions):
    folder, _, _ = two_versions
    log = folder / "_log"
    for stray in (f".v000003.parquet.{'0' * 32}.tmp", "v3.parquet.bak", "vx.parquet", "notes"):
        (log / stray).write_bytes(b"not a manifest")
    table = FeatureTable(folder)
    assert table.versions() == [1, 2]
    assert table.commit(table.manifest(), {"run": 3}) == 3
    assert table.versions() == [1, 2, 3]


def test_a_missing_version_or_commit_is_a_one_line_error(two_versions, tmp_path: Path):
    folder, _, _ = two_versions
    with pytest.raises(NoCommittedVersion, match=r"has no version 7 \(versions: 1\.\.2\)$"):
        FeatureTable(folder).manifest(7)
    with pytest.raises(NoCommittedVersion, match=r"has no version 3 \(versions: 1\.\.2\)$"):
        ShardReader(folder, version=3)
    empty = tmp_path / "empty"
    write_shard(empty, ["glb/a1"])  # shard files without a commit are no table
    for location in (empty, tmp_path / "missing"):
        with pytest.raises(FileNotFoundError) as error:
            ShardReader(location)
        assert str(error.value) == (
            f"no committed version in {location}: run the features pipeline into it first"
        )
        assert isinstance(error.value, NoCommittedVersion)


def test_a_commit_naming_a_missing_shard_is_refused(two_versions):
    folder, first, _ = two_versions
    table = FeatureTable(folder)
    rows = [("glb/a1", "ok", first), ("glb/z", "skipped_cached", "part-00000000deadbeef.parquet")]
    missing = r"names shard files that are not there: part-00000000deadbeef\.parquet$"
    with pytest.raises(CommitConflict, match=missing):
        table.commit(manifest(*rows), {})
    assert table.versions() == [1, 2]
    assert sorted(p.name for p in (folder / "_log").iterdir()) == [
        "v000001.parquet",
        "v000002.parquet",
    ]
    with pytest.raises(ValueError, match="columns"):
        table.commit(manifest(*rows).drop_columns(["warnings"]), {})


def test_a_version_committed_by_another_writer_meanwhile_is_not_overwritten(
    two_versions, monkeypatch: pytest.MonkeyPatch
):
    """Another writer commits version 3 while this one writes its manifest."""
    folder, first, _ = two_versions
    other = manifest(("glb/other", "failed", ""))
    write_table = pq.write_table

    def write_then_other_writer_commits(table, where, **kwargs):
        write_table(table, where, **kwargs)
        write_table(other, folder / "_log" / "v000003.parquet")

    monkeypatch.setattr(pq, "write_table", write_then_other_writer_commits)
    table = FeatureTable(folder)
    with pytest.raises(CommitConflict, match="version 3 was committed by another writer"):
        table.commit(manifest(("glb/a1", "ok", first)), {})
    monkeypatch.undo()
    assert table.manifest(3)["shape_id"].to_pylist() == ["glb/other"]
    assert sorted(p.name for p in (folder / "_log").iterdir())[-1] == "v000003.parquet"
    assert table.unreferenced_files() == []  # the refused commit left no temporary file


def test_uncommitted_and_temporary_files_are_unreferenced_and_never_read(two_versions):
    folder, first, second = two_versions
    orphan = write_shard(folder, ["glb/a1", "glb/c1"])  # a killed run's shard, uncommitted
    leftovers = [
        folder / f".{orphan}.{'a' * 32}.tmp",
        folder / "_log" / f".v000003.parquet.{'b' * 32}.tmp",
    ]
    kept = [folder / "notes.tmp", folder / "_manifest.parquet", folder / "run.json"]
    for file in leftovers + kept:
        file.write_bytes(b"x")
    table = FeatureTable(folder)
    assert table.referenced_shards() == {first, second}
    unreferenced = table.unreferenced_files()
    assert [f.path for f in unreferenced] == sorted(
        [(folder / orphan).as_posix(), *(f.as_posix() for f in leftovers)]
    )
    reader = ShardReader(folder)
    assert sorted(shape_ids(reader)) == ["glb/a1", "glb/a2", "glb/b1"]  # no orphan rows
    for file in unreferenced:
        file.filesystem.delete_file(file.path)
    assert table.unreferenced_files() == []
    assert all(file.exists() for file in kept)
    assert shape_ids(ShardReader(folder, version=1)) == ["glb/a1", "glb/a2"]


def test_a_table_reads_the_same_through_a_uri_and_a_filesystem(two_versions):
    folder, _, _ = two_versions
    want = sorted(shape_ids(ShardReader(folder)))
    by_uri = ShardReader(folder.as_uri())
    assert by_uri.version == 2 and sorted(shape_ids(by_uri)) == want
    assert all(str(f).startswith(folder.as_uri()) for f in by_uri.files)
    subtree = pafs.SubTreeFileSystem(folder.parent.as_posix(), pafs.LocalFileSystem())
    inside = ShardReader("features", filesystem=subtree, version=1)
    assert inside.version == 1 and shape_ids(inside) == ["glb/a1", "glb/a2"]
    assert FeatureTable("features", subtree).versions() == [1, 2]

    uris = [f.uri for f in FeatureTable(folder.as_uri()).shard_files()]
    assert sorted(pl.scan_parquet(uris).select("shape_id").collect()["shape_id"]) == want
    with pytest.raises(ValueError, match="no URI"):
        _ = Location.of("features/x.parquet", subtree).uri


def test_shard_files_given_directly_have_no_version(two_versions):
    folder, first, second = two_versions
    reader = ShardReader([folder / second, folder / first])
    assert reader.version is None and [f.name for f in reader.files] == sorted([first, second])
    assert shape_ids(ShardReader(folder / second)) == ["glb/b1"]
    with pytest.raises(ValueError, match="no version"):
        ShardReader(folder / second, version=1)
