"""Hostile inputs in each source's real format, run through the features pipeline on Beam's
local runner: every candidate gets a manifest row with a clear one-line reason, and every
good shape of the same run is written."""

from __future__ import annotations

import os

import polars as pl
import pytest

import beam_runner
from pipelines.sample_data import mug, write_find3d, write_glb, write_partnet
from pipelines.sources import SOURCES, SourceError
from schemas.reader import ShardReader
from tests.dataset_fixtures import HOSTILE, INVALID_TEXT, NOT_UTF8
from tests.features_output import latest_manifest


def run_features(source: str, location: str, output: str) -> int:
    return beam_runner.main(
        [
            "--pipeline",
            "features",
            "--source",
            source,
            "--input",
            location,
            "--output",
            output,
            "--featurizers",
            "none",
            "--num-points",
            "500",
        ]
    )


@pytest.fixture(scope="module")
def run_of(tmp_path_factory):
    """Builds a dataset with one of the builders and runs it once; cached per builder."""
    done = {}

    def run(builders: dict, source: str):
        key = (id(builders), source)
        if key not in done:
            root = tmp_path_factory.mktemp(source)
            folder, expected = builders[source](root / "data")
            code = run_features(source, str(folder), str(root / "out"))
            done[key] = (code, folder, expected, root / "out" / "features")
        return done[key]

    return run


def assert_rows(features, expected: dict[str, tuple[str, str]]) -> pl.DataFrame:
    """The manifest has exactly the expected rows (a failed row's reason, an ok row's
    warning when one is expected); the ok shapes are all in the shards."""
    manifest = latest_manifest(features.parent)
    rows = {row["shape_id"]: row for row in manifest.iter_rows(named=True)}
    assert sorted(rows) == sorted(expected) and manifest.height == len(expected)
    for shape_id, (status, fragment) in expected.items():
        row = rows[shape_id]
        assert row["status"] == status, (shape_id, row["error"])
        if status == "failed":
            assert fragment in row["error"] and "\n" not in row["error"], (shape_id, row)
        elif fragment:
            assert any(fragment in warning for warning in row["warnings"]), (shape_id, row)
    written = sorted(shape["shape_id"] for shape in ShardReader(features))
    assert written == sorted(s for s, (status, _) in expected.items() if status == "ok")
    return manifest


@pytest.mark.parametrize("source", sorted(HOSTILE))
def test_hostile_inputs_fail_with_their_reason_and_good_shapes_are_written(run_of, source):
    code, folder, expected, features = run_of(HOSTILE, source)
    assert code == 0
    manifest = assert_rows(features, expected)
    assert {i.shape_id for i in SOURCES[source]().discover(str(folder))} == set(
        manifest["shape_id"]
    )


def test_reasons_leak_no_bare_exception_text(run_of):
    for source in ("partnet", "find3d", "glb"):
        _, _, _, features = run_of(HOSTILE, source)
        errors = latest_manifest(features.parent)["error"].to_list()
        for error in filter(None, errors):
            assert error.startswith("load: SourceError: "), error
            for leak in ("KeyError", "list index out of range", "EOFError", "invalid literal"):
                assert leak not in error


def test_an_obj_stem_climbing_out_of_the_dataset_is_never_read(tmp_path):
    folder, _ = HOSTILE["partnet"](tmp_path)
    (tmp_path / "outside.obj").unlink()  # were it read, the reason would say "missing"
    source = SOURCES["partnet"]()
    (escaping,) = [i for i in source.discover(str(folder)) if i.shape_id == "partnet/913"]
    with pytest.raises(SourceError, match="outside") as failure:
        source.load(escaping)
    assert "missing" not in str(failure.value)


