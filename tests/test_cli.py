"""beam_runner.py: pipeline selection, help, unknown flags, bad inputs."""

from __future__ import annotations

import subprocess
import sys

import pytest

import beam_runner
from tests.conftest import REPO_ROOT


def test_help_lists_the_pipelines(capsys):
    assert beam_runner.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "features" in out and "ontology" in out


def test_no_pipeline_is_a_usage_error(capsys):
    assert beam_runner.main([]) == 2
    assert "--pipeline" in capsys.readouterr().err


def test_unknown_pipeline_names_the_choices(capsys):
    assert beam_runner.main(["--pipeline", "nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "features" in err


def test_pipeline_help_lists_its_own_options(capsys):
    assert beam_runner.main(["--pipeline", "features", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--source", "--input", "--output", "--num-points", "--featurizers", "--limit"):
        assert flag in out
    assert "--runner" in out  # says Beam options pass through


def test_unknown_flag_is_an_error(capsys, tmp_path):
    code = beam_runner.main(
        ["--pipeline", "features", "--output", str(tmp_path), "--colour", "red"]
    )
    assert code == 2
    assert "--colour" in capsys.readouterr().err
    assert not (tmp_path / "features").exists()


def test_beam_flags_pass_through(tmp_path):
    code = beam_runner.main(
        [
            "--pipeline",
            "features",
            "--output",
            str(tmp_path),
            "--limit",
            "1",
            "--runner",
            "FnApiRunner",
            "--direct_num_workers",
            "1",
        ]
    )
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "partnet", "--input", "/nonexistent/data_v0"], "/nonexistent/data_v0"),
        (["--input", "/somewhere"], "--input needs --source"),
        (["--featurizers", "magic"], "magic"),
        (["--num-points", "0"], "--num-points"),
    ],
)
def test_bad_inputs_stop_before_any_work_with_one_line(args, message, tmp_path, capsys):
    code = beam_runner.main(["--pipeline", "features", "--output", str(tmp_path), *args])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "features").exists()


def test_script_runs_as_a_command():
    result = subprocess.run(
        [sys.executable, "beam_runner.py", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and "features" in result.stdout
