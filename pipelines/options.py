"""Flags shared by every partbank pipeline."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions


class CommonOptions(PipelineOptions):
    """Options every pipeline understands."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--output",
            metavar="DIR",
            default="output",
            help="output directory (local path or gs://...); default: ./output",
        )