@pytest.mark.parametrize("source", sorted(INVALID_TEXT))
def test_names_that_are_not_valid_text_are_escaped_and_reported(run_of, source):
    code, folder, expected, features = run_of(INVALID_TEXT, source)
    inputs = SOURCES[source]().discover(str(folder))
    assert sorted(i.shape_id for i in inputs) == sorted(expected)
    for source_input in inputs:
        record = SOURCES[source]().load(source_input)
        text = "\n".join([record.shape_id, *record.part_names, *record.warnings])
        text.encode("utf-8")  # all valid text now
        escaped = "\\udce9" in record.shape_id or any("\\udc80" in n for n in record.part_names)
        assert escaped == any("not valid UTF-8" in w for w in record.warnings)
    assert sum("\\udce9" in i.shape_id for i in inputs) == 1  # the non-UTF-8 name

    assert code == 0
    assert_rows(features, expected)
    names = {s["shape_id"]: [p["name_raw"] for p in s["parts"]] for s in ShardReader(features)}
    if source != "glb":
        surrogate = "partnet/102" if source == "partnet" else "find3d/seenclass/cup_0002"
        assert names[surrogate][-1].endswith("handle\\udc80")


def test_a_single_file_or_shape_folder_is_an_input(tmp_path):
    mug_file = write_glb(tmp_path / "glb" / "mug.glb", mug())
    shape_folder = write_partnet(tmp_path / "data_v0", "101", "Mug", mug())
    find3d_folder = write_find3d(tmp_path / "find3d", "seenclass", "mug_0001", mug(), 600)
    for source, location, shape_id in (
        ("glb", mug_file, "glb/mug"),
        ("partnet", shape_folder / "result.json", "partnet/101"),
        ("partnet", shape_folder, "partnet/101"),
        ("find3d", find3d_folder, "find3d/seenclass/mug_0001"),
    ):
        (found,) = SOURCES[source]().discover(str(location))
        assert found.shape_id == shape_id
    out = tmp_path / "out"
    assert run_features("glb", str(mug_file), str(out)) == 0
    assert_rows(out / "features", {"glb/mug": ("ok", "")})


def test_a_malformed_metadata_csv_is_a_usage_error_before_any_work(tmp_path, capsys):
    folder = tmp_path / "assets"
    write_glb(folder / "mug.glb", mug())
    (folder / "metadata.csv").write_text("path,category\nmug.glb,mug,extra\n")
    with pytest.raises(SourceError, match=r"metadata\.csv: malformed CSV") as failure:
        SOURCES["glb"]().discover(str(folder))
    assert "\n" not in str(failure.value)

    out = tmp_path / "out"
    assert run_features("glb", str(folder), str(out)) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "metadata.csv: malformed CSV" in error[0]
    assert not (out / "features").exists()


def test_3dcompat_model_paths_that_are_no_files_say_what_they_are(run_of):
    _, folder, _, features = run_of(HOSTILE, "3dcompat")
    rows = {
        row["shape_id"]: row["error"]
        for row in latest_manifest(features.parent).iter_rows(named=True)
    }
    models = folder / "models"
    assert rows["3dcompat/0c_003"] == (
        f"load: SourceError: {models}/0c_003.gltf is a directory, not a file"
    )
    assert rows["3dcompat/0c_004"] == (
        f"load: SourceError: {models}/0c_004.glb is a dangling symlink (to {models}/0c_999.glb)"
    )


@pytest.mark.parametrize("source", ["3dcompat", "glb"])
def test_a_model_file_name_that_is_not_utf8_is_one_record_warning(tmp_path, source):
    models = tmp_path / "models"
    write_glb(models / "0c_001.glb", mug())
    with open(os.path.join(os.fsencode(models), b"0c_" + NOT_UTF8 + b".glb"), "wb") as handle:
        handle.write((models / "0c_001.glb").read_bytes())
    inputs = SOURCES[source]().discover(str(models))
    assert [i.shape_id for i in inputs] == [f"{source}/0c_001", f"{source}/0c_caf\\udce9"]
    good, escaped = (SOURCES[source]().load(i) for i in inputs)
    assert good.warnings == ()
    (warning,) = escaped.warnings
    assert warning == f"path is not valid UTF-8, kept escaped: {models}/0c_caf\\udce9.glb"
    assert escaped.part_names == good.part_names and len(escaped.pieces) == len(good.pieces)
