"""The flags of ``--pipeline report`` (``pipelines.report`` runs them).

The report reads a partbank output (``--report-input``, by default the common ``--output``
itself) and writes ``OUTPUT/report/``; its own flags are prefixed ``--report-`` because
``--input``, ``--ontology`` and the like already belong to the features pipeline (Beam
parses every pipeline's flags together, so two pipelines cannot define the same one).
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

#: Shapes previewed by default: a seeded sample of this many when the table has more.
DEFAULT_SHAPES = 48


class ReportOptions(PipelineOptions):
    """Flags of the report pipeline."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--report-input",
            default=None,
            metavar="DIR",
            help="the partbank output to report on (local or gs://): a features output "
            "(features/, features_run.json) and/or an ontology output (ontology/); default: "
            "OUTPUT itself, so --output OUT reports on OUT into OUT/report/",
        )
        parser.add_argument(
            "--report-shapes",
            type=int,
            default=DEFAULT_SHAPES,
            metavar="N",
            help="shapes previewed: a sample of N chosen by --report-seed when the latest "
            f"version holds more; 0: every shape (default {DEFAULT_SHAPES})",
        )
        parser.add_argument(
            "--report-seed",
            type=int,
            default=0,
            metavar="SEED",
            help="seed of the shape sample (default 0)",
        )
        parser.add_argument(
            "--report-ontology",
            default=None,
            metavar="DIR",
            help="an ontology pipeline's output (local or gs://) to report as well; "
            "default: the report's input itself when it holds ontology/",
        )
        parser.add_argument(
            "--report-views",
            type=int,
            default=8,
            metavar="N",
            help="views in a shape's contact sheet when they are rendered on the fly (no "
            "views/ table in OUTPUT); default 8",
        )
