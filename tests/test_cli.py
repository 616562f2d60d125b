"""beam_runner.py: pipeline selection, help, unknown flags, bad inputs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

import beam_runner
from featurizers.partfield import OFFICIAL_CHECKPOINT
from pipelines import options
from pipelines.registry import PIPELINES
from pipelines.sources import SOURCES
from tests.conftest import REPO_ROOT


def command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python beam_runner.py ARGS`` in a fresh process, as a user types it."""
    return subprocess.run(
        [sys.executable, "beam_runner.py", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


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
        (["--source", "glb", "--input", "/a", "--input", "/b"], "/b has no --source"),
        (["--source", "glb", "--source", "glb"], "given 2 times"),
        (["--featurizers", "magic"], "magic"),
        (["--num-points", "0"], "--num-points"),
        (["--source", "partnett"], "invalid choice: 'partnett'"),
        (["--limit", "many"], "--limit"),
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


def test_a_typo_in_a_choice_gives_one_line_that_points_to_help():
    result = command("--pipeline", "features", "--source", "partnett")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "partnett" in line and "partnet" in line
    assert "beam_runner.py --pipeline features --help" in line
    assert result.stdout == ""


def test_no_harmless_library_warning_is_printed():
    result = command("--pipeline", "features", "--help")
    assert result.returncode == 0 and "--source" in result.stdout
    assert "apitools" not in result.stderr + result.stdout


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
def test_help_shows_each_pipelines_own_default_output(pipeline, capsys):
    assert beam_runner.main(["--pipeline", pipeline, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"default: ./{PIPELINES[pipeline].default_output}" in out


def test_pipelines_write_to_different_default_outputs():
    defaults = [entry.default_output for entry in PIPELINES.values()]
    assert len(set(defaults)) == len(defaults)
    assert PIPELINES["features"].default_output == "output"


@pytest.mark.parametrize("pipeline", ["features", "ontology"])
def test_an_unwritable_output_stops_before_any_work_with_one_line(pipeline, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    output = blocker / "out"
    assert beam_runner.main(["--pipeline", pipeline, "--output", str(output)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert str(output) in line and "not writable" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_an_output_on_an_unknown_file_system_is_a_usage_error(capsys):
    assert beam_runner.main(["--pipeline", "features", "--output", "nosuch://bucket/out"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "nosuch://bucket/out is not writable" in line


def test_the_writable_check_leaves_no_trace(tmp_path, capsys):
    output = tmp_path / "new" / "deeper"
    assert (
        beam_runner.main(["--pipeline", "features", "--output", str(output), "--limit", "0"]) == 2
    )
    assert "--limit" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # the check removed the folders it made


def test_light_options_agree_with_the_sources():
    assert tuple(sorted(SOURCES)) == options.SOURCE_NAMES


def test_help_lists_every_registered_featurizer_and_its_own_flags(capsys):
    from featurizers import catalog

    assert beam_runner.main(["--pipeline", "features", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"available: {', '.join(catalog.FEATURIZERS)}" in out
    for flag in catalog.flags():
        assert f"{flag.flag} {flag.metavar} " in out
    (checkpoint,) = (flag for flag in catalog.flags() if flag.flag == "--partfield-checkpoint")
    assert f"default: {'/'.join(OFFICIAL_CHECKPOINT)} from the Hugging Face hub" in checkpoint.help


class CountingHub(BaseHTTPRequestHandler):
    """A Hugging Face hub that is down: every request gets a 503, and is counted."""

    requests: ClassVar[list[str]] = []

    def _answer(self) -> None:
        CountingHub.requests.append(f"{self.command} {self.path}")
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hub_that_is_down():
    CountingHub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", CountingHub.requests
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("featurizer", ["partfield", "dinov2"])
@pytest.mark.parametrize("offline", [True, False])
def test_missing_weights_fail_at_once_with_one_line(
    featurizer, offline, hub_that_is_down, tmp_path: Path
):
    endpoint, requests = hub_that_is_down
    env = {
        "HF_ENDPOINT": endpoint,
        "HF_HUB_CACHE": str(tmp_path / "empty-cache"),
        "HF_HUB_OFFLINE": "1" if offline else "0",
    }
    result = command(
        "--pipeline",
        "features",
        "--featurizers",
        featurizer,
        "--output",
        str(tmp_path / "out"),
        env=env,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "hf download" in line and "--models random-init" in line
    assert ("HF_HUB_OFFLINE is set" in line) == offline
    # offline: the hub is not asked for the weights; online: asked once, no retries
    asked = [request for request in requests if "/resolve/" in request]
    assert len(asked) == (0 if offline else 1), requests
    assert not (tmp_path / "out").exists()
