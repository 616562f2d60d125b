"""Model handlers isolate failing shapes and batch as RunInference expects."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
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
