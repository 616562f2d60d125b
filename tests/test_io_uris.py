"""One IO layer: the Beam-free readers take local paths, URIs and any pyarrow filesystem.

Each reader reads the same real files three ways: from a ``file://`` URI, from fsspec's
in-memory filesystem (by ``memory://`` URI and as a pyarrow ``PyFileSystem``) and from
pyarrow's own mock filesystem (``filesystem=``: ``mock://`` URIs each open a new one).
Feature shards are read as a committed version of their folder's table (``_log/``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from ontology import AliasMap
from ontology.cache import JsonCache
from ontology.unify import unify
from ontology.vocabulary import BUNDLED_DIR, VocabularyError, VocabularySpec, read_vocabulary
from schemas.locations import Location
from schemas.reader import ShardReader
from tests.ontology_helpers import offline_config
from tests.table_fixtures import commit_shards

_POINT = pa.list_(pa.float32(), 3)
_PART = pa.struct([("name_raw", pa.string()), ("name", pa.string()), ("part_uid", pa.int32())])


@pytest.fixture
def memory_root(request: pytest.FixtureRequest) -> Iterator[str]:
    """A folder of fsspec's process-wide in-memory filesystem, removed afterwards."""
    root = f"/{request.node.name.replace('[', '_').replace(']', '')}"
    memory = fsspec.filesystem("memory")
    yield root
    if memory.exists(root):
        memory.rm(root, recursive=True)


def _in_memory() -> pafs.FileSystem:
    return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem("memory")))


def _copy(local: Path, filesystem: pafs.FileSystem, path: str) -> None:
    """Copy a local file or folder to ``path`` in ``filesystem``."""
    filesystem.create_dir(path.rsplit("/", 1)[0] if local.is_file() else path, recursive=True)
    if local.is_dir():
        for sub in sorted(p for p in local.rglob("*") if p.is_dir()):
            filesystem.create_dir(f"{path}/{sub.relative_to(local).as_posix()}", recursive=True)
    pafs.copy_files(
        str(local),
        path,
        source_filesystem=pafs.LocalFileSystem(),
        destination_filesystem=filesystem,
    )


def _elsewhere(local: Path, how: str, memory_root: str) -> tuple[str, pafs.FileSystem | None]:
    """``local`` as a reader is given it: a ``file://`` URI, a ``memory://`` URI, or a path
    in the in-memory or mock filesystem (with that filesystem)."""
    if how == "file-uri":
        return local.resolve().as_uri(), None
    path = f"{memory_root}/{local.name}"
    filesystem = pafs._MockFileSystem() if how == "mock" else _in_memory()
    _copy(local, filesystem, path.lstrip("/") if how == "mock" else path)
    if how == "memory-uri":
        return f"memory://{path}", None
    return (path.lstrip("/") if how == "mock" else path), filesystem


HOW = ("file-uri", "memory-uri", "memory-filesystem", "mock")


