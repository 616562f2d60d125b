"""The flags of partbank's pipelines: the common ones and those of ``--pipeline features``.

This module imports only Beam's options module, ``featurizers.config`` and the featurizer
registry (no torch, no trimesh: ``featurizers.contract``), so ``--help`` and mistakes on the
command line are answered at once. Every default is ``FeaturesConfig``'s own; each
registered featurizer's own flags (``FeaturizerSpec.flags``) are added as they are declared.
"""

from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

from featurizers import catalog
from featurizers.config import FeaturesConfig

#: ``--source`` names (the keys of ``pipelines.sources.SOURCES``).
SOURCE_NAMES: tuple[str, ...] = ("3dcompat", "find3d", "glb", "partnet")


class CommonOptions(PipelineOptions):
    """Options every pipeline understands.

    ``--output`` has no default here: each pipeline has its own (``PipelineEntry``), which
    ``beam_runner.py`` fills in when the command line names none.
    """

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--output",
            metavar="DIR",
            default=None,
            help="output directory, local path or gs://... (created if missing; checked "
            "writable before any work); default: ./%(default)s",
        )


class _InCommandLineOrder(argparse.Action):
    """Appends ``[flag, value]`` to one list that ``--source`` and ``--input`` share, so
    each ``--input`` can be paired with the ``--source`` before it."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        given = list(getattr(namespace, self.dest, None) or [])
        given.append([option_string, values])
        setattr(namespace, self.dest, given)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not >= 1")
    return value


def min_ram(text: str) -> str:
    """An argparse type: a size Beam's ``min_ram`` hint reads (``32GB``, ``16GiB``, bytes)."""
    from apache_beam.transforms.resources import MinRamHint

    try:
        MinRamHint.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from error
    return text


class FeaturesOptions(PipelineOptions):
    """Options of ``--pipeline features``.

    ``--source`` and ``--input`` land in ``sources_and_inputs``: ``[flag, value]`` pairs in
    command-line order (``FeaturesConfig`` pairs them up).
    """

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--source",
            dest="sources_and_inputs",
            action=_InCommandLineOrder,
            choices=SOURCE_NAMES,
            help="dataset format of the --input after it; alone: that source's bundled "
            "samples; repeat --source [--input] to run several in one go",
        )
        parser.add_argument(
            "--input",
            dest="sources_and_inputs",
            action=_InCommandLineOrder,
            metavar="PATH_OR_GLOB",
            help="folder, file, glob or list file for the --source before it (local or "
            "gs://); with no --source and no --input, every source's bundled samples run",
        )
        parser.add_argument(
            "--num-points",
            metavar="N",
            dest="num_points",
            type=int,
            default=FeaturesConfig.num_points,
            help="surface points per shape (default %(default)s)",
        )
        parser.add_argument(
            "--featurizers",
            metavar="LIST",
            default="none",
            help="comma-separated featurizers to run, or 'none' (default); "
            f"available: {', '.join(catalog.FEATURIZERS)}",
        )
        parser.add_argument(
            "--views",
            metavar="N",
            type=int,
            default=FeaturesConfig.views,
            help="rendered views per shape (default %(default)s)",
        )
        parser.add_argument(
            "--image-size",
            metavar="PX",
            dest="image_size",
            type=int,
            default=FeaturesConfig.image_size,
            help="rendered view side in pixels (default %(default)s; DINOv2 reads it "
            "rounded to a multiple of 14)",
        )
        parser.add_argument(
            "--emit-views",
            dest="emit_views",
            action="store_true",
            help="also write OUT/views/: per shape and view the render (PNG), the 2D part-label "
            "map (16-bit PNG) and the camera",
        )
        parser.add_argument(
            "--models",
            choices=("pretrained", "random-init"),
            default=FeaturesConfig.models,
            help="pretrained weights (default; local or Hugging Face cache, downloaded on "
            "first use) or random-init: the real architectures with random weights, for "
            "offline smoke runs (marked in features_run.json and the shards' metadata)",
        )
        parser.add_argument(
            "--device",
            choices=("auto", "cpu", "cuda"),
            default=FeaturesConfig.device,
            help="model device",
        )
        parser.add_argument(
            "--model-accelerator",
            metavar="HINT",
            dest="model_accelerator",
            default=None,
            help="Beam accelerator resource hint for the model stages only, e.g. "
            "'type:nvidia-l4;count:1;install-nvidia-driver' (Dataflow: rendering stays on CPU "
            "workers, models run on GPU workers)",
        )
        parser.add_argument(
            "--model-batch-size",
            metavar="N",
            dest="model_batch_size",
            type=positive_int,
            default=None,
            help="shapes per model forward pass in every model stage (default: 8 when the "
            "models run on a GPU: --device cuda, a --model-accelerator, or a GPU the "
            "launcher sees; else 1)",
        )
        parser.add_argument(
            "--model-min-ram",
            metavar="SIZE",
            dest="model_min_ram",
            type=min_ram,
            default=None,
            help="Beam min_ram resource hint for the model stages only, e.g. 32GB (Dataflow "
            "gives them workers with at least that much memory; local runners ignore it)",
        )
        for flag in catalog.flags():  # the featurizers' own, in registration order
            parser.add_argument(
                flag.flag,
                metavar=flag.metavar,
                dest=flag.attribute,
                type=flag.type,
                default=flag.default,
                help=flag.help,
            )
        parser.add_argument(
            "--ontology",
            metavar="DIR",
            default=None,
            help="output folder of --pipeline ontology (or its alias_log.jsonl): fills the "
            "canonical category, part names and part_uid",
        )
        parser.add_argument(
            "--limit",
            metavar="N",
            type=int,
            default=None,
            help="process only the first N inputs (sorted)",
        )
        parser.add_argument(
            "--shapes-per-shard",
            metavar="N",
            dest="shapes_per_shard",
            type=int,
            default=FeaturesConfig.shapes_per_shard,
            help="about N shapes per new shard file (default %(default)s; the shapes "
            "featurized in a run are spread over ceil(count / N) shards by a hash of their id)",
        )
        parser.add_argument(
            "--shapes-per-row-group",
            metavar="N",
            dest="shapes_per_row_group",
            type=int,
            default=FeaturesConfig.shapes_per_row_group,
            help="shapes per Parquet row group (default %(default)s)",
        )
        waiting = parser.add_mutually_exclusive_group()
        waiting.add_argument(
            "--no-wait",
            dest="wait",
            action="store_false",
            default=None,
            help="submit the job and exit; the pipeline commits and writes features_run.json "
            "itself (default on remote runners such as Dataflow)",
        )
        waiting.add_argument(
            "--wait",
            dest="wait",
            action="store_true",
            help="wait for the job, then print its summary (default on local runners)",
        )
