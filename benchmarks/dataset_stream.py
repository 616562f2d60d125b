"""Throughput of ``ShapeStream`` into collated batches, against the raw Parquet decode limit.

    python benchmarks/dataset_stream.py [--shapes 200] [--points 1024] [--workers 2]
        [--batch 16] [--table DIR_OR_URI] [--json]

Builds a committed features table in the real shard format (zstd, row groups of 4, 32
shapes per shard file, ``FeatureTable.commit``) holding ``--shapes`` shapes with
``--points`` points and every registered column filled (``dino`` 768-D and
``partfield`` 448-D float16 from a seeded normal generator: noise compresses about as
badly as real features do), unless ``--table`` names an existing one. Then, over the
columns ``points, point_part, dino, partfield``:

- raw: ``pyarrow.parquet.read_table`` of those columns, file after file (the decode limit);
- stream: one epoch of ``ShapeStream`` through a ``DataLoader`` (``--workers`` workers,
  batches of ``--batch`` by ``collate_shapes``), first epoch (workers starting) and a
  second one (the same persistent workers);
- map: one epoch of ``ShapeMap`` with ``RowGroupSampler`` (row groups shuffled, then rows
  within each), and with a plain ``shuffle=True`` (each row group read by up to 4
  batches), with the same loader settings (persistent workers: the second pass is kept).

MB/s counts the decoded Arrow bytes of those columns (the same for every reader); each
figure is the best of two passes over files in the page cache. ``--table`` may be a URI:
``--table gs://BUCKET/features`` with ``STORAGE_EMULATOR_HOST`` set measures the same over a
GCS emulator (``schemas.locations`` and pyarrow's ``GcsFileSystem``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.sinks import PARQUET_COMPRESSION, shard_file_name
from schemas.dataset import RowGroupSampler, ShapeMap, ShapeStream, collate_shapes
from schemas.features import MANIFEST_SCHEMA, Part, ShardRow, features_schema, shard_table
from schemas.table import FeatureTable

COLUMNS = ["points", "point_part", "dino", "partfield"]
SHAPES_PER_SHARD, ROWS_PER_GROUP = 32, 4


def synthetic_row(index: int, points: int, rng: np.random.Generator) -> ShardRow:
    """One shape's row with every registered column (random values, real types)."""
    parts = [Part(f"part_{p}", f"part_{p}") for p in range(4)]
    return ShardRow(
        shape_id=f"glb/bench_{index:05d}",
        source="glb",
        category_raw="chair",
        category="chair",
        mesh_sha256=f"{index:064x}",
        config_hash="benchmark",
        center=np.zeros(3, np.float32),
        scale=1.0,
        points=rng.uniform(-0.5, 0.5, (points, 3)).astype(np.float32),
        normals=rng.normal(size=(points, 3)).astype(np.float32),
        face_index=rng.integers(0, 5000, points).astype(np.int32),
        point_part=rng.integers(-1, 4, points).astype(np.int16),
        parts=parts,
        features={
            "dino": rng.normal(size=(points, 768)).astype(np.float16),
            "views_seen": rng.integers(0, 12, points).astype(np.uint8),
            "rgb": rng.integers(0, 256, (points, 3)).astype(np.uint8),
            "partfield": rng.normal(size=(points, 448)).astype(np.float16),
        },
    )


