"""The labeled dev set: real names, valid labels, and no rule or lexicon entry naming a pair."""

from __future__ import annotations

import ast
import csv
from collections import Counter
from pathlib import Path

from ontology.lexicon import EQUIVALENT_WORDS, UNINFORMATIVE_MODIFIERS
from ontology.vocabulary import BUNDLED, VocabularySpec, read_vocabulary, vocabulary_table

DEV_PAIRS = Path(__file__).parent / "data" / "ontology_dev_pairs.csv"
RULE_SOURCES = ("rules.py", "lexicon.py", "forms.py", "candidates.py")


def _pairs() -> list[dict[str, str]]:
    with DEV_PAIRS.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_pair_names_real_labels_of_the_bundled_vocabularies() -> None:
    table = vocabulary_table(read_vocabulary(VocabularySpec.parse(n)) for n in BUNDLED)
    parts = set(table.select("dataset", "category", "part").iter_rows())
    categories = set(table.select("dataset", "category").iter_rows())
    pairs = _pairs()
    assert len(pairs) >= 150
    assert Counter(p["label"] for p in pairs).keys() == {"merge", "keep"}
    for pair in pairs:
        for side in ("a", "b"):
            where = (pair[f"dataset_{side}"], pair[f"category_{side}"])
            if pair["kind"] == "category":
                assert where in categories and pair[f"name_{side}"] == where[1], pair
            else:
                assert (*where, pair[f"name_{side}"]) in parts, pair
    keys = [
        (p["kind"], *sorted([(p["category_a"], p["name_a"]), (p["category_b"], p["name_b"])]))
        for p in pairs
    ]
    assert len(set(keys)) == len(keys)  # no pair twice


def _code_strings() -> set[str]:
    """Every string literal of the rule and candidate code, docstrings left out."""
    found = set()
    for name in RULE_SOURCES:
        tree = ast.parse((Path(__file__).parent.parent / "ontology" / name).read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        found.update(
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        )
    return found


def test_no_rule_or_lexicon_entry_names_a_dev_pair() -> None:
    groups = [set(group) for group in EQUIVALENT_WORDS]
    strings = _code_strings()
    for pair in _pairs():
        a, b = pair["name_a"].lower(), pair["name_b"].lower()
        if a == b:  # one name in two datasets: nothing to name
            continue
        assert not any({a, b} <= group for group in groups), pair  # no lexicon group
        assert a not in UNINFORMATIVE_MODIFIERS and b not in UNINFORMATIVE_MODIFIERS
        # the code names words, never a dataset label of several words
        assert not {pair["name_a"], pair["name_b"]} & {s for s in strings if "_" in s}, pair
