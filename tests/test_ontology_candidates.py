"""Candidate search: exact, deterministic, and complete for what the rules must see."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from ontology.candidates import scope_candidates, similar_pairs
from tests.ontology_helpers import part

REPO = Path(__file__).resolve().parent.parent


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_range_search_finds_exactly_the_pairs_above_threshold() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 16))
    vectors = _unit(np.repeat(centers, 3, axis=0) + 0.3 * rng.normal(size=(60, 16)))
    found = similar_pairs(vectors, 0.8)
    cosine = vectors.astype(np.float64) @ vectors.T.astype(np.float64)
    expected = {(i, j) for i in range(60) for j in range(i + 1, 60) if cosine[i, j] >= 0.8}
    assert {(i, j) for i, j, _ in found} == expected
    scores = [score for _, _, score in found]
    assert scores == sorted(scores, reverse=True)
    assert similar_pairs(vectors, 0.8, neighbours=60) == found  # k-NN path, CPU here


def test_ties_are_ordered_by_index_every_run() -> None:
    vectors = _unit(np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float64))
    assert similar_pairs(vectors, 0.99) == [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 1.0)]
    assert similar_pairs(vectors[:1], 0.5) == []


def test_scope_candidates_add_same_key_and_forced_pairs() -> None:
    seat, chair_seat, leg, foot = (part(n) for n in ("seat", "chair_seat", "leg", "foot"))
    vectors = np.eye(4, dtype=np.float32)  # nothing is similar
    candidates = scope_candidates(
        [seat, chair_seat, leg, foot], vectors, 0.8, forced_pairs=[("leg", "foot"), ("x", "leg")]
    )
    assert [c.names for c in candidates] == [("chair_seat", "seat"), ("foot", "leg")]
    assert all(c.similarity == 0.0 for c in candidates)


def test_faiss_loads_without_its_loader_lines_at_info_level() -> None:
    code = (
        "import logging, numpy as np\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from ontology.candidates import similar_pairs\n"
        "print(similar_pairs(np.eye(2, dtype=np.float32), 0.5))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout == "[]\n"
    assert "faiss" not in done.stderr  # e.g. "Could not load library with AVX2 support"
