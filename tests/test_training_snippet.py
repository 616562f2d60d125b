"""The README's training loop, run as it is written on the bundled samples: alone, and as
two ranks of a gloo process group with two DataLoader workers each."""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.test_dataset import training_outputs


def readme_snippet(features: Path, ontology: Path) -> str:
    """The Python block of README's "Training on the shards", on the test's outputs."""
    section = (REPO_ROOT / "README.md").read_text().split("### Training on the shards", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)[1]
    assert '"output-named/features"' in code and '"output-ontology"' in code
    code = code.replace('"output-named/features"', repr(str(features)))
    return code.replace('"output-ontology"', repr(str(ontology)))


@pytest.fixture(scope="module")
def snippet(tmp_path_factory):
    features, ontology = training_outputs(tmp_path_factory)
    script = tmp_path_factory.mktemp("snippet") / "train.py"
    script.write_text(readme_snippet(features, ontology))
    return script


def losses(output: str) -> dict[tuple[int, int], float]:
    found = re.findall(r"rank (\d+) epoch (\d+): loss ([-\d.]+|nan)", output)
    return {(int(rank), int(epoch)): float(loss) for rank, epoch, loss in found}


def run(script: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_readme_training_loop_runs_alone(snippet):
    process = run(snippet, {})
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    found = losses(output)
    assert set(found) == {(0, 0), (0, 1)} and all(math.isfinite(v) for v in found.values())


def test_the_readme_training_loop_runs_as_two_ranks(snippet):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    group = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2"}
    processes = [run(snippet, {**group, "RANK": str(rank)}) for rank in (0, 1)]
    outputs = [process.communicate(timeout=180)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output
    found = losses("".join(outputs))
    assert set(found) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert all(math.isfinite(v) for v in found.values())
