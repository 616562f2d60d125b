"""The features pipeline on Beam's portable runner, its workers in an external worker pool.

``--runner PortableRunner --job_endpoint embed --environment_type EXTERNAL`` is the Fn API
contract Dataflow, Flink and Spark use: the pipeline is sent as a proto, and every DoFn runs
in a separate SDK worker process started by ``worker_pool_main`` on 127.0.0.1, which must
find the partbank code, the inputs and the output folder itself. Its rows must equal the
local runner's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PortableOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.runner import PipelineRunner
from apache_beam.transforms import environments

import beam_runner
from schemas.compare import compare_outputs
from tests.features_output import committed_shards

ROOT = Path(__file__).resolve().parent.parent

#: Small renders and clouds: the comparison, not the figures, is what this test is about.
FEATURES_ARGS = (
    "--featurizers", "rgb", "--views", "4", "--image-size", "128", "--num-points", "2000",
    "--shapes-per-shard", "4",
)  # fmt: skip
#: Seconds the pool may take to listen, and to stop before it is killed; seconds a run may take.
POOL_START_S, POOL_STOP_S, RUN_S = 60, 10, 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + POOL_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"worker pool exited with {process.returncode}: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"worker pool not listening on 127.0.0.1:{port} after {POOL_START_S} s")


def stop(process: subprocess.Popen) -> None:
    """Stop the pool and the workers it started (its process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=POOL_STOP_S)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory):
    """``worker_pool_main`` on a free port; yields (port, its log file, the environment of
    the processes that use it).

    The pool starts each worker as ``python -c ...`` found on PATH, so a folder whose
    ``python`` is this interpreter goes first (a system Python may have only ``python3``).
    The pool and its workers run in their own process group, killed at teardown.
    """
    port = free_port()
    folder = tmp_path_factory.mktemp("pool")
    log = folder / "pool.log"
    (folder / "bin").mkdir()
    (folder / "bin" / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": os.pathsep.join([str(folder / "bin"), os.environ["PATH"]])}
    command = [
        sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
        f"--service_port={port}",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_port(port, process, log)
        yield port, log, env
    finally:
        stop(process)


class ExternalPoolRunner(PipelineRunner):
    """Beam's local Fn API runner with its workers in the external pool of the command line
    (``--environment_type EXTERNAL --environment_config HOST:PORT``), ``--direct_num_workers``
    of them: the embedded job service of ``PortableRunner`` starts one worker per
    environment, this starts several, so bundles of one stage run in separate processes.
    The launchers run as ``beam_runner.py`` in the repository root, where ``--runner
    tests.test_portable_runner.ExternalPoolRunner`` imports."""

    def run_pipeline(self, pipeline, options):
        pool = environments.ExternalEnvironment.from_options(options.view_as(PortableOptions))
        return FnApiRunner(default_environment=pool).run_pipeline(pipeline, options)


@dataclass(frozen=True)
class Run:
    """One run's ``--output`` folder and what the worker pool logged meanwhile."""

    output: Path
    pool_log: str

    @property
    def run_file(self) -> dict:
        return json.loads((self.output / "features_run.json").read_text())

    @property
    def workers_started(self) -> set[str]:
        return set(re.findall(r'worker_id="([^"]+)"', self.pool_log))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, worker_pool) -> dict[str, Run]:
    """The bundled samples through the local runner, the portable runner (one worker of the
    pool) and the Fn API runner on two workers of the pool."""
    port, log, env = worker_pool
    pool = ("--environment_type", "EXTERNAL", "--environment_config", f"127.0.0.1:{port}")
    runners = {
        "local": ("--runner", "FnApiRunner"),
        "portable": ("--runner", "PortableRunner", "--job_endpoint", "embed", *pool),
        "two_workers": (
            "--runner", "tests.test_portable_runner.ExternalPoolRunner",
            "--direct_num_workers", "2", *pool,
        ),
    }  # fmt: skip
    root = tmp_path_factory.mktemp("runners")
    runs = {}
    for name, runner_args in runners.items():
        logged = log.stat().st_size
        args = ["--pipeline", "features", "--output", str(root / name), *FEATURES_ARGS]
        if name == "local":  # in this process: nothing here can wait on another process
            assert beam_runner.main([*args, *runner_args]) == 0
        else:  # a launcher of its own, killed if its workers never answer
            launcher = subprocess.run(
                [sys.executable, "beam_runner.py", *args, *runner_args],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_S,
            )  # fmt: skip
            assert launcher.returncode == 0, f"{name}: {launcher.stderr[-3000:]}"
        with log.open("rb") as pool_log:
            pool_log.seek(logged)
            runs[name] = Run(root / name, pool_log.read().decode(errors="replace"))
    return runs


def different(a: Path, b: Path) -> dict[str, list[str]]:
    """``compare_outputs``'s problems, per file that has any; checks that the first run's
    first version and its shards were all compared (the runs had something to compare)."""
    differences = compare_outputs(a, b)
    shards = [file.name for file in committed_shards(a)]
    assert shards and {"_log/v000001.parquet", *shards} <= differences.keys()
    return {name: problems for name, problems in differences.items() if problems}


def test_portable_runner_rows_equal_the_local_runners(runs):
    assert different(runs["local"].output, runs["portable"].output) == {}
    assert runs["portable"].run_file["counts"] == runs["local"].run_file["counts"]
    assert runs["local"].run_file["counts"]["ok"] > 0


def test_the_portable_run_ran_in_a_worker_of_the_pool(runs, worker_pool):
    assert len(runs["portable"].workers_started) == 1
    assert runs["local"].workers_started == set()
    assert runs["portable"].run_file["runner"] == {
        "name": "PortableRunner",
        "job_endpoint": "embed",
        "environment_type": "EXTERNAL",
        "environment_config": f"127.0.0.1:{worker_pool[0]}",
    }
    assert runs["local"].run_file["runner"] == {
        "name": "FnApiRunner",
        "running_mode": "in_memory",
        "num_workers": 1,
    }


def test_two_worker_processes_write_the_local_runners_rows_in_its_order(runs):
    assert len(runs["two_workers"].workers_started) == 2
    assert different(runs["local"].output, runs["two_workers"].output) == {}
