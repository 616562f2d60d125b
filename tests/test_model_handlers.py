"""Model handlers isolate failing shapes and batch as RunInference expects."""

from __future__ import annotations

from types import SimpleNamespace

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.testing.util import assert_that, equal_to

from pipelines.inference import ShapeBatchModelHandler


class Scale:
    """A stand-in model (RunInference keeps models by weak reference)."""

    factor = 2.0


class Doubler(ShapeBatchModelHandler):
    """Doubles arrays; an array holding a negative value raises."""

    def load_model(self):
        return Scale()

    def run_batch(self, examples, model):
        if any((e < 0).any() for e in examples):
            raise ValueError("negative input")
        return [e * model.factor for e in examples]


def test_one_bad_shape_fails_alone_and_the_batch_goes_on():
    handler = Doubler("cpu", max_batch_size=4)
    examples = [np.array([1.0]), np.array([-1.0]), np.array([3.0])]
    results = list(handler.run_inference(examples, handler.load_model()))
    assert [r.example for r in results] == examples
    assert results[0].inference.tolist() == [2.0] and results[2].inference.tolist() == [6.0]
    assert isinstance(results[1].inference, ValueError)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 1, "max_batch_size": 4}


def test_handler_runs_inside_run_inference_on_the_local_runner():
    with beam.Pipeline(runner="FnApiRunner") as pipeline:
        outputs = (
            pipeline
            | beam.Create([("a", np.array([1.0])), ("b", np.array([-2.0]))])
            | RunInference(KeyedModelHandler(Doubler("cpu", max_batch_size=2)))
            | beam.MapTuple(
                lambda key, result: (
                    (key, "error")
                    if isinstance(result.inference, Exception)
                    else (key, float(result.inference[0]))
                )
            )
        )
        assert_that(outputs, equal_to([("a", 2.0), ("b", "error")]))


def test_batches_are_sized_by_their_arrays_without_pickling():
    handler = Doubler("cpu", max_batch_size=4)
    examples = [np.zeros(10, np.float32), np.zeros((2, 3), np.float16)]
    assert handler.get_num_bytes(examples) == 40 + 12


def test_a_featurizer_handler_reads_pending_inputs_and_drops_them_from_its_results():
    from featurizers.contract import FeaturizerSpec, ModelSpec, PointColumn, Prepared
    from featurizers.sampling import SurfaceSample
    from pipelines.inference import FeaturizerModelHandler
    from pipelines.sources import SourceInput
    from pipelines.stages import FeaturizedShape, ShapeMeta, ShapeTask, ShardKey

    spec = FeaturizerSpec(
        "double",
        lambda config: (PointColumn("double", pa.float64()),),
        lambda inputs, config: Prepared(),
        model=ModelSpec(
            load=lambda config: Scale(),
            run_batch=lambda model, inputs: [model.factor * x for x in inputs],
            finish=lambda state, output: {"double": output},
        ),
    )
    handler = FeaturizerModelHandler(spec, SimpleNamespace(device="cpu"), max_batch_size=2)
    sample = SurfaceSample(*(np.zeros((1, 3)),) * 4, None, np.zeros(3), 1.0)
    shapes = [
        FeaturizedShape(
            ShapeTask(ShardKey("new/00000", 2), SourceInput(f"glb/{i}", f"/d/{i}.glb")),
            ShapeMeta(f"glb/{i}", "glb", "", (), ()),
            sample,
            pending={"double": Prepared(model_input=np.full(5, float(i)), state=i)},
        )
        for i in range(2)
    ]
    assert handler.get_num_bytes(shapes) == 2 * 5 * 8  # the model inputs only
    results = handler.run_inference(shapes, handler.load_model())
    for i, result in enumerate(results):
        assert result.inference.tolist() == [2.0 * i] * 5
        assert result.example.pending["double"] == Prepared(state=i)  # input dropped
