"""Candidate search: exact, deterministic, and complete for what the rules must see."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ontology.candidates import (
    OVERLAP_NEIGHBOURS,
    SIMILAR_PER_ENTITY,
    lexical_pairs,
    overlap_pairs,
    scope_candidates,
    similar_and_nearest,
)
from ontology.embed import entity_text
from ontology.entities import category_entities, part_entities
from ontology.vocabulary import BUNDLED, VocabularySpec, read_vocabulary, vocabulary_table
from tests.ontology_helpers import category, part


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_similar_and_nearest_are_exact() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 16))
    vectors = _unit(np.repeat(centers, 3, axis=0) + 0.3 * rng.normal(size=(60, 16)))
    similar, nearest = similar_and_nearest(vectors, 0.8, 2)
    cosine = np.round(vectors @ vectors.T, 6)
    np.fill_diagonal(cosine, -np.inf)
    for row in range(60):
        ranked = sorted(range(60), key=lambda j: (-cosine[row, j], j))
        assert [j for r, j in nearest if r == row] == ranked[:2]
        above = [j for j in ranked if cosine[row, j] >= 0.8][:SIMILAR_PER_ENTITY]
        assert [j for r, j in similar if r == row] == above


def test_ties_go_to_the_lower_index_and_closed_lists_are_masked() -> None:
    vectors = _unit(np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float64))
    similar, nearest = similar_and_nearest(vectors, 0.99, 1)
    assert nearest == [(0, 1), (1, 0), (2, 0), (3, 0)]
    assert similar == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    lists = [frozenset({("partnet", "Chair")})] * 2 + [frozenset()] * 2
    _, nearest = similar_and_nearest(vectors, 0.99, 1, lists)
    assert nearest == [(0, 2), (1, 2), (2, 0), (3, 0)]  # 0 and 1 share a closed list
    assert similar_and_nearest(vectors[:1], 0.5, 3) == ([], [])


def test_scope_candidates_add_same_key_and_forced_pairs() -> None:
    seat, chair_seat, leg, foot = (
        part(n, dataset=d)
        for n, d in (("seat", "x"), ("chair_seat", "y"), ("leg", "x"), ("foot", "x"))
    )
    vectors = np.eye(4, dtype=np.float32)  # nothing is similar
    candidates = scope_candidates(
        [seat, chair_seat, leg, foot],
        vectors,
        0.8,
        forced_pairs=[("leg", "foot"), ("x", "leg")],
        neighbours=0,
    )
    assert [(c.names, c.found_by) for c in candidates] == [
        (("chair_seat", "seat"), ("lexical", "key")),
        (("foot", "leg"), ("override",)),
    ]
    assert all(c.similarity == 0.0 for c in candidates)


def _vocabulary_entities(scope: str, names: dict[str, list[tuple[str, str]]]) -> list:
    """Part entities of the bundled vocabularies' raw categories mapped to ``scope``."""
    table = vocabulary_table(read_vocabulary(VocabularySpec.parse(n)) for n in BUNDLED)
    raw = {category for found in names.values() for _, category in found}
    table = table.filter(pl.col("category").is_in(sorted(raw)))
    wanted = {name for name in names}
    entities = part_entities(table, dict.fromkeys(sorted(raw), scope))
    return [e for e in entities if e.name in wanted]


@pytest.mark.parametrize(
    ("scope", "a", "b"),
    [
        ("table", ("tabletop_connector", "Table"), ("top_connector", "table")),  # compound
        ("lamp", ("cord", "Lamp"), ("lamp_chord", "lamp")),  # one letter more
        ("lamp", ("light_bulb", "Lamp"), ("bulb", "lamp")),  # lamp-implied modifier
        ("lamp", ("lamp_shade", "Lamp"), ("lamp_cover", "lamp")),  # only child
        ("cabinet", ("back_panel", "StorageFurniture"), ("vertical_back_panel", "cabinet")),
        ("chair", ("back_connector", "Chair"), ("backrest_connector", "chair")),  # lexicon
    ],
)
def test_lexical_candidates_pair_real_variants(scope: str, a: tuple, b: tuple) -> None:
    entities = _vocabulary_entities(scope, {a[0]: [a], b[0]: [b]})
    names = [e.name for e in entities]
    pairs = {(names[i], names[j]) for i, j in lexical_pairs(entities)}
    assert tuple(sorted((a[0], b[0]))) in pairs


def test_lexical_candidates_skip_unrelated_names() -> None:
    entities = [part("caster_stem"), part("armrest", dataset="3dcompat"), part("seat_frame")]
    assert lexical_pairs(entities) == []


def test_categories_sharing_part_names_are_candidates() -> None:
    table = vocabulary_table(read_vocabulary(VocabularySpec.parse(n)) for n in BUNDLED)
    categories = category_entities(table)
    pairs = [(categories[i], categories[j]) for i, j in overlap_pairs(categories)]
    names = {(a.name, b.name) for a, b in pairs}
    assert {("Chair", "chair"), ("Chair", "stool"), ("Vase", "planter")} <= names
    assert all(a.datasets != b.datasets for a, b in pairs)  # never two of one dataset
    assert len(names) <= OVERLAP_NEIGHBOURS * len(categories)


def test_the_embedded_text_carries_the_category_and_the_parents() -> None:
    tube = part("tube", "faucet", path="faucet/normal_faucet/spout/tube", description="a tube")
    assert entity_text(tube) == "tube (faucet > spout): a tube"
    assert entity_text(category("StorageFurniture")) == "storage furniture: "
