"""Throughput of the features pipeline: load + sample + write, and with featurizers.

Prints, on this machine:
  * per-stage milliseconds per shape over the bundled samples (in process, no Beam;
    ``--no-stages`` skips them);
  * end-to-end shapes/s of ``beam_runner.py --pipeline features`` on a PartNet-format
    folder of ``--shapes`` generated shapes (local FnApiRunner, one process), with the
    pipeline options given after ``--`` (default: ``--featurizers none``); ``--rows PATH``
    appends that figure for ``gpu_check.sh``.

    python benchmarks/features_sampling.py [--shapes 200] [--repeats 5] [--no-stages]
        [--rows PATH] [-- PIPELINE OPTIONS]
    python benchmarks/features_sampling.py --shapes 6 -- --featurizers dinov2 \
        --models random-init --dinov2-model facebook/dinov2-small
"""

from __future__ import annotations

import argparse
import io
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
from pipelines.stages import SampledShape, ShapeTask, ToShardRow
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
            _, item = next(to_row.process(SampledShape(ShapeTask(0, source_input), record, points)))
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


def pipeline_throughput(shape_count: int, pipeline_args: list[str]) -> float:
    """Run the pipeline on ``shape_count`` generated shapes; print and return shapes/s."""
    makers = list(sample_data.SHAPES.items())
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data_v0"
        for i in range(shape_count):
            category, make = makers[i % len(makers)]
            sample_data.write_partnet(data, f"{10_000 + i}", category.title(), make())
        output = str(Path(tmp) / "out")
        start = time.perf_counter()
        code = beam_runner.main(
            [
                *("--pipeline", "features", "--source", "partnet", "--input", str(data)),
                *("--output", output, *pipeline_args),
            ]
        )
        seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"features pipeline failed with exit code {code}")
    print(
        f"pipeline end to end ({' '.join(pipeline_args) or '--featurizers none'}): "
        f"{shape_count} PartNet-format shapes in {seconds:.2f} s "
        f"-> {shape_count / seconds:.2f} shapes/s (incl. startup)"
    )
    return shape_count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Arguments after -- go to the pipeline, e.g. -- --featurizers dinov2 "
        "--models random-init --dinov2-model facebook/dinov2-small",
    )
    parser.add_argument("--shapes", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage timings")
    add_rows_option(parser)
    args, pipeline_args = parser.parse_known_args()
    if pipeline_args[:1] == ["--"]:
        pipeline_args = pipeline_args[1:]
    if not args.no_stages:
        stage_timings(args.repeats)
    rate = pipeline_throughput(args.shapes, pipeline_args)
    figure = f"{args.shapes} shapes end to end shapes/s ({' '.join(pipeline_args) or 'none'})"
    append_rows(args.rows, "features pipeline", [(figure, f"{rate:.2f}")])


if __name__ == "__main__":
    main()
