"""End to end: the offline ontology run on the real PartNet and 3DCoMPaT++ vocabularies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from ontology import AliasMap, UnknownNameError
from ontology.unify import unify
from schemas.ontology import (
    ALIAS_LOG_SCHEMA,
    LOG_DECISIONS,
    REVIEW_COLUMNS,
    categories_schema,
    parts_schema,
)
from tests.ontology_helpers import offline_config, read_log, read_run, run_ontology

OFFLINE = ("--embedder", "lexical", "--verifier", "rules", "--describer", "template")


#: The bundled real vocabularies (``--vocab NAME`` without a path).
VOCAB = ("--vocab", "partnet", "--vocab", "3dcompat")


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("offline")
    assert run_ontology(output, *VOCAB, *OFFLINE) == 0
    return output


def test_outputs_follow_their_schemas(offline_run: Path) -> None:
    folder = offline_run / "ontology"
    for name, schema in (("categories", categories_schema), ("parts", parts_schema)):
        written = pq.read_schema(folder / f"{name}.parquet")
        assert written.remove_metadata() == schema(2048).remove_metadata()
        assert written.metadata[b"schema_version"] == b"1"
        assert written.metadata[b"embedder"] == b"lexical"
    assert all(list(record) == ALIAS_LOG_SCHEMA.names for record in read_log(offline_run))
    review = pl.read_csv(folder / "review.csv")
    assert tuple(review.columns) == REVIEW_COLUMNS


def test_uids_are_row_indices_and_embeddings_unit_norm(offline_run: Path) -> None:
    parts = pl.read_parquet(offline_run / "ontology" / "parts.parquet")
    categories = pl.read_parquet(offline_run / "ontology" / "categories.parquet")
    assert parts["part_uid"].to_list() == list(range(parts.height))
    assert categories["category_uid"].to_list() == list(range(categories.height))
    uid_of = dict(zip(categories["name"], categories["category_uid"], strict=True))
    assert parts["category_uid"].to_list() == [uid_of[c] for c in parts["category"]]
    norms = np.linalg.norm(parts["embedding"].to_numpy(), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    assert parts["description_source"].unique().to_list() == ["template"]


def test_counts_are_consistent(offline_run: Path) -> None:
    counts = read_run(offline_run)["counts"]
    log = pl.DataFrame(read_log(offline_run), infer_schema_length=None)
    review = pl.read_csv(offline_run / "ontology" / "review.csv")
    # 66 raw categories: 9 spelled alike in both datasets, StorageFurniture is a cabinet
    # (its only kind) and TrashCan a garbage_bin (lexicon words)
    assert counts["categories"] == 55
    assert (
        counts["parts"]
        == log.filter((pl.col("kind") == "part") & (pl.col("decision") == "canonical")).height
    )
    # one review row per pair of groups: fewer than the unverified pairs the log records
    assert counts["review_items"] == review.height
    assert counts["held"] < review.height < counts["unverified"] + counts["held"]
    groups = {
        (r["category"] or "", r["alias"]): r["canonical"]
        for r in log.iter_rows(named=True)
        if r["decision"] in ("canonical", "merge")
    }
    asked = [
        frozenset(
            (
                groups[row["category"] or "", row["name_a"]],
                groups[row["category"] or "", row["name_b"]],
            )
        )
        for row in review.iter_rows(named=True)
        if row["reason"] == "unverified"
    ]
    assert len(asked) == len(set(asked))
    assert counts["merges"] == log.filter(pl.col("decision") == "merge").height
    assert counts["rejections"] == log.filter(pl.col("decision") == "keep_separate").height
    assert set(log["decision"]) <= set(LOG_DECISIONS)
    assert counts["llm_calls"] == 0
    assert not (offline_run / "run.json").exists()  # the features pipeline's name
    assert counts["part_candidates"] == sum(
        v for k, v in counts.items() if k.startswith("part_verdicts_")
    )
    config = read_run(offline_run)["config"]
    assert (config["embedder"], config["describer"], config["verifier"]) == (
        "lexical",
        "template",
        "rules",
    )


def test_paper_cases(offline_run: Path) -> None:
    aliases = AliasMap.load(offline_run)
    # category prefix variants merge (3DCoMPaT++ bed_headboard, PartNet headboard)
    assert aliases.resolve("Bed", "headboard") == aliases.resolve("bed", "bed_headboard")
    assert aliases.resolve("Bed", "headboard").part == "bed_headboard"
    # opposite qualifiers stay apart
    front, rear = (
        aliases.resolve("car", "car_front_bumper"),
        aliases.resolve("car", "car_rear_bumper"),
    )
    assert front.part_uid != rear.part_uid
    horizontal = aliases.resolve("Chair", "back_frame_horizontal_bar")
    vertical = aliases.resolve("Chair", "back_frame_vertical_bar")
    assert horizontal.part_uid != vertical.part_uid
    # PartNet and 3DCoMPaT++ spell nine categories alike
    assert aliases.resolve_category("StorageFurniture") == "storage_furniture"
    assert aliases.resolve_category("Chair") == aliases.resolve_category("chair") == "chair"


def test_alias_map_round_trip(offline_run: Path) -> None:
    aliases = AliasMap.load(offline_run / "ontology" / "alias_log.jsonl")
    parts = pl.read_parquet(offline_run / "ontology" / "parts.parquet")
    categories = pl.read_parquet(offline_run / "ontology" / "categories.parquet")
    aliases_of = dict(zip(categories["name"], categories["aliases"], strict=True))
    for uid, category, name, members in parts.select(
        "part_uid", "category", "name", "aliases"
    ).iter_rows():
        for raw_category in aliases_of[category]:
            for member in members:
                assert aliases.resolve(raw_category, member) == (category, name, uid)
    # legacy and normalized spellings
    assert aliases.resolve("Lamp", "Lamp-Chain").part == "lamp_chain"
    # PartNet leaf paths as shards store them: the path, then its leaf
    leaf = aliases.resolve("Chair", "back_support")
    assert aliases.resolve("Chair", "chair/chair_back/back_support") == leaf
    table_leg = "table/regular_table/table_base/regular_leg_base/leg"
    assert aliases.resolve("Table", table_leg) == aliases.resolve("Table", "leg")
    assert aliases.resolve("Bed", "Bed Headboard 2").part == "bed_headboard"
    assert aliases.resolve("storage furniture", "DrawerFront").part == "drawer_front"


def test_part_lists_and_prompts_of_the_real_ontology(offline_run: Path) -> None:
    aliases = AliasMap.load(offline_run)
    parts = pl.read_parquet(offline_run / "ontology" / "parts.parquet")
    bed = aliases.parts_of("Bed")
    rows = parts.filter(pl.col("category") == "bed")
    assert list(bed.names) == rows["name"].to_list()
    assert bed.embeddings.shape == (rows.height, 2048)
    prompts = bed.prompts()
    assert "bed's headboard" in prompts and len(set(prompts)) == len(prompts)
    assert "bed's bed support" in prompts and "bed's support" in prompts  # both labels
    assert aliases.parts_of("cabinet").category == "storage_furniture"


def test_alias_map_unknown_names(offline_run: Path) -> None:
    aliases = AliasMap.load(offline_run / "ontology")
    with pytest.raises(KeyError) as error:
        aliases.resolve("StorageFurniture", "drawer_sde")
    assert isinstance(error.value, UnknownNameError)
    assert "closest known: ['drawer_side'" in str(error.value)
    with pytest.raises(
        UnknownNameError, match=r"unknown category 'sofaa'; closest known: \['sofa'"
    ):
        aliases.resolve_category("sofaa")
    with pytest.raises(UnknownNameError, match="ambiguous"):
        aliases.resolve("bed", "Support")  # 3DCoMPaT++ bed has both support and bed_support
    assert aliases.resolve("bed", "support").part == "support"


def test_the_pipeline_writes_what_unify_returns(offline_run: Path, tmp_path: Path) -> None:
    """The Beam graph only wires ``ontology.unify``: the same files and counts without Beam."""
    config, vocabulary = offline_config(["partnet", "3dcompat"], tmp_path / "cache")
    unified = unify(vocabulary, config, "2026-01-01T00:00:00+00:00")
    folder = offline_run / "ontology"
    assert pq.read_table(folder / "categories.parquet").equals(unified.outputs.categories)
    assert pq.read_table(folder / "parts.parquet").equals(unified.outputs.parts)
    assert [{**r, "at": None} for r in read_log(offline_run)] == [
        {**r, "at": None} for r in unified.outputs.alias_log
    ]
    assert (folder / "review.csv").read_text() == unified.outputs.review_csv_text() + "\n"
    assert read_run(offline_run)["counts"] == unified.counts
    stages = {
        f"{kind}_{step}"
        for kind in ("category", "part")
        for step in ("describe", "embed", "candidates", "verify")
    }
    assert set(unified.timings_s) == stages
    assert set(read_run(offline_run)["timings_s"]) == stages | {"total"}


def test_rerun_over_the_same_output_is_identical(offline_run: Path) -> None:
    folder = offline_run / "ontology"
    before = {name: pq.read_table(folder / f"{name}.parquet") for name in ("categories", "parts")}
    log_before = [{**r, "at": None} for r in read_log(offline_run)]
    assert run_ontology(offline_run, *VOCAB, *OFFLINE) == 0
    for name, table in before.items():
        assert pq.read_table(folder / f"{name}.parquet").equals(table)
    assert [{**r, "at": None} for r in read_log(offline_run)] == log_before
    assert sorted(p.name for p in folder.iterdir()) == [
        "alias_log.jsonl",
        "categories.parquet",
        "parts.parquet",
        "review.csv",
    ]


def test_a_filled_in_review_queue_is_an_overrides_file(offline_run: Path, tmp_path: Path) -> None:
    review = pl.read_csv(offline_run / "ontology" / "review.csv", infer_schema=False)
    # a person decides that the faucet's base plate is PartNet's surface base
    category, name_a, name_b = "faucet", "plate", "surface_base"
    first = (pl.col("name_a") == name_a) & (pl.col("name_b") == name_b)
    assert review.filter(first).height == 1
    filled = review.with_columns(
        pl.when(first).then(pl.lit("merge")).otherwise(pl.col("decision")).alias("decision")
    )
    overrides = tmp_path / "overrides.csv"
    filled.write_csv(overrides)
    output = tmp_path / "out"
    flags = (*VOCAB, *OFFLINE, "--overrides", str(overrides))
    assert run_ontology(output, *flags) == 0
    aliases = AliasMap.load(output)
    assert aliases.resolve(category, name_a) == aliases.resolve(category, name_b)
    record = next(
        r
        for r in read_log(output)
        if r["decision"] == "merge" and r["alias"] in (name_a, name_b) and r["category"] == category
    )
    assert record["verifier"] == "override"
    assert read_run(output)["counts"]["review_items"] == review.height - 1
    assert read_run(output)["config"]["overrides_undecided_rows"] == review.height - 1


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--vocab", "partnet=/no/such/dir"), "--vocab partnet=/no/such/dir: no such file"),
        (("--vocab", "bogus=/tmp"), "unknown vocabulary 'bogus'"),
        (("--vocab", "generic"), "expected NAME=PATH (NAME alone for the bundled partnet"),
        ((), "give at least one --vocab"),
        (("--vocab", "generic={csv}", "--threshold", "1.5"), "--threshold 1.5"),
        (("--vocab", "generic={csv}", "--overrides", "/no/file.csv"), "cannot read"),
        (("--vocab", "generic={csv}", "--describer", "gemini"), "GEMINI_API_KEY"),
        (("--vocab", "generic={csv}", "--llm-workers", "0"), "--llm-workers 0: must be positive"),
    ],
)
def test_unusable_input_stops_before_any_work_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    csv = tmp_path / "names.csv"
    csv.write_text("dataset,category,part\nweb,chair,seat\n")
    flags = tuple(flag.format(csv=csv) for flag in flags)
    output = tmp_path / "out"
    assert run_ontology(output, *flags, "--embedder", "lexical", "--verifier", "rules") == 2
    error = capsys.readouterr().err.strip()
    assert message in error
    assert len(error.splitlines()) == 1
    assert not output.exists()


def test_help_lists_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    import beam_runner

    assert beam_runner.main(["--pipeline", "ontology", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in (
        "--vocab",
        "--embedder",
        "--verifier",
        "--describer",
        "--overrides",
        "--threshold",
        "--max-llm-calls",
        "--gemini-model",
        "--embedder-model",
        "shards=DIR",
        "--output",
    ):
        assert flag in text


def test_plain_packages_stay_free_of_beam_and_torch() -> None:
    repo = Path(__file__).resolve().parent.parent
    modules = sorted(p.stem for p in (repo / "ontology").glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import ontology.{m}\n" for m in modules)
        + "assert 'apache_beam' not in sys.modules, 'ontology imports apache_beam'\n"
        + "assert 'torch' not in sys.modules, 'ontology or schemas import torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo)