def build_table(folder: Path, shapes: int, points: int) -> None:
    """Write and commit ``shapes`` shapes into the features folder ``folder``."""
    schema = features_schema()
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = []
    for start in range(0, shapes, SHAPES_PER_SHARD):
        rows = [synthetic_row(i, points, rng) for i in range(start, min(shapes, start + 32))]
        name = shard_file_name("benchmark", [(r.shape_id, r.mesh_sha256) for r in rows])
        table = shard_table(rows, schema)
        pq.write_table(
            table, folder / name, row_group_size=ROWS_PER_GROUP, compression=PARQUET_COMPRESSION
        )
        manifest += [(row.shape_id, "ok", name) for row in rows]
    FeatureTable(folder).commit(
        pa.table(
            {
                "shape_id": [shape_id for shape_id, _, _ in manifest],
                "uri": [f"/bench/{shape_id}" for shape_id, _, _ in manifest],
                "status": [status for _, status, _ in manifest],
                "error": [""] * len(manifest),
                "shard": [shard for _, _, shard in manifest],
                "warnings": [[] for _ in manifest],
            },
            schema=MANIFEST_SCHEMA,
        ),
        {"benchmark": "dataset_stream"},
    )


def best_of_two(run) -> tuple[float, int]:
    """(seconds, items) of the faster of two runs."""
    return min((run() for _ in range(2)), key=lambda result: result[0])


def raw_pass(files: list) -> tuple[float, int]:
    started, rows = time.perf_counter(), 0
    for file in files:
        rows += pq.read_table(file.path, columns=COLUMNS, filesystem=file.filesystem).num_rows
    return time.perf_counter() - started, rows


def loader_pass(loader) -> tuple[float, int]:
    started, items = time.perf_counter(), 0
    for batch in loader:
        items += len(batch["shape_id"])
    return time.perf_counter() - started, items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=200)
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--table", help="an existing features folder to read (a local path or a URI)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.table or Path(scratch) / "features"
        if args.table is None:
            build_table(folder, args.shapes, args.points)
        table = FeatureTable(folder)
        files = table.shard_files()
        decoded = sum(
            pq.read_table(f.path, columns=COLUMNS, filesystem=f.filesystem).nbytes for f in files
        )
        on_disk = sum(f.filesystem.get_file_info(f.path).size for f in files)
        loader_options = dict(
            batch_size=args.batch,
            num_workers=args.workers,
            collate_fn=collate_shapes,
            persistent_workers=args.workers > 0,
        )
        stream = ShapeStream(folder, COLUMNS, seed=0)
        persistent = DataLoader(stream, **loader_options)
        first = loader_pass(persistent)
        stream.set_epoch(1)
        second = loader_pass(persistent)
        del persistent
        mapped = ShapeMap(folder, COLUMNS)
        grouped = DataLoader(mapped, sampler=RowGroupSampler(mapped), **loader_options)
        shuffled = DataLoader(mapped, shuffle=True, **loader_options)
        figures = {
            "shapes": stream.num_shapes,
            "points": args.points,
            "files": len(files),
            "row_groups": len(stream.shapes.row_groups),
            "decoded_MB": decoded / 1e6,
            "on_disk_MB": on_disk / 1e6,
            "raw": best_of_two(lambda: raw_pass(files)),
            "stream_first_epoch": first,
            "stream": second,
            "map_row_groups": best_of_two(lambda: loader_pass(grouped)),
            "map_shuffle": best_of_two(lambda: loader_pass(shuffled)),
        }
    if args.json:
        print(json.dumps(figures))
        return 0
    print(
        f"{figures['shapes']} shapes x {args.points} points, {len(files)} files, "
        f"{figures['row_groups']} row groups; columns {', '.join(COLUMNS)}: "
        f"{decoded / 1e6:.0f} MB decoded, {on_disk / 1e6:.0f} MB on disk"
    )
    print(f"batches of {args.batch}, {args.workers} DataLoader workers")
    print("| reader | items | s | items/s | MB/s | vs raw |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    raw_rate = figures["raw"][1] / figures["raw"][0]
    for name in ("raw", "stream_first_epoch", "stream", "map_row_groups", "map_shuffle"):
        seconds, items = figures[name]
        rate = items / seconds
        megabytes = decoded / 1e6 * items / figures["shapes"] / seconds
        print(
            f"| {name} | {items} | {seconds:.2f} | {rate:.1f} | {megabytes:.0f} | "
            f"{rate / raw_rate:.0%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
