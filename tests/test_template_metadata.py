"""The committed Flex Template metadata is what the pipelines' options generate, and every
parameter is a flag the pipeline's parser takes as ``--name=value``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.registry import PIPELINES, beam_option_parser
from pipelines.template import template_metadata, template_metadata_json

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ("features", "ontology")


def committed(name: str) -> Path:
    return ROOT / "deploy" / name / "metadata.json"


def example_value(parameter: dict) -> str:
    """A value the parameter's regexes accept (or a plain word where it has none)."""
    for candidate in ("glb", "mpnet", "1", "0.5", "32GB", "gs://bucket/out", "word"):
        if all(re.fullmatch(regex, candidate) for regex in parameter.get("regexes", [])):
            return candidate
    choices = re.fullmatch(r"\^\((.+?)[|)].*", parameter["regexes"][0])
    return choices.group(1)


@pytest.mark.parametrize("name", TEMPLATES)
def test_committed_metadata_is_what_the_options_generate(name):
    entry = PIPELINES[name]
    expected = template_metadata_json(entry, entry.options_class())
    assert committed(name).read_text() == expected, (
        f"deploy/{name}/metadata.json is stale: python beam_runner.py --pipeline {name} "
        f"--template-metadata > deploy/{name}/metadata.json"
    )


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_parameter_is_a_flag_taking_name_equals_value(name):
    entry = PIPELINES[name]
    parser = beam_option_parser(entry.options_class())
    parameters = json.loads(committed(name).read_text())["parameters"]
    for parameter in parameters:
        assert set(parameter) <= {"name", "label", "helpText", "isOptional", "regexes"}
        assert parameter["label"] and parameter["helpText"]
        value = example_value(parameter)
        _, unknown = parser.parse_known_args([f"--{parameter['name']}={value}"])
        assert unknown == [], parameter["name"]


def test_an_option_added_or_changed_shows_in_the_metadata():
    entry = PIPELINES["features"]
    generated = template_metadata(entry, entry.options_class())
    by_name = {p["name"]: p for p in generated["parameters"]}
    assert by_name["model-batch-size"]["regexes"] == ["^[1-9][0-9]*$"]
    assert by_name["device"]["regexes"] == ["^(auto|cpu|cuda)$"]
    assert by_name["num-points"]["helpText"] == "surface points per shape (default 10000)"
    assert not by_name["output"]["isOptional"] and by_name["ontology"]["isOptional"]
    assert "emit-views" not in by_name  # a flag without a value cannot be --name=value


def test_the_command_prints_the_committed_file():
    printed = subprocess.run(
        [sys.executable, "beam_runner.py", "--pipeline", "ontology", "--template-metadata"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == committed("ontology").read_text()
