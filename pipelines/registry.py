"""The pipelines `beam_runner.py` can start, and how their command lines are parsed.

A pipeline is

* an options class: a direct ``PipelineOptions`` subclass holding the pipeline's own flags
  (flag names must not clash with another pipeline's or Beam's), in a module that imports
  nothing heavy, so ``--help`` and usage errors answer at once; and
* a module defining ``run(options: PipelineOptions) -> int``: builds the graph, runs it,
  returns an exit code. It is imported only when its pipeline runs.

Parse errors raise ``UsageError`` with a one-line message instead of printing argparse's
usage (which would list every Beam option).
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from types import ModuleType

from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

from pipelines.options import CommonOptions

#: Runner used when the command line names none: Beam's local portable runner, which
#: runs offline (the DirectRunner would first try to download the Prism binary).
DEFAULT_RUNNER = "FnApiRunner"


class UsageError(ValueError):
    """A command line that cannot run; the message is one line."""


@dataclass(frozen=True)
class PipelineEntry:
    """One registered pipeline.

    Attributes:
        name: the ``--pipeline`` value.
        summary: one line for ``--help``.
        module: module path of the pipeline (its ``run``).
        options: ``module:Class`` of its options class (a light module).
        default_output: ``--output`` when the command line names none.
    """

    name: str
    summary: str
    module: str
    options: str
    default_output: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    def options_class(self) -> type[PipelineOptions]:
        module, name = self.options.split(":")
        return getattr(importlib.import_module(module), name)


PIPELINES: dict[str, PipelineEntry] = {
    entry.name: entry
    for entry in (
        PipelineEntry(
            "features",
            "meshes -> Parquet shards of 10k surface points with labels and features",
            "pipelines.features",
            "pipelines.options:FeaturesOptions",
            "output",
        ),
        PipelineEntry(
            "ontology",
            "dataset vocabularies -> one part ontology and an alias mapping log",
            "pipelines.ontology",
            "pipelines.ontology:OntologyOptions",
            "output-ontology",
        ),
        PipelineEntry(
            "report",
            "a features (and ontology) output -> OUTPUT/report/index.html with pictures",
            "pipelines.report",
            "pipelines.report_options:ReportOptions",
            "output-report",
        ),
        PipelineEntry(
            "curate",
            "a listing of web assets -> selected.csv of those worth featurizing, with reasons",
            "pipelines.curate",
            "pipelines.curate_options:CurateOptions",
            "output-curate",
        ),
    )
}


def _pipeline_option_classes() -> list[type[PipelineOptions]]:
    """Every registered options class of partbank's pipelines that is imported now."""
    return [
        cls
        for cls in PipelineOptions.__subclasses__()
        if cls.__module__.startswith("pipelines.") and cls is not CommonOptions
    ]


class _OneLineErrors(_BeamArgumentParser):
    """Beam's parser, raising ``UsageError`` instead of printing usage and exiting."""

    def error(self, message: str) -> None:
        if message.startswith("ambiguous option: "):  # Beam ignores these too
            return
        raise UsageError(message)


def beam_option_parser(pipeline_options: type[PipelineOptions]) -> argparse.ArgumentParser:
    """A parser that knows Beam's own flags, the common flags and one pipeline's flags.

    Options of other partbank pipelines are left out, so passing them is an error. Errors
    raise ``UsageError``.
    """
    parser = _OneLineErrors(allow_abbrev=False, add_help=False)
    others = set(_pipeline_option_classes()) - {pipeline_options}
    seen: set[str] = set()
    for cls in PipelineOptions.__subclasses__():
        if cls in others or str(cls) in seen:
            continue
        seen.add(str(cls))
        cls._add_argparse_args(parser)
    return parser


def help_text(entry: PipelineEntry, options_class: type[PipelineOptions]) -> str:
    """The ``--pipeline NAME --help`` text: the pipeline's own and the common flags."""
    parser = _BeamArgumentParser(
        prog=f"beam_runner.py --pipeline {entry.name}",
        description=entry.summary,
        epilog=(
            "Any Beam option is accepted as well (--runner, --direct_num_workers, "
            "--direct_running_mode, --project, --region, --temp_location, ...). "
            f"Default runner: {DEFAULT_RUNNER} (local, offline)."
        ),
        allow_abbrev=False,
        add_help=False,
    )
    CommonOptions._add_argparse_args(parser.add_argument_group("common options"))
    options_class._add_argparse_args(parser.add_argument_group(f"{entry.name} options"))
    parser.set_defaults(output=entry.default_output)
    return parser.format_help()
