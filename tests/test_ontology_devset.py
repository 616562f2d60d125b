"""The labeled dev set: real names, valid labels, and no rule or lexicon entry naming a pair."""

from __future__ import annotations

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


def test_no_rule_or_lexicon_entry_names_a_dev_pair() -> None:
    groups = [set(group) for group in EQUIVALENT_WORDS]
    lines = [
        line
        for name in RULE_SOURCES
        for line in (Path(__file__).parent.parent / "ontology" / name).read_text().splitlines()
    ]
    for pair in _pairs():
        a, b = pair["name_a"].lower(), pair["name_b"].lower()
        assert a == b or not any({a, b} <= group for group in groups), pair  # no lexicon group
        assert a not in UNINFORMATIVE_MODIFIERS and b not in UNINFORMATIVE_MODIFIERS
        quoted = [(f"'{a}'", f"'{b}'"), (f'"{a}"', f'"{b}"'), (f"``{a}``", f"``{b}``")]
        for line in lines:  # no rule, comment or docstring line names both
            assert not any(x in line and y in line for x, y in quoted), (pair, line)
