"""gs:// for real, against a local GCS emulator (the ``gcp-storage-emulator`` package, a
JSON-API server started here on 127.0.0.1).

The features pipeline runs from a ``gs://`` input to a ``gs://`` output through Beam's GCS
filesystem (``google-cloud-storage``, which follows ``STORAGE_EMULATOR_HOST``); then the
Beam-free readers read the committed table and an ontology back over pyarrow's
``GcsFileSystem`` pointed at the same server.

Beam first looks for Google credentials and retries for about 25 s before it connects
anonymously (``apache_beam.internal.gcp.auth``), once per process: this test takes that long.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
import pytest
from google.cloud import storage

import beam_runner
from ontology.alias_map import AliasMap
from schemas.reader import ShardReader
from schemas.table import FeatureTable
from tests.ontology_helpers import read_log, run_ontology

BUCKET = "partbank-test"
SAMPLES = Path(__file__).resolve().parents[1] / "pipelines" / "samples" / "glb"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def emulator():
    """``host:port`` of a running emulator holding an empty bucket ``BUCKET``."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
         "--port", str(port), "--in-memory", "--default-bucket", BUCKET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("the GCS emulator did not start") from None
            time.sleep(0.1)
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    yield f"127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)
    if previous is None:
        del os.environ["STORAGE_EMULATOR_HOST"]
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = previous


def upload(folder: Path, prefix: str) -> None:
    """Every file under ``folder`` to ``gs://BUCKET/prefix/...``, same relative paths."""
    bucket = storage.Client.create_anonymous_client().bucket(BUCKET)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        bucket.blob(f"{prefix}/{path.relative_to(folder).as_posix()}").upload_from_filename(path)


def read_back(root: str, gcs: pafs.FileSystem, local: Path) -> None:
    """The table under ``root`` (a bucket path) holds the local run's shapes, same points."""
    remote = ShardReader(f"{root}/features", filesystem=gcs)
    assert remote.version == 1
    rows = {shape["shape_id"]: shape for shape in remote}
    expected = {shape["shape_id"]: shape for shape in ShardReader(local / "features")}
    assert sorted(rows) == sorted(expected) == ["glb/lamp", "glb/mug"]
    for shape_id, shape in rows.items():
        np.testing.assert_array_equal(shape["points"], expected[shape_id]["points"])
        np.testing.assert_array_equal(shape["point_part"], expected[shape_id]["point_part"])


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    """The glb samples featurized into a local folder."""
    local = tmp_path_factory.mktemp("local")
    assert (
        beam_runner.main(["--pipeline", "features", "--source", "glb", "--output", str(local)]) == 0
    )
    return local


@pytest.fixture(scope="module")
def ontology_run(tmp_path_factory) -> Path:
    """An ontology of the bundled PartNet vocabulary, built offline into a local folder."""
    ontology = tmp_path_factory.mktemp("ontology")
    vocab = ["--vocab", "partnet", "--embedder", "lexical", "--verifier", "rules"]
    assert run_ontology(ontology, *vocab, "--describer", "template") == 0
    return ontology


def test_beam_filesystems_read_write_and_rename_on_the_emulator(emulator):
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(f"gs://{BUCKET}/beam/a.bin") as handle:
        handle.write(b"x" * 300_000)
    FileSystems.rename([f"gs://{BUCKET}/beam/a.bin"], [f"gs://{BUCKET}/beam/b.bin"])
    (matched,) = FileSystems.match([f"gs://{BUCKET}/beam/*"])
    assert [(m.path, m.size_in_bytes) for m in matched.metadata_list] == [
        (f"gs://{BUCKET}/beam/b.bin", 300_000)
    ]
    with FileSystems.open(f"gs://{BUCKET}/beam/b.bin") as handle:
        assert handle.read() == b"x" * 300_000


def test_reader_and_alias_map_over_gs(emulator, local_run, ontology_run):
    gcs = pafs.GcsFileSystem(endpoint_override=emulator, scheme="http", anonymous=True)
    upload(local_run, "copied")
    read_back(f"{BUCKET}/copied", gcs, local_run)

    ontology = ontology_run
    upload(ontology, "ontology")
    remote_map = AliasMap.load(f"{BUCKET}/ontology", filesystem=gcs)
    local_map = AliasMap.load(ontology)
    aliases = [row for row in read_log(ontology) if row["kind"] == "part"]
    assert aliases
    for row in aliases:  # the log over gs:// resolves every alias as the local copy does
        resolved = remote_map.resolve(row["category"], row["alias"])
        assert resolved == local_map.resolve(row["category"], row["alias"])
    category = aliases[0]["category"]
    remote_parts, local_parts = remote_map.parts_of(category), local_map.parts_of(category)
    assert remote_parts.names == local_parts.names and remote_parts.names  # parts.parquet
    np.testing.assert_array_equal(remote_parts.embeddings, local_parts.embeddings)


def test_features_pipeline_gs_to_gs_with_ontology_and_rerun(emulator, local_run, ontology_run):
    upload(SAMPLES, "in/glb")
    upload(ontology_run, "named-by")
    args = ["--pipeline", "features", "--source", "glb", "--input", f"gs://{BUCKET}/in/glb"]
    out = ["--output", f"gs://{BUCKET}/out", "--ontology", f"gs://{BUCKET}/named-by"]
    assert beam_runner.main([*args, *out]) == 0
    gcs = pafs.GcsFileSystem(endpoint_override=emulator, scheme="http", anonymous=True)
    shards = ShardReader(f"{BUCKET}/out/features", filesystem=gcs)
    assert sorted(shape["shape_id"] for shape in shards) == ["glb/lamp", "glb/mug"]
    assert beam_runner.main([*args, *out]) == 0  # the nightly rerun: nothing new to do
    table = FeatureTable(f"{BUCKET}/out/features", filesystem=gcs)
    assert table.versions() == [1, 2]
    assert table.manifest(2)["status"].to_pylist() == ["skipped_cached"] * 2
