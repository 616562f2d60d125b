"""One model copy per worker machine, shared by its SDK processes, where models run on a GPU.

Beam documents the switch as ``ModelHandler.share_model_across_processes()`` and
``model_copies()``: RunInference then holds the model in one process (through
``apache_beam.utils.multi_process_shared``) and the other SDK processes call it there.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from featurizers.contract import FeaturizerSpec, ModelSpec, PointColumn, Prepared
from featurizers.sampling import SurfaceSample
from pipelines.inference import FeaturizerModelHandler
from pipelines.sources import SourceInput
from pipelines.stages import FeaturizedShape, ShapeMeta, ShapeTask, ShardKey

SHAPES = 24


def counting_spec(loads: Path) -> FeaturizerSpec:
    """A featurizer whose model load appends the loading process id to ``loads``, and whose
    batch returns, per input, the id of the process the model ran in."""

    def load(config):
        with open(loads, "a") as log:
            log.write(f"{os.getpid()}\n")
        return SimpleNamespace(name="counting")

    return FeaturizerSpec(
        "pid",
        lambda config: (PointColumn("pid", pa.int64()),),
        lambda inputs, config: Prepared(),
        model=ModelSpec(
            load=load,
            run_batch=lambda model, inputs: [np.int64(os.getpid()) for _ in inputs],
            finish=lambda state, output: {"pid": output},
        ),
    )


def shape(i: int) -> FeaturizedShape:
    sample = SurfaceSample(*(np.zeros((1, 3)),) * 4, None, np.zeros(3), 1.0)
    return FeaturizedShape(
        ShapeTask(ShardKey("new/00000", SHAPES), SourceInput(f"glb/{i}", f"/d/{i}.glb")),
        ShapeMeta(f"glb/{i}", "glb", "", (), ()),
        sample,
        pending={"pid": Prepared(model_input=np.full(4, float(i)), state=i)},
    )


def run_on_two_processes(handler: FeaturizerModelHandler, out: Path) -> list[tuple[int, int]]:
    """(SDK process, model process) per shape, from a local run with 2 SDK processes."""
    options = PipelineOptions(["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    with beam.Pipeline(runner="FnApiRunner", options=options) as pipeline:
        _ = (
            pipeline
            | beam.Create(list(range(SHAPES)))
            | beam.Reshuffle()
            | beam.Map(shape)
            | RunInference(handler)
            | beam.Map(lambda result: f"{os.getpid()} {int(result.inference)}")
            | beam.io.WriteToText(str(out / "pids"))
        )
    lines = [line for f in sorted(out.glob("pids*")) for line in f.read_text().splitlines()]
    return [tuple(int(v) for v in line.split()) for line in lines]


def test_handlers_answer_as_beam_documents():
    spec = counting_spec(Path(os.devnull))
    on_cpu = FeaturizerModelHandler(spec, SimpleNamespace(device="cpu"), 2)
    assert not on_cpu.share_model_across_processes() and on_cpu.model_copies() == 1
    on_gpu = FeaturizerModelHandler(spec, SimpleNamespace(device="cuda"), 2)
    assert on_gpu.share_model_across_processes() and on_gpu.model_copies() == 1
    two = FeaturizerModelHandler(spec, SimpleNamespace(device="cpu"), 2, model_copies=2)
    assert two.share_model_across_processes() and two.model_copies() == 2


@pytest.mark.parametrize("shared", [True, False])
def test_two_sdk_processes_load_the_model_once_when_shared(tmp_path, shared):
    loads = tmp_path / "loads.txt"
    handler = FeaturizerModelHandler(
        counting_spec(loads),
        SimpleNamespace(device="cpu"),
        max_batch_size=2,
        model_copies=1 if shared else None,
    )
    pids = run_on_two_processes(handler, tmp_path)
    loaders = [int(line) for line in loads.read_text().split()]
    sdk_processes = {sdk for sdk, _ in pids}
    assert len(pids) == SHAPES
    assert len(sdk_processes) == 2  # both SDK processes ran inference
    if shared:
        assert len(loaders) == 1  # one copy for the machine
        assert {model for _, model in pids} == set(loaders)  # every batch ran in it
    else:
        assert sorted(loaders) == sorted(sdk_processes)  # one copy per process
        assert all(sdk == model for sdk, model in pids)


def test_model_stage_flags_reach_the_graph():
    from apache_beam.transforms.resources import AcceleratorHint, MinRamHint

    from pipelines.features import FeaturesPipeline, ModelStages, config_from_options

    hint = "type:nvidia-l4;count:1;machine_type:g2-standard-8;install-nvidia-driver"
    args = ["--featurizers", "partfield", "--models", "random-init", "--device", "cpu"]
    options = PipelineOptions([*args, "--model-accelerator", hint, "--model-min-ram", "32GB"])
    config = config_from_options(options)
    models = ModelStages.from_options(options)
    assert models.min_ram == "32GB" and models.batch_size_for(config) == 8  # a GPU hint: 8
    assert ModelStages(3).batch_size_for(config) == 3
    cpu_only = config_from_options(PipelineOptions(args))
    assert ModelStages().batch_size_for(cpu_only) == 1

    pipeline = beam.Pipeline(runner="FnApiRunner")
    _ = pipeline | FeaturesPipeline(config, {}, models=models)
    proto = pipeline.to_runner_api()
    min_ram_urn, accelerator_urn = MinRamHint.urn, AcceleratorHint.urn
    hinted = {}
    for transform in proto.components.transforms.values():
        hints = proto.components.environments[transform.environment_id].resource_hints
        if transform.environment_id and min_ram_urn in hints:
            hinted[transform.unique_name] = dict(hints)
    inference = [
        name for name in hinted if name.endswith("partfield/RunInference/BeamML_RunInference")
    ]
    assert inference, sorted(hinted)
    assert hinted[inference[0]][min_ram_urn] == b"32000000000"
    assert hinted[inference[0]][accelerator_urn] == hint.encode()
    assert all(name.split("/")[1] == "partfield" for name in hinted)  # the model stage only