def _write_shards(folder: Path) -> list[dict]:
    """Two real feature shards (the columns the reader and the shards vocabulary need),
    committed as version 1 of the folder's table."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    shapes = []
    shards = (["partnet/1", "partnet/2"], ["glb/chair"])
    for shard, ids in enumerate(shards):
        points = [rng.random((4 + i, 3), dtype=np.float32) for i in range(len(ids))]
        parts = [[{"name_raw": "chair/chair_back/back", "name": "back", "part_uid": 3}]] * len(ids)
        table = pa.table(
            {
                "shape_id": ids,
                "source": [shape_id.split("/")[0] for shape_id in ids],
                "category_raw": ["Chair"] * len(ids),
                "points": pa.array([p.tolist() for p in points], pa.list_(_POINT)),
                "parts": pa.array(parts, pa.list_(_PART)),
            }
        )
        pq.write_table(table, folder / f"part-{shard:016x}.parquet", row_group_size=1)
        shapes.extend({"shape_id": s, "points": p} for s, p in zip(ids, points, strict=True))
    commit_shards(folder, {f"part-{k:016x}.parquet": ids for k, ids in enumerate(shards)})
    return shapes


@pytest.mark.parametrize("how", HOW)
def test_shard_reader_reads_shards_from_uris_and_filesystems(
    tmp_path: Path, memory_root: str, how: str
) -> None:
    expected = _write_shards(tmp_path / "features")
    location, filesystem = _elsewhere(tmp_path / "features", how, memory_root)
    reader = ShardReader(location, filesystem=filesystem)
    assert len(reader) == 3 and reader.version == 1
    assert [f.name for f in reader.files] == [
        "part-0000000000000000.parquet",
        "part-0000000000000001.parquet",
    ]
    for shape, want in zip(reader, expected, strict=True):
        assert shape["shape_id"] == want["shape_id"]
        np.testing.assert_array_equal(shape["points"], want["points"])
    assert reader[2]["shape_id"] == "glb/chair"
    one_file = ShardReader(f"{location}/part-0000000000000001.parquet", filesystem=filesystem)
    assert [shape["shape_id"] for shape in one_file] == ["glb/chair"]


def test_shard_reader_of_a_missing_folder_raises_file_not_found(memory_root: str) -> None:
    with pytest.raises(
        FileNotFoundError, match=f"no committed version in memory://{memory_root}/nothing"
    ):
        ShardReader(f"memory://{memory_root}/nothing")


def _alias_log(folder: Path) -> Path:
    """A real alias log: the offline ontology of a small vocabulary, unified without Beam."""
    csv = folder / "names.csv"
    csv.write_text("dataset,category,part\na,Chair,chair_back\nb,chair,back\na,Chair,leg\n")
    config, vocabulary = offline_config([f"generic={csv}"], folder / "cache")
    outputs = unify(vocabulary, config, "2026-01-01T00:00:00+00:00").outputs
    (folder / "out" / "ontology").mkdir(parents=True)
    (folder / "out" / "ontology" / "alias_log.jsonl").write_text(outputs.alias_log_text() + "\n")
    return folder / "out"


@pytest.mark.parametrize("how", HOW)
def test_alias_map_loads_from_uris_and_filesystems(
    tmp_path: Path, memory_root: str, how: str
) -> None:
    output = _alias_log(tmp_path)
    local = AliasMap.load(output)
    location, filesystem = _elsewhere(output, how, memory_root)
    for path in (location, f"{location}/ontology", f"{location}/ontology/alias_log.jsonl"):
        aliases = AliasMap.load(path, filesystem)
        assert aliases.resolve("chair", "back") == local.resolve("Chair", "chair_back")
        assert aliases.resolve_parts("Chair", ["leg"]) == local.resolve_parts("Chair", ["leg"])
    with pytest.raises(FileNotFoundError, match=f"no alias log at {location}/nowhere"):
        AliasMap.load(f"{location}/nowhere", filesystem)


@pytest.mark.parametrize("how", HOW)
def test_vocabularies_read_from_uris_and_filesystems(
    tmp_path: Path, memory_root: str, how: str
) -> None:
    for name in ("partnet", "3dcompat"):
        location, filesystem = _elsewhere(BUNDLED_DIR / name, how, memory_root)
        local = read_vocabulary(VocabularySpec.parse(name))
        elsewhere = read_vocabulary(VocabularySpec(name, location), filesystem)
        assert local.height > 100
        assert elsewhere.equals(local)
    _write_shards(tmp_path / "features")
    location, filesystem = _elsewhere(tmp_path / "features", how, memory_root)
    shards = read_vocabulary(VocabularySpec("shards", location), filesystem)
    assert shards.sort("dataset").rows() == [
        ("glb", "Chair", "back", "chair/chair_back/back", 1),
        ("partnet", "Chair", "back", "chair/chair_back/back", 2),
    ]


def test_an_unknown_uri_scheme_is_a_one_line_vocabulary_error() -> None:
    with pytest.raises(VocabularyError, match=r"--vocab partnet=nope://x/y: .*unknown filesystem"):
        read_vocabulary(VocabularySpec("partnet", "nope://x/y"))


def test_the_gemini_cache_lives_under_a_uri(memory_root: str) -> None:
    cache = JsonCache(f"memory://{memory_root}/cache")
    cache.put("ab" + "0" * 62, {"description": "the seat of a chair"})
    again = JsonCache(f"memory://{memory_root}/cache")
    assert again.get("ab" + "0" * 62) == {"description": "the seat of a chair"}
    assert again.get("cd" + "0" * 62) is None
    assert fsspec.filesystem("memory").exists(f"{memory_root}/cache/ab/ab{'0' * 62}.json")


def test_locations_keep_the_spelling_they_were_given(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.txt").write_text("x")
    uri = tmp_path.resolve().as_uri()
    (found,) = Location.of(uri).glob("*.txt", recursive=True)
    assert str(found) == f"{uri}/a/b.txt" and found.read_text() == "x"
    assert found.parent_name == "a" and found.stem == "b"
    assert Location.of(tmp_path / "a").path == (tmp_path / "a").absolute().as_posix()
    assert not Location.of(f"{uri}/missing").exists()


def test_features_pipeline_takes_its_ontology_from_a_uri(
    tmp_path: Path, memory_root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--ontology URI``: checked before the run, loaded by the workers (in-process here)."""
    import beam_runner

    config, vocabulary = offline_config(["partnet", "3dcompat"], tmp_path / "cache")
    log_text = unify(vocabulary, config, "2026-01-01T00:00:00+00:00").outputs.alias_log_text()
    fsspec.filesystem("memory").pipe(
        f"{memory_root}/onto/ontology/alias_log.jsonl", log_text.encode()
    )
    uri = f"memory://{memory_root}/onto"
    args = ["--pipeline", "features", "--limit", "3", "--ontology", uri]
    assert beam_runner.main([*args, "--output", str(tmp_path / "out")]) == 0
    aliases = AliasMap.load(uri)
    shapes = list(ShardReader((tmp_path / "out" / "features").as_uri()))
    assert len(shapes) == 3
    for shape in shapes:
        names = [part["name_raw"] for part in shape["parts"]]
        category, parts, _ = aliases.resolve_parts(shape["category_raw"], names)
        assert shape["category"] == category
        assert [(p["name"], p["part_uid"]) for p in shape["parts"]] == [
            (p.part, p.part_uid) for p in parts
        ]
    assert any(p["part_uid"] >= 0 for shape in shapes for p in shape["parts"])

    missing = ["--pipeline", "features", "--ontology", f"{uri}/nothing"]
    assert beam_runner.main([*missing, "--output", str(tmp_path / "none")]) == 2
    assert f"--ontology {uri}/nothing: no alias log at {uri}/nothing" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
