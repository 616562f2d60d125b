"""Bytes per shape crossing each stage boundary of the features graph, vs its shard row.

Runs the graph's own per-shape functions in process (no runner) on the bundled samples,
with ``--featurizers rgb,dinov2,partfield --models random-init`` and the default rig,
and prints for every shape the pickled size of each element that leaves a stage (what a
runner serializes between fused stages, e.g. on Dataflow's CPU -> GPU split), next to
the shape's shard row (its uncompressed Arrow size) and its shaded views (the DINOv2
input). The goal: no boundary past ``load`` above 1.2 x the row, plus the views where
DINOv2 needs them.

    python benchmarks/stage_bytes.py [--limit 2] [--views 12] [--image-size 448]
        [--rows PATH]
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.figures import add_rows_option, append_rows
from featurizers.cameras import orbit_rig
from featurizers.catalog import FEATURIZERS, requested
from featurizers.config import FeaturesConfig
from featurizers.contract import feature_columns
from pipelines import sample_data
from pipelines.featurize import RenderSettings, featurize_shape, with_model_columns
from pipelines.inference import FeaturizerModelHandler
from pipelines.sources import SOURCES
from pipelines.stages import ShapeTask, ShardKey, ToShardRow, load_and_sample
from schemas.features import features_schema, shard_table

FEATURIZER_NAMES = ("dinov2", "partfield", "rgb")


def pickled(value) -> int:
    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def boundaries(task: ShapeTask, config: FeaturesConfig, handlers: dict, models: dict):
    """``(boundary, bytes)`` of one shape through the graph, then its row and views."""
    specs = tuple(requested(config.featurizers))
    render = RenderSettings(orbit_rig(config.views, config.image_size), config.device, False)
    crossing = []
    loaded = load_and_sample(task, config.num_points)
    crossing.append(("load -> featurize", pickled(loaded)))
    shape = featurize_shape(loaded, specs, config, render)
    views = shape.pending["dinov2"].model_input.nbytes
    previous = "featurize"
    for spec in specs:
        if spec.model is None:
            continue
        crossing.append((f"{previous} -> {spec.name}/RunInference", pickled(shape)))
        handler = handlers[spec.name]
        (result,) = handler.run_inference([shape], models[spec.name])
        crossing.append((f"{spec.name}/RunInference -> {spec.name}/Attach", pickled(result)))
        shape = with_model_columns(result, spec)
        previous = f"{spec.name}/Attach"
    crossing.append((f"{previous} -> ToShardRow", pickled(shape)))
    to_row = ToShardRow("bench", ontology=None)
    to_row.setup()
    ((shard, item),) = to_row.process(shape)
    crossing.append(("ToShardRow -> WriteShards", pickled((shard, item))))
    columns = feature_columns(list(FEATURIZERS.values()), config.featurizers, config)
    schema = features_schema([(c.name, c.arrow_type) for c in columns])
    row = shard_table([item.row], schema).nbytes
    return crossing, row, views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=2, help="bundled shapes to run")
    parser.add_argument("--views", type=int, default=12)
    parser.add_argument("--image-size", type=int, default=448)
    add_rows_option(parser)
    args = parser.parse_args()
    config = FeaturesConfig(
        output="unused",
        featurizers=FEATURIZER_NAMES,
        models="random-init",
        device="cpu",
        views=args.views,
        image_size=args.image_size,
    )
    tasks = sorted(
        (
            ShapeTask(ShardKey("bench", 1), source_input)
            for name in sorted(SOURCES)
            for source_input in SOURCES[name]().discover(str(sample_data.SAMPLES_DIR / name))
        ),
        key=lambda task: task.source_input.shape_id,
    )[: args.limit]
    specs = [spec for spec in requested(config.featurizers) if spec.model is not None]
    handlers = {spec.name: FeaturizerModelHandler(spec, config, 1) for spec in specs}
    models = {name: handler.load_model() for name, handler in handlers.items()}
    print(
        f"features {','.join(FEATURIZER_NAMES)} --models random-init: {config.num_points} "
        f"points, {config.views} views of {config.image_size} px; MB per shape (pickled)"
    )
    figures = []
    for task in tasks:
        crossing, row, views = boundaries(task, config, handlers, models)
        shape_id = task.source_input.shape_id
        print(f"\n{shape_id}: shard row {row / 1e6:.2f} MB, shaded views {views / 1e6:.2f} MB")
        for boundary, size in crossing:
            print(f"  {boundary:<44} {size / 1e6:8.2f} MB  {size / row:5.2f} x row")
            figures.append((f"{shape_id} {boundary} (MB)", f"{size / 1e6:.2f}"))
        figures.append((f"{shape_id} shard row (MB)", f"{row / 1e6:.2f}"))
    append_rows(args.rows, "stage bytes", figures)


if __name__ == "__main__":
    main()
