"""Flex Template metadata (``metadata.json``) generated from a pipeline's own options.

``python beam_runner.py --pipeline NAME --template-metadata`` prints it; the committed
copies live in ``deploy/<pipeline>/metadata.json`` (``tests/test_template_metadata.py``
fails when they and the options disagree). One template parameter per flag of the
pipeline's options class and of ``CommonOptions``, in declaration order: its ``name`` is
the flag without the leading dashes (the template launcher passes ``--name=value``), its
``helpText`` the flag's help with argparse's ``%(default)s`` filled in. Flags that take
no value (``--emit-views``, ``--wait``/``--no-wait``) are left out: ``--emit-views=true``
is not a command line argparse accepts. Only the options module is imported.
"""

from __future__ import annotations

import argparse
import json
import re

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import CommonOptions, min_ram, positive_int
from pipelines.registry import PipelineEntry

#: Parameters a template run cannot go without: the local default output folder means
#: nothing on Dataflow's workers.
REQUIRED_IN_TEMPLATE: tuple[str, ...] = ("output",)

#: Regexes of parameters whose values have a known form beyond their argparse type.
VALUE_FORMS: dict[str, str] = {"output": r"^gs://[^/]+/.+"}

#: Regexes by argparse ``type``.
TYPE_FORMS: dict[object, str] = {
    int: r"^-?[0-9]+$",
    positive_int: r"^[1-9][0-9]*$",
    float: r"^-?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$",
    min_ram: r"^[0-9]+(\.[0-9]+)? ?([KMGTP]i?)?B$",
}


def _flag_actions(
    entry: PipelineEntry, options_class: type[PipelineOptions]
) -> list[argparse.Action]:
    """The flags taking a value of ``CommonOptions`` then of ``options_class``, in
    declaration order."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    CommonOptions._add_argparse_args(parser)
    options_class._add_argparse_args(parser)
    parser.set_defaults(output=entry.default_output)  # as --help shows it
    return [action for action in parser._actions if action.option_strings and action.nargs != 0]


def _label(name: str) -> str:
    return name.replace("-", " ").replace("_", " ").capitalize()


def _help_text(parser_prog: str, action: argparse.Action) -> str:
    """The flag's help as ``--help`` prints it (``%(default)s`` and friends filled in)."""
    text = argparse.HelpFormatter(parser_prog)._expand_help(action)
    return re.sub(r"\s+", " ", text).strip()


def _regexes(name: str, action: argparse.Action) -> list[str]:
    if name in VALUE_FORMS:
        return [VALUE_FORMS[name]]
    if action.choices:
        return ["^(" + "|".join(re.escape(str(c)) for c in action.choices) + ")$"]
    if action.type in TYPE_FORMS:
        return [TYPE_FORMS[action.type]]
    return []


def parameter(action: argparse.Action, prog: str) -> dict:
    """One ``metadata.json`` parameter for a flag (its long form names it)."""
    name = max(action.option_strings, key=len).lstrip("-")
    entry = {
        "name": name,
        "label": _label(name),
        "helpText": _help_text(prog, action),
        "isOptional": not action.required and name not in REQUIRED_IN_TEMPLATE,
    }
    regexes = _regexes(name, action)
    if regexes:
        entry["regexes"] = regexes
    return entry


def template_metadata(entry: PipelineEntry, options_class: type[PipelineOptions]) -> dict:
    """The Flex Template ``metadata.json`` of a pipeline, as a dict."""
    prog = f"beam_runner.py --pipeline {entry.name}"
    return {
        "name": f"partbank-{entry.name}",
        "description": f"partbank --pipeline {entry.name}: {entry.summary}",
        "parameters": [parameter(action, prog) for action in _flag_actions(entry, options_class)],
    }


def template_metadata_json(entry: PipelineEntry, options_class: type[PipelineOptions]) -> str:
    """``template_metadata`` as the text of ``deploy/<pipeline>/metadata.json``."""
    return json.dumps(template_metadata(entry, options_class), indent=2, ensure_ascii=False) + "\n"
