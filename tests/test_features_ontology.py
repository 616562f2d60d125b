"""Closing the loop: feature shards' part names -> ontology -> canonical names in shards."""

from __future__ import annotations

import json

import polars as pl
import pytest

import beam_runner
from ontology import AliasMap
from ontology.vocabulary import VocabularySpec, read_vocabulary
from tests.features_output import committed_rows


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    raw, ontology, named = root / "raw", root / "ontology", root / "named"
    assert beam_runner.main(["--pipeline", "features", "--output", str(raw)]) == 0
    assert beam_runner.main([
        "--pipeline", "ontology", "--vocab", "partnet",
        "--vocab", f"shards={raw}", "--embedder", "lexical", "--verifier", "rules",
        "--describer", "template", "--output", str(ontology),
    ]) == 0  # fmt: skip
    args = ["--pipeline", "features", "--ontology", str(ontology), "--output", str(named)]
    assert beam_runner.main(args) == 0
    return raw, ontology, named


def test_shards_vocabulary_lists_each_part_name_with_its_shape_count(outputs):
    raw, _, _ = outputs
    table = read_vocabulary(VocabularySpec.parse(f"shards={raw}"))
    legs = table.filter((pl.col("dataset") == "partnet") & (pl.col("category") == "Chair"))
    assert "chair/chair_base/regular_leg_base/leg" in legs["path"].to_list()
    assert set(table["dataset"]) == {"partnet", "3dcompat", "find3d", "glb"}
    assert (table["count"] >= 1).all()


def test_features_with_ontology_fill_canonical_names_and_part_uids(outputs):
    _, ontology, named = outputs
    parts_table = pl.read_parquet(ontology / "ontology" / "parts.parquet")
    aliases = AliasMap.load(ontology)
    shards = committed_rows(named)
    for category_raw, category, parts in shards.select(
        "category_raw", "category", "parts"
    ).iter_rows():
        assert category == aliases.resolve_category(category_raw)
        for part in parts:
            assert 0 <= part["part_uid"] < parts_table.height
            assert parts_table["part_uid"][part["part_uid"]] == part["part_uid"]
    run = json.loads((named / "features_run.json").read_text())
    assert run["unresolved_names"] == 0
    assert run["config"]["ontology"]  # the alias log's hash is part of the config


def test_partnet_leaf_paths_resolve_like_their_leaf_names(outputs):
    _, ontology, named = outputs
    aliases = AliasMap.load(ontology)
    chair = committed_rows(named).filter(pl.col("shape_id") == "partnet/1001")
    (parts,) = chair["parts"].to_list()
    leg = next(p for p in parts if p["name_raw"].endswith("/leg"))
    assert (leg["name"], leg["part_uid"]) == aliases.resolve("Chair", "leg")[1:]


def test_unknown_ontology_folder_stops_before_any_work(tmp_path, capsys):
    code = beam_runner.main(
        [
            "--pipeline",
            "features",
            "--ontology",
            str(tmp_path / "nothing"),
            "--output",
            str(tmp_path),
        ]
    )
    assert code == 2 and "--ontology" in capsys.readouterr().err
