"""benchmarks/gpu_check.sh on a machine without a GPU, and the table it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_without_cuda_it_says_so_and_marks_every_part_not_run(tmp_path):
    # no GPU in tests; CUDA_VISIBLE_DEVICES="" hides one should the machine have it
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("gpu_check: no CUDA device")
    table = (tmp_path / "gpu_table.md").read_text().splitlines()
    assert [cell.strip() for cell in table[0].split("|")[1:4]] == ["part", "figure", "value"]
    parts = [line.split("|")[1].strip() for line in table[2:]]
    assert parts == ["cuda tests", "dinov2_lift", "partfield_forward", "features pipeline"]
    assert all("not run: no CUDA device" in line for line in table[2:])
    assert (tmp_path / "gpu_check.log").read_text().count("not run: no CUDA device") == 4


def test_table_holds_each_test_outcome_before_the_rows_of_the_parts(tmp_path):
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_good():\n    assert True\n"
        "def test_bad():\n    assert 1 == 2, 'one is not two'\n"
        "def test_absent():\n    pytest.skip('nvidia.dali not installed')\n"
    )
    junit = tmp_path / "cuda.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        timeout=120,
    )
    rows = tmp_path / "rows.tsv"
    rows.write_text("machine\tGPU\tNVIDIA H200\ncuda tests\twall s\t12\ndinov2_lift\tlift\t3.1\n")
    table = subprocess.run(
        [sys.executable, "benchmarks/gpu_table.py", str(rows), "--junit", str(junit)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    cells = [[cell.strip() for cell in line.split("|")[1:4]] for line in table[2:]]
    assert cells[0] == ["machine", "GPU", "NVIDIA H200"]
    assert cells[1] == ["cuda tests", "test_good", "passed"]
    assert cells[2][:2] == ["cuda tests", "test_bad"]
    assert cells[2][2].startswith("FAILED: ") and "one is not two" in cells[2][2]
    assert cells[3] == ["cuda tests", "test_absent", "skipped: nvidia.dali not installed"]
    assert cells[4] == ["cuda tests", "total", "1 passed, 1 failed, 1 skipped"]
    assert cells[5:] == [["cuda tests", "wall s", "12"], ["dinov2_lift", "lift", "3.1"]]
    assert len({len(line) for line in table}) == 1  # columns line up
