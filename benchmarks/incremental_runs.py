"""Figures of incremental, versioned features runs (issue: reruns, graph size, memory).

    python benchmarks/incremental_runs.py rerun --shapes 200 -- --featurizers rgb
    python benchmarks/incremental_runs.py graph --inputs 1000 100000
    python benchmarks/incremental_runs.py discover --files 100000
    python benchmarks/incremental_runs.py memory --inputs 2000 20000
    python benchmarks/incremental_runs.py memory --inputs 50 500 -- --featurizers rgb

``rerun``: a first run over generated PartNet-format shapes, an unchanged rerun, then a
rerun with 10 more inputs: pipeline seconds of each (``features_run.json``), how many
shapes each featurized, and how many of the first run's shard files were rewritten.
``graph``: the size of the job graph (the pipeline proto Beam submits) for a list file of
N inputs. ``discover``: time to list N tiny OBJ files, as a worker does. ``memory``: peak
RSS of a whole local run (a child process) over N tiny OBJ files (4 triangles each).
Arguments after ``--`` go to the pipeline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import sample_data  # noqa: E402


def tiny_obj_corpus(folder: Path, count: int) -> Path:
    """``count`` OBJ files of one tetrahedron each (4 triangles, two named groups), each
    shifted by its index so that every file's bytes differ."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        x = i * 1e-3
        text = (
            f"v {x} 0 0\nv {x + 1} 0 0\nv {x} 1 0\nv {x} 0 1\n"
            "g seat\nf 1 3 2\nf 1 2 4\ng leg_01\nf 1 4 3\nf 2 3 4\n"
        )
        (folder / f"shape_{i:06d}.obj").write_text(text)
    return folder


#: Runs a command, sampling its RSS (KiB) every 0.5 s; prints the samples, then the peak RSS
#: of it and its waited-for children.
_PEAK_RSS = """
import resource, subprocess, sys, time
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
samples = []
while child.poll() is None:
    try:
        status = open(f"/proc/{child.pid}/status").read()
        samples.append(int(status.split("VmRSS:")[1].split()[0]))
    except (OSError, IndexError):
        pass
    time.sleep(0.5)
if child.returncode:
    sys.exit(child.returncode)
print(*samples)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_features(args: list[str]) -> tuple[float, dict, float, list[float]]:
    """Run the features command in a child process: (wall seconds, its run file, the
    child's peak RSS in GiB, its RSS peak in each eighth of the run in GiB)."""
    start = time.perf_counter()
    command = [sys.executable, str(ROOT / "beam_runner.py"), "--pipeline", "features", *args]
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *command],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    samples_line, peak_line = done.stdout.strip().splitlines()[-2:]
    samples = [int(value) / 1024**2 for value in samples_line.split()]
    eighths = [
        max(samples[len(samples) * k // 8 : max(len(samples) * (k + 1) // 8, 1)], default=0.0)
        for k in range(8)
    ]
    output = Path(args[args.index("--output") + 1])
    run = json.loads((output / "features_run.json").read_text())
    return time.perf_counter() - start, run, int(peak_line) / 1024**2, eighths


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (out / "features").glob("part-*.parquet")}


def rerun(shapes: int, pipeline_args: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = sample_data.write_partnet_corpus(Path(tmp) / "data_v0", shapes)
        out = Path(tmp) / "out"
        args = ["--source", "partnet", "--input", str(data), "--output", str(out), *pipeline_args]
        label = " ".join(pipeline_args) or "--featurizers none"
        first_s, first, _, _ = run_features(args)
        before = shard_bytes(out)
        again_s, again, _, _ = run_features(args)
        sample_data.write_partnet_corpus(data, 10, first=shapes)
        more_s, more, _, _ = run_features(args)
        after = shard_bytes(out)
        rewritten = sum(after.get(name) != data for name, data in before.items())
        for name, run, wall in (
            ("first run", first, first_s),
            ("unchanged rerun", again, again_s),
            ("+10 inputs", more, more_s),
        ):
            counts = run["counts"]
            print(
                f"{name} ({shapes} shapes, {label}): pipeline {run['timings_s']['pipeline']} s "
                f"(wall {wall:.1f} s incl. interpreter start); featurized {counts['ok']}, "
                f"reused {counts['skipped_cached']}, failed {counts['failed']}"
            )
        ratio = again["timings_s"]["pipeline"] / first["timings_s"]["pipeline"]
        print(f"unchanged rerun / first run (pipeline time): {ratio:.1%}")
        print(f"first run's shard files rewritten by the +10 run: {rewritten} of {len(before)}")


def graph(sizes: list[int]) -> None:
    import apache_beam as beam

    from featurizers.config import FeaturesConfig
    from pipelines.features import FeaturesRun

    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            listing = Path(tmp) / f"inputs-{size}.csv"
            listing.write_text(
                "path\n" + "".join(f"/data/texverse/{i:07d}.glb\n" for i in range(size))
            )
            config = FeaturesConfig(str(Path(tmp) / "out"), inputs=(("glb", str(listing)),))
            pipeline = beam.Pipeline(runner="FnApiRunner")
            _ = pipeline | FeaturesRun(config.validated())
            proto = pipeline.to_runner_api().SerializeToString()
            print(f"job graph for a list of {size:,} inputs: {len(proto):,} bytes")


def discover(count: int) -> None:
    from pipelines.sources.discovery import check_location
    from pipelines.sources.generic import GenericMeshSource

    with tempfile.TemporaryDirectory() as tmp:
        folder = tiny_obj_corpus(Path(tmp) / "objs", count)
        start = time.perf_counter()
        check_location("glb", str(folder))
        checked = time.perf_counter() - start
        start = time.perf_counter()
        found = GenericMeshSource().discover(str(folder))
        listed = time.perf_counter() - start
        print(
            f"discovery of {len(found):,} files: {listed:.2f} s on a worker "
            f"({len(found) / listed:,.0f} files/s); the launcher's check: {checked * 1000:.1f} ms"
        )


def memory(sizes: list[int], pipeline_args: list[str]) -> None:
    label = " ".join(pipeline_args) or "--featurizers none"
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            data = tiny_obj_corpus(Path(tmp) / "objs", size)
            out = Path(tmp) / "out"
            wall, run, peak_gib, eighths = run_features(
                ["--source", "glb", "--input", str(data), "--output", str(out), *pipeline_args]
            )
            print(
                f"{size:,} inputs ({label}): peak RSS {peak_gib:.2f} GiB, {wall:.1f} s, "
                f"{run['counts']['ok']} written, {run['counts']['failed']} failed; RSS peak "
                f"per eighth of the run: {' '.join(f'{g:.2f}' for g in eighths)} GiB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure", choices=("rerun", "graph", "discover", "memory"))
    parser.add_argument("--shapes", type=int, default=200)
    parser.add_argument("--inputs", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--files", type=int, default=100_000)
    args, pipeline_args = parser.parse_known_args()
    pipeline_args = pipeline_args[1:] if pipeline_args[:1] == ["--"] else pipeline_args
    if args.figure == "rerun":
        rerun(args.shapes, pipeline_args)
    elif args.figure == "graph":
        graph(args.inputs)
    elif args.figure == "discover":
        discover(args.files)
    else:
        memory(args.inputs, pipeline_args)


if __name__ == "__main__":
    main()
