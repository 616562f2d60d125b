"""--pipeline report on real outputs of the features and ontology pipelines, on the local
runner, and the page opened in headless Chromium (Debian's ``chromium``, which ``.ci/run``
installs; where it is missing the browser tests are skipped with that reason, and fail
when ``PARTBANK_REQUIRE_CHROMIUM`` is set, as on CI)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from transformers import Dinov2Config

import beam_runner
from featurizers.previews import contact_sheet
from pipelines import sample_data
from pipelines.report import MAX_TABLE_ROWS, gather, page_html
from tests.dataset_fixtures import NOT_UTF8

FEATURES = ["--featurizers", "rgb,dinov2", "--models", "random-init", "--views", "4"]
SMALL = ["--image-size", "112", "--num-points", "2000"]


@pytest.fixture(scope="module")
def tiny_dinov2(tmp_path_factory):
    """A local model folder holding only a tiny DINOv2 architecture (for random init)."""
    folder = tmp_path_factory.mktemp("dinov2-tiny")
    Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def troubled_assets(tmp_path_factory):
    """GLB files beside the samples: one truncated (fails), one whose name is not UTF-8
    (ok, with a warning)."""
    folder = tmp_path_factory.mktemp("troubled")
    whole = sample_data.scene_of(sample_data.mug()).export(file_type="glb")
    (folder / "broken.glb").write_bytes(whole[: len(whole) // 2])
    with open(os.path.join(os.fsencode(folder), NOT_UTF8 + b".glb"), "wb") as handle:
        handle.write(sample_data.scene_of(sample_data.lamp()).export(file_type="glb"))
    return folder


@pytest.fixture(scope="module")
def reported(tmp_path_factory, tiny_dinov2, troubled_assets):
    """Every bundled sample and the troubled assets with rgb and random-init DINOv2, the
    offline ontology into the same folder, then the report of it all."""
    out = tmp_path_factory.mktemp("reported")
    sources = ["--source", "3dcompat", "--source", "find3d", "--source", "partnet"]
    sources += ["--source", "glb", "--source", "glb", "--input", str(troubled_assets)]
    features = [*sources, *FEATURES, *SMALL, "--dinov2-model", str(tiny_dinov2)]
    assert beam_runner.main(["--pipeline", "features", "--output", str(out), *features]) == 0
    ontology = ["--vocab", "partnet", "--vocab", "3dcompat", "--embedder", "lexical"]
    ontology += ["--describer", "template", "--verifier", "rules"]
    assert beam_runner.main(["--pipeline", "ontology", "--output", str(out), *ontology]) == 0
    assert beam_runner.main(["--pipeline", "report", "--output", str(out)]) == 0
    return out


class _Page(HTMLParser):
    """The text inside each element with an id, and every image source, of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}
        self.images: list[str] = []
        self._open: list[list] = []  # [id, tag, depth of that tag inside it]
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"])
        for element in self._open:
            element[2] += element[1] == tag
        if "id" in attributes:
            self.ids[attributes["id"]] = ""
            self._open.append([attributes["id"], tag, 0])

    def handle_endtag(self, tag):
        for element in list(self._open):
            if element[1] == tag:
                element[2] -= 1
                if element[2] < 0:
                    self._open.remove(element)

    def handle_data(self, data):
        for element_id, _, _ in self._open:
            self.ids[element_id] += data + " "


def _page(out: Path) -> tuple[str, _Page]:
    text = (out / "report" / "index.html").read_text()
    return text, _Page(text)


def test_the_page_shows_the_run_counts_failures_and_warnings(reported):
    run = json.loads((reported / "features_run.json").read_text())
    text, page = _page(reported)
    for name in ("ok", "skipped_cached", "failed", "with_warnings"):
        assert page.ids[f"count-{name}"].strip() == str(run["counts"][name]), name
    assert page.ids["count-warnings"].strip() == str(run["warnings"])
    assert run["counts"]["failed"] == 1 and run["counts"]["with_warnings"] == 1
    assert "RANDOM weights" in page.ids["random-init"]  # random-init, in red
    assert re.search(r"\.bad \{ color: #c00", text)
    failures = page.ids["failures"]
    assert "glb/broken" in failures and "broken.glb" in failures
    assert "glb/caf\\udce9" in page.ids["warnings"]  # escaped name, escaped once more in HTML
    for stage in ("load", "render", "dinov2", "rgb", "total"):
        assert re.search(rf"<td>{stage}</td><td class=\"num\">[0-9.]+</td>", text), stage


def test_every_shape_has_its_pictures_and_they_are_pngs(reported):
    text, page = _page(reported)
    run = json.loads((reported / "features_run.json").read_text())
    kept = run["counts"]["ok"] + run["counts"]["skipped_cached"]
    shapes = sorted((reported / "report" / "shapes").iterdir())
    assert len(shapes) == kept == 11
    pictures = ["dino_pca.png", "parts.png", "views.png", "views_seen.png"]
    for folder in shapes:
        names = sorted(p.name for p in folder.iterdir())
        if folder.name.startswith("glb_caf_udce9-"):
            # the manifest spells its non-UTF-8 file name escaped: no file has that name
            assert names == [n for n in pictures if n != "views.png"]
        else:
            assert names == pictures, folder
    assert len(page.images) == 4 * kept - 1
    assert re.search(r"views: none \(input not rendered: .*caf\\udce9\.glb is missing\)", text)
    for source in page.images:
        assert not source.startswith(("/", "http:", "https:", "file:")), source
        with Image.open(reported / "report" / source) as image:
            pixels = np.asarray(image.convert("RGB"))
        assert (pixels < 250).any(axis=-1).sum() > 500, source  # something is drawn
    assert "rendered from the input" in text  # no views/ table: views made on the fly
    assert not re.search(r"(src|href)=\"https?:", text)  # nothing fetched at view time


