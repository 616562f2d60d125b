"""The curate pipeline: cheap checks with reasons, Gemini over thumbnails on the fake server
(real google-genai client, image parts), reruns, and the chain curate -> features ->
ontology on generated assets."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

import beam_runner
from featurizers.curation import CheckLimits, check_reasons, license_key, mesh_stats
from featurizers.listing import ListingError, ListingRow, read_listing
from ontology.curation import Thumbnail, prepare_thumbnail
from ontology.gemini import GeminiSettings
from pipelines import sample_data
from pipelines.curate import _categories
from pipelines.curate_steps import (
    JudgeSetup,
    check_asset,
    decide,
    limits_key,
    model_hash,
    previous_checks,
)
from pipelines.sources.meshes import load_mesh_file
from tests.curate_assets import (
    thumbnail,
    write_assets,
    write_csv,
    write_jsonl,
    write_objaverse_json,
)
from tests.features_output import committed_rows
from tests.ontology_fake_gemini import FakeGemini

SECRET = "AIzaFAKE-curate-key-0123456789"
#: Reason code of each asset of ``write_assets`` the cheap checks reject.
REJECTED = {
    "broken": "unreadable",
    "missing": "unreadable",
    "chairs_scene": "scene",
    "chair_copy": "duplicate",
    "table_nc": "license",
    "floor_tile": "aspect",
    "placeholder": "triangles",
}
PASSING = ["chair", "table", "mug", "lamp", "mug_scan"]
OFFLINE_ONTOLOGY = ("--embedder", "lexical", "--describer", "template", "--verifier", "rules")


def curate(listing: Path, output: Path, *flags: str) -> int:
    return beam_runner.main(
        ["--pipeline", "curate", "--listing", str(listing), "--output", str(output), *flags]
    )


def selection(output: Path) -> pl.DataFrame:
    return pl.read_parquet(output / "selection.parquet")


def run_file(output: Path) -> dict:
    return json.loads((output / "curate_run.json").read_text())


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    folder = tmp_path_factory.mktemp("assets")
    rows = write_assets(folder)
    return write_csv(folder / "listing.csv", rows), rows


@pytest.fixture(scope="module")
def checked(assets, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("checked")
    assert curate(assets[0], output, "--judge", "checks") == 0
    return output


@pytest.fixture
def gemini_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


def test_every_listed_asset_has_a_row_and_each_rejection_its_reason(assets, checked):
    _, rows = assets
    table = selection(checked)
    assert table["id"].to_list() == [row["id"] for row in rows]  # none dropped, listing order
    for record in table.iter_rows(named=True):
        if record["id"] in REJECTED:
            assert record["decision"] == "reject", record
            codes = [reason.split(":", 1)[0] for reason in record["reasons"]]
            assert REJECTED[record["id"]] in codes, record["reasons"]
            assert all("\n" not in reason for reason in record["reasons"])
        else:
            assert (record["decision"], record["reasons"]) == ("keep", []), record
    copy = table.filter(pl.col("id") == "chair_copy").row(0, named=True)
    assert copy["duplicate_of"] == "chair" and copy["objects"] == 1  # it passed the rest
    assert set(table["decided_by"]) == {"checks"}
    counts = run_file(checked)["counts"]
    assert (counts["listed"], counts["kept"], counts["rejected"]) == (len(rows), 5, 7)
    assert counts["rejected_unreadable"] == 2 and counts["llm_calls"] == 0


def test_selected_csv_lists_the_kept_paths_and_categories(assets, checked):
    selected = pl.read_csv(checked / "selected.csv")
    folder = assets[0].parent
    assert selected.columns == ["path", "category"]
    assert selected["path"].to_list() == [str(folder / f"{name}.glb") for name in PASSING]
    assert selected["category"].to_list() == ["chair", "table", "mug", "lamp", "mug"]


def test_a_relative_listing_gives_absolute_paths_in_selected_csv(assets, tmp_path, monkeypatch):
    listing, _ = assets
    monkeypatch.chdir(listing.parent.parent)
    relative = f"{listing.parent.name}/{listing.name}"
    assert curate(Path(relative), tmp_path, "--judge", "checks") == 0
    paths = pl.read_csv(tmp_path / "selected.csv")["path"].to_list()
    assert paths == [str(listing.parent / f"{name}.glb") for name in PASSING]


def test_model_hash_covers_side_files_and_reruns_reuse_only_unchanged_ones(tmp_path):
    first, second = tmp_path / "a" / "mug.gltf", tmp_path / "b" / "mug.gltf"
    sample_data.write_gltf(first, sample_data.mug(), textured=("body",))
    shutil.copytree(first.parent, second.parent)
    assert model_hash(str(first)) == model_hash(str(second))  # a copy elsewhere
    limits = CheckLimits(licenses=())
    rows = [ListingRow(k, f"mug{k}", str(path)) for k, path in enumerate((first, second))]
    checks = [check_asset(row, limits, limits_key(limits), {}) for row in rows]
    previous = previous_checks(decide(checks, None).table)
    (buffer,) = [p for p in second.parent.iterdir() if p.suffix == ".bin"]
    buffer.write_bytes(buffer.read_bytes() + b"\0" * 4)  # a changed side file, .gltf as it was
    assert model_hash(str(first)) != model_hash(str(second))
    again = [check_asset(row, limits, limits_key(limits), previous) for row in rows]
    assert [check.reused for check in again] == [True, False]
    assert again[0].stats == checks[0].stats and again[1].stats.textured_share > 0


def test_scene_triangle_and_texture_checks_measure_the_meshes(tmp_path):
    limits = CheckLimits(require_texture=True)
    chair = load_mesh_file(str(sample_data.write_glb(tmp_path / "c.glb", sample_data.chair())))
    stats = mesh_stats([piece.mesh for piece in chair.meshes], limits)
    assert stats.triangles == 8 * 12 and stats.objects == 1 and stats.components > 1
    assert check_reasons(stats, "cc0", limits) == ["texture: no base-color texture"]
    mug = sample_data.write_glb(tmp_path / "m.glb", sample_data.mug(), textured=("body",))
    mug_stats = mesh_stats([piece.mesh for piece in load_mesh_file(str(mug)).meshes], limits)
    assert 0 < mug_stats.textured_share < 1
    assert check_reasons(mug_stats, "CC0 Public Domain", limits) == []
    few = check_reasons(stats, "cc0", CheckLimits(min_triangles=100))
    assert few == ["triangles: 96 triangles, outside 100..1,000,000"]
    assert check_reasons(stats, "", CheckLimits()) == ["license: no licence given"]
    assert check_reasons(stats, "", CheckLimits(licenses=())) == []


def test_thumbnails_larger_than_512_px_are_sent_scaled_down_as_png(tmp_path):
    small = thumbnail(tmp_path / "small.png", 3).read_bytes()
    assert prepare_thumbnail(small, "h") == Thumbnail(small, "image/png", "h")  # as it is
    big = tmp_path / "big.jpg"
    Image.new("RGB", (1024, 640), (200, 30, 30)).save(big, format="JPEG")
    sent = prepare_thumbnail(big.read_bytes(), "h")
    assert sent.mime_type == "image/png" and Image.open(io.BytesIO(sent.data)).size == (512, 320)
    with pytest.raises(ValueError, match="unreadable image"):
        prepare_thumbnail(b"not an image", "h")


def test_licence_keys_of_sketchfab_and_spdx_spellings():
    assert license_key("CC-BY-4.0") == license_key("CC Attribution") == "by"
    assert license_key("CC Attribution-NonCommercial-ShareAlike") == "by-nc-sa"
    assert license_key("CC BY-SA 3.0") == "by-sa"
    assert license_key("CC0 Public Domain") == "cc0"
    assert license_key("Free Standard") == "free-standard"


def test_jsonl_and_objaverse_metadata_give_the_same_assets(assets, tmp_path):
    listing, rows = assets
    folder = listing.parent
    from_csv = read_listing(listing.read_bytes(), str(listing))
    jsonl = write_jsonl(folder / "listing.jsonl", rows)
    from_jsonl = read_listing(jsonl.read_bytes(), str(jsonl))
    assert from_jsonl == from_csv
    objaverse = write_objaverse_json(folder / "annotations.json", rows)
    from_json = read_listing(objaverse.read_bytes(), str(objaverse))
    assert [(r.id, r.path, r.thumbnail, r.license) for r in from_json] == [
        (r.id, r.path, r.thumbnail, r.license) for r in from_csv
    ]  # model at <uid>.glb beside the file, the widest thumbnail
    assert from_json[0].tags == ("furniture", "chair") and from_json[0].category == ""
    sketchfab = {"results": [{"uid": "a1", "name": "x", "license": {"label": "CC Attribution"}}]}
    page = tmp_path / "page.json"
    page.write_text(json.dumps(sketchfab))
    (row,) = read_listing(page.read_bytes(), str(page))
    assert (row.id, row.path, row.license) == ("a1", str(tmp_path / "a1.glb"), "CC Attribution")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("l.csv", "id,file\na,b.glb\n", "needs a 'path' column"),
        ("l.jsonl", '{"path": "a.glb"}\nnot json\n', "line 2 is not JSON"),
        ("l.txt", "", "a listing is a .csv, .jsonl, .json file"),
        ("l.json", '[{"name": "no uid"}]', "neither 'uid' nor 'path'"),
    ],
)
def test_a_malformed_listing_is_one_line_naming_it(tmp_path, name, text, message):
    with pytest.raises(ListingError, match=message) as error:
        read_listing(text.encode(), str(tmp_path / name))
    assert str(error.value).startswith(str(tmp_path / name)) and "\n" not in str(error.value)


def test_a_malformed_listing_stops_the_run_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("id\nx\n")
    assert curate(bad, tmp_path / "out") == 2
    assert "needs a 'path' column" in capsys.readouterr().err


def test_without_a_key_the_checks_decide_and_the_output_says_so(assets, tmp_path, monkeypatch):
    for variable in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    assert curate(assets[0], tmp_path) == 0
    assert run_file(tmp_path)["config"]["judge"].startswith("checks (no Gemini API key")
    table = selection(tmp_path)
    assert set(table["decided_by"]) == {"checks"} and table["gemini_keep"].null_count() == 12


def test_a_worker_without_the_key_leaves_the_decision_to_the_checks(assets, tmp_path, monkeypatch):
    for variable in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    listing, _ = assets
    limits = CheckLimits()
    rows = read_listing(listing.read_bytes(), str(listing))
    checks = [check_asset(row, limits, limits_key(limits), {}) for row in rows]
    judge = JudgeSetup(GeminiSettings(), str(tmp_path / "cache"), (), 3, None)
    table = pl.from_arrow(decide(checks, judge).table)
    kept = table.filter(pl.col("decision") == "keep")
    assert kept["id"].to_list() == PASSING and set(table["decided_by"]) == {"checks"}
    note = "gemini: no answer (no Gemini API key on the worker); the checks decided"
    assert kept["notes"].to_list() == [[note]] * len(PASSING)


def _judge_flags(url: str, *more: str) -> list[str]:
    return [
        "--judge-base-url", url, "--judge-batch-size", "2", "--judge-workers", "1",
        "--judge-timeout", "5", "--judge-min-quality", "1", *more,
    ]  # fmt: skip


def test_gemini_judges_the_survivors_by_thumbnail_and_metadata(assets, tmp_path, gemini_key):
    listing, _ = assets
    categories = tmp_path / "categories.txt"
    categories.write_text("chair\ntable\nlamp\n")
    flags = _judge_flags("", "--judge-categories", str(categories))
    with FakeGemini(["429"]) as fake:
        flags[1] = fake.url
        assert curate(listing, tmp_path / "out", *flags) == 0
    # 5 survivors of the checks, 2 per request: 3 requests, and the 429 was sent again
    assert len(fake.requests) == 4 and run_file(tmp_path / "out")["counts"]["llm_calls"] == 4
    assert all(r["headers"].get("x-goog-api-key") == SECRET for r in fake.requests)
    folder = listing.parent
    sent = [image for request in fake.images for image in request.values()]
    thumbs = [
        (folder / "thumbs" / f"{name}.png").read_bytes() for name in PASSING if name != "lamp"
    ]
    assert sent == thumbs  # the thumbnails, as inline parts, each after its item's line
    table = selection(tmp_path / "out").filter(pl.col("decided_by") == "gemini")
    assert table["id"].to_list() == PASSING
    by_id = {row["id"]: row for row in table.iter_rows(named=True)}
    assert by_id["chair"]["decision"] == "keep" and by_id["chair"]["gemini_category"] == "chair"
    assert by_id["mug"]["gemini_category"] == ""  # "none": mug is not among the categories
    assert by_id["mug"]["category"] == "mug"  # the listing's own category goes first
    assert by_id["mug_scan"]["reasons"] == ["gemini: rejected: fake: no thumbnail or a scan"]
    assert by_id["lamp"]["decision"] == "reject"  # no thumbnail: the fake rejects it
    quality = 1 + len(thumbs[0]) % 5
    assert by_id["chair"]["gemini_quality"] == quality
    selected = pl.read_csv(tmp_path / "out" / "selected.csv")
    assert selected["category"].to_list() == ["chair", "table", "mug"]


def test_the_budget_leaves_the_rest_to_the_checks_and_says_why(assets, tmp_path, gemini_key):
    with FakeGemini() as fake:
        assert curate(assets[0], tmp_path, *_judge_flags(fake.url, "--judge-max-calls", "1")) == 0
    table = selection(tmp_path)
    assert table["decided_by"].to_list().count("gemini") == 2
    left = table.filter((pl.col("decided_by") == "checks") & (pl.col("decision") == "keep"))
    assert left["id"].to_list() == ["mug", "lamp", "mug_scan"]
    assert all("exhausted" in notes[-1] for notes in left["notes"])


def test_a_rerun_judges_only_new_or_changed_assets(assets, tmp_path, gemini_key):
    listing, rows = assets
    folder = tmp_path / "assets"
    shutil.copytree(listing.parent, folder)
    output = tmp_path / "out"
    with FakeGemini() as fake:
        flags = _judge_flags(fake.url)
        assert curate(folder / "listing.csv", output, *flags) == 0
        first = len(fake.requests)
        assert curate(folder / "listing.csv", output, *flags) == 0
        assert len(fake.requests) == first  # all cached: no request
        assert run_file(output)["counts"]["reused"] == len(rows) - 1  # not the missing file
        before = selection(output)
        stool = [(name, mesh.copy().apply_scale(0.5)) for name, mesh in sample_data.table()]
        sample_data.write_glb(folder / "stool.glb", stool)  # a new row
        (folder / "thumbs" / "table.png").write_bytes((folder / "thumbs" / "mug.png").read_bytes())
        more = [*rows, {**rows[1], "id": "stool", "path": "stool.glb", "thumbnail": ""}]
        write_csv(folder / "listing.csv", more)
        assert curate(folder / "listing.csv", output, *flags) == 0
        asked = fake.requests[first:]
    after = selection(output)
    parts = [part for r in asked for part in r["body"]["contents"][0]["parts"]]
    items = [p["text"] for p in parts if re.match(r"\d+\. ", p.get("text", ""))]
    assert len(asked) == 1 and len(items) == 2  # the changed table and the new stool
    assert "Dining table" in items[0] and len(fake.images[-1]) == 1  # the stool has none
    stool = after.filter(pl.col("id") == "stool").row(0, named=True)
    assert stool["decided_by"] == "gemini" and not stool["reused"]
    table = after.filter(pl.col("id") == "table").row(0, named=True)
    assert not table["reused"] and table["thumbnail_sha256"] != before["thumbnail_sha256"][1]
    assert after.filter(pl.col("id") == "chair")["reused"].to_list() == [True]


def test_chain_curate_features_ontology(assets, checked, tmp_path):
    features, ontology = tmp_path / "features", tmp_path / "ontology"
    selected = checked / "selected.csv"
    args = ["--pipeline", "features", "--source", "glb", "--input", str(selected)]
    assert beam_runner.main([*args, "--output", str(features)]) == 0
    shapes = committed_rows(features)
    assert sorted(shapes["shape_id"].str.split("/").list.last()) == sorted(PASSING)
    assert set(shapes["category_raw"]) == {"chair", "table", "mug", "lamp"}
    vocab = ["--vocab", f"shards={features}"]
    code = beam_runner.main(
        ["--pipeline", "ontology", *vocab, *OFFLINE_ONTOLOGY, "--output", str(ontology)]
    )
    assert code == 0
    categories = pl.read_parquet(ontology / "ontology" / "categories.parquet")
    assert {"chair", "table", "mug", "lamp"} <= set(categories["name"])
    # the ontology's categories are what --judge-categories ONTOLOGY_OUT offers Gemini
    assert _categories(str(ontology)) == tuple(categories["name"])
