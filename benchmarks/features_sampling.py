"""Throughput of the features pipeline: load + sample + write, and with featurizers.

Prints, on this machine:
  * per-stage milliseconds per shape over the bundled samples (in process, no Beam;
    ``--no-stages`` skips them);
  * end-to-end shapes/s of ``beam_runner.py --pipeline features`` on a PartNet-format
    folder of ``--shapes`` generated shapes (local FnApiRunner), once per ``--workers``
    count (1: in process; N: ``--direct_running_mode=multi_processing
    --direct_num_workers=N``) with the run's pipeline time and seconds of work per stage,
    with the pipeline options given after ``--`` (default: ``--featurizers none``);
    ``--rows PATH`` appends those figures for ``gpu_check.sh``.

    python benchmarks/features_sampling.py [--shapes 200] [--repeats 5] [--no-stages]
        [--workers 1 2] [--rows PATH] [-- PIPELINE OPTIONS]
    python benchmarks/features_sampling.py --shapes 6 -- --featurizers dinov2 \
        --models random-init --dinov2-model facebook/dinov2-small
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import beam_runner
from benchmarks.figures import add_rows_option, append_rows
from featurizers.sampling import sample_shape
from pipelines import sample_data
from pipelines.sources import SOURCES
from pipelines.stages import SampledShape, ShapeTask, ShardKey, ToShardRow
from schemas.features import features_schema, shard_table


def stage_timings(repeats: int) -> None:
    inputs = [
        (SOURCES[name](), source_input)
        for name in SOURCES
        for source_input in SOURCES[name]().discover(str(sample_data.SAMPLES_DIR / name))
    ]
    schema = features_schema()
    to_row = ToShardRow("bench", ontology=None)
    to_row.setup()
    load = sample = write = 0.0
    for _ in range(repeats):
        for source, source_input in inputs:
            t0 = time.perf_counter()
            record = source.load(source_input)
            t1 = time.perf_counter()
            points = sample_shape(record)
            t2 = time.perf_counter()
            task = ShapeTask(ShardKey("bench", 1), source_input)
            _, item = next(to_row.process(SampledShape(task, record, points)))
            pq.write_table(shard_table([item.row], schema), io.BytesIO(), compression="zstd")
            t3 = time.perf_counter()
            load, sample, write = load + t1 - t0, sample + t2 - t1, write + t3 - t2
    count = repeats * len(inputs)
    print(f"bundled samples ({len(inputs)} shapes x {repeats}), ms/shape:")
    print(f"  load   {1000 * load / count:7.2f}")
    print(f"  sample {1000 * sample / count:7.2f}  (10,000 points)")
    print(f"  write  {1000 * write / count:7.2f}  (Arrow table + zstd Parquet)")
    total = load + sample + write
    print(f"  total  {1000 * total / count:7.2f}  -> {count / total:.1f} shapes/s")


def worker_options(workers: int) -> list[str]:
    """Beam's local runner options for ``workers`` worker processes (1: in process)."""
    if workers == 1:
        return []
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]


def pipeline_throughput(
    shape_count: int, pipeline_args: list[str], workers: list[int]
) -> list[tuple[int, float]]:
    """Run the pipeline on ``shape_count`` generated shapes once per worker count; print
    and return (workers, shapes/s) of each run."""
    makers = list(sample_data.SHAPES.items())
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data_v0"
        for i in range(shape_count):
            category, make = makers[i % len(makers)]
            sample_data.write_partnet(data, f"{10_000 + i}", category.title(), make())
        for count in workers:
            output = Path(tmp) / f"out-{count}"
            start = time.perf_counter()
            code = beam_runner.main(
                [
                    *("--pipeline", "features", "--source", "partnet", "--input", str(data)),
                    *("--output", str(output), *pipeline_args, *worker_options(count)),
                ]
            )
            seconds = time.perf_counter() - start
            if code != 0:
                raise SystemExit(f"features pipeline failed with exit code {code}")
            timings = json.loads((output / "features_run.json").read_text())["timings_s"]
            stages = ", ".join(
                f"{name} {value}"
                for name, value in timings.items()
                if name not in ("prepare", "pipeline", "total")
            )
            print(
                f"pipeline end to end ({' '.join(pipeline_args) or '--featurizers none'}, "
                f"{count} worker process{'es' if count > 1 else ''}): {shape_count} "
                f"PartNet-format shapes in {seconds:.2f} s -> {shape_count / seconds:.2f} "
                f"shapes/s (incl. startup; pipeline {timings['pipeline']} s; "
                f"work s per stage: {stages})"
            )
            rates.append((count, shape_count / seconds))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Arguments after -- go to the pipeline, e.g. -- --featurizers dinov2 "
        "--models random-init --dinov2-model facebook/dinov2-small",
    )
    parser.add_argument("--shapes", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage timings")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="worker processes of the local runner, one run each on the same corpus "
        "(1: in process; N > 1: --direct_running_mode=multi_processing)",
    )
    add_rows_option(parser)
    args, pipeline_args = parser.parse_known_args()
    if pipeline_args[:1] == ["--"]:
        pipeline_args = pipeline_args[1:]
    if not args.no_stages:
        stage_timings(args.repeats)
    options = " ".join(pipeline_args) or "none"
    rows = [
        (
            f"{args.shapes} shapes end to end shapes/s ({options}"
            f"{f', {count} worker processes' if count > 1 else ''})",
            f"{rate:.2f}",
        )
        for count, rate in pipeline_throughput(args.shapes, pipeline_args, args.workers)
    ]
    append_rows(args.rows, "features pipeline", rows)


if __name__ == "__main__":
    main()