def test_the_ontology_section_lists_decisions_and_canonical_parts(reported):
    text, page = _page(reported)
    counts = json.loads((reported / "ontology_run.json").read_text())["counts"]
    cells = page.ids["ontology-counts"].split()
    assert str(counts["merges"]) in cells and str(counts["rejections"]) in cells
    assert text.count('<div class="hist">') == 3  # merges, rejections, review items
    review = (reported / "ontology" / "review.csv").read_text().splitlines()
    first = review[1].split(",")
    assert first[2] in page.ids["review"] and first[3] in page.ids["review"]
    parts = pq.read_table(reported / "ontology" / "parts.parquet").to_pylist()
    categories = {part["category"] for part in parts}
    assert text.count("<details><summary>") == len(categories) + 1  # + config and versions
    assert "bed_headboard" in text


def test_views_come_from_the_views_table_when_emitted(tmp_path, tiny_dinov2):
    out = tmp_path / "out"
    features = ["--source", "glb", *FEATURES, *SMALL, "--dinov2-model", str(tiny_dinov2)]
    features += ["--emit-views"]
    assert beam_runner.main(["--pipeline", "features", "--output", str(out), *features]) == 0
    assert beam_runner.main(["--pipeline", "report", "--output", str(out)]) == 0
    text, _ = _page(out)
    assert text.count("views: from views/") == 2
    (views_file,) = (out / "views").glob("part-*.parquet")
    rows = pq.read_table(views_file, filters=[("shape_id", "=", "glb/mug")]).to_pylist()
    assert len(rows) == 4
    mug = [Image.open(io.BytesIO(r["rgb_png"])) for r in sorted(rows, key=lambda r: r["view"])]
    (folder,) = (out / "report" / "shapes").glob("glb_mug-*")
    written = np.asarray(Image.open(folder / "views.png").convert("RGB"))
    assert np.array_equal(written, np.asarray(contact_sheet(mug)))


def test_a_report_of_another_folder_goes_to_the_output(reported, tmp_path):
    args = ["--pipeline", "report", "--report-input", str(reported), "--output", str(tmp_path)]
    assert beam_runner.main([*args, "--report-shapes", "2"]) == 0
    text, page = _page(tmp_path)
    assert f"partbank report: {reported}<" in text
    assert len(list((tmp_path / "report" / "shapes").iterdir())) == 2
    assert all((tmp_path / "report" / source).is_file() for source in page.images)
    assert "2 of 11 shapes" in text


def test_a_seeded_sample_of_shapes(reported):
    _, first = gather(str(reported), None, 4, seed=1)
    _, again = gather(str(reported), None, 4, seed=1)
    _, other = gather(str(reported), None, 4, seed=2)
    _, every = gather(str(reported), None, 0, seed=1)
    ids = [ref.shape_id for ref in first]
    assert ids == [ref.shape_id for ref in again] == sorted(ids) and len(ids) == 4
    assert ids != [ref.shape_id for ref in other]
    assert len(every) == 11 and set(ids) <= {ref.shape_id for ref in every}


def test_long_tables_show_their_first_rows_and_the_total(reported):
    facts, _ = gather(str(reported), None, 0, seed=0)
    failure = facts["features"]["failures"][0]
    facts["features"]["failures"] = [failure] * MAX_TABLE_ROWS
    facts["features"]["failures_total"] = MAX_TABLE_ROWS + 50
    page = _Page(page_html(facts, []))
    assert page.ids["failures"].count("glb/broken") == MAX_TABLE_ROWS
    assert "... and 50 more rows" in page_html(facts, [])


def test_nothing_to_report_is_a_usage_error(tmp_path, capsys):
    assert beam_runner.main(["--pipeline", "report", "--output", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "no partbank output to report" in error[0]
    args = ["--pipeline", "report", "--output", str(tmp_path), "--report-ontology", str(tmp_path)]
    assert beam_runner.main(args) == 2
    assert "no ontology output" in capsys.readouterr().err
    (tmp_path / "features_run.json").write_text('{"pipeline": "features", ')  # cut short
    assert beam_runner.main(["--pipeline", "report", "--output", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"{tmp_path}/features_run.json: not valid JSON" in line


# --- in the browser --------------------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        message = "Debian's chromium is not installed (.ci/run installs it)"
        if os.environ.get("PARTBANK_REQUIRE_CHROMIUM"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _chromium_run(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", f"--user-data-dir={profile}", *args, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def _screenshot(page: Path, tmp_path: Path, name: str) -> np.ndarray:
    shot = tmp_path / f"{name}.png"
    size = "--window-size=1280,2400"
    _chromium_run(page, tmp_path / f"profile-{name}", f"--screenshot={shot}", size)
    return np.asarray(Image.open(shot).convert("RGB")).astype(int)


def test_chromium_shows_the_counts_and_the_pictures(reported, tmp_path):
    page = reported / "report" / "index.html"
    dom = _chromium_run(page, tmp_path / "profile-dom", "--dump-dom").stdout
    run = json.loads((reported / "features_run.json").read_text())
    for name in ("ok", "failed", "with_warnings"):
        assert f'id="count-{name}">{run["counts"][name]}<' in dom, name
    shown = _screenshot(page, tmp_path, "report")
    # the same page with its pictures gone: what differs is what the pictures drew
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(page, bare / "index.html")
    without = _screenshot(bare / "index.html", tmp_path, "bare")
    assert shown.shape == without.shape
    changed = np.abs(shown - without).sum(axis=-1) > 30
    drawn = changed & (shown < 235).any(axis=-1)
    assert drawn.sum() > 5000  # pictures loaded and show non-blank pixels
