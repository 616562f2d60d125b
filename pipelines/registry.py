"""The pipelines `beam_runner.py` can start, and how their command lines are parsed.

A pipeline is a module that defines

* ``OPTIONS``: a direct ``PipelineOptions`` subclass holding the pipeline's own flags
  (flag names must not clash with another pipeline's or Beam's), and
* ``run(options: PipelineOptions) -> int``: builds the graph, runs it, returns an exit code.

Modules are imported only when their pipeline is chosen, so ``--help`` stays fast and
heavy dependencies (torch, transformers) load only where a pipeline needs them.
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


@dataclass(frozen=True)
class PipelineEntry:
    """One registered pipeline: its CLI name, a one-line summary and its module path."""

    name: str
    summary: str
    module: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


PIPELINES: dict[str, PipelineEntry] = {
    entry.name: entry
    for entry in (
        PipelineEntry(
            "features",
            "meshes -> Parquet shards of 10k surface points with labels and features",
            "pipelines.features",
        ),
        PipelineEntry(
            "ontology",
            "dataset vocabularies -> one part ontology and an alias mapping log",
            "pipelines.ontology",
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


def beam_option_parser(pipeline_options: type[PipelineOptions]) -> argparse.ArgumentParser:
    """A parser that knows Beam's own flags, the common flags and one pipeline's flags.

    Options of other partbank pipelines are left out, so passing them is an error.
    """
    parser = _BeamArgumentParser(allow_abbrev=False, add_help=False)
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
    return parser.format_help()
