#!/usr/bin/env python
"""partbank's one entry point: ``python beam_runner.py --pipeline NAME [options]``.

``--help`` lists the pipelines, ``--pipeline NAME --help`` that pipeline's options,
``--pipeline NAME --template-metadata`` prints its Flex Template ``metadata.json``.
Flags the pipeline does not define go to Beam (``--runner``, ``--direct_num_workers``,
Dataflow's ``--project`` ...); a flag neither knows is an error. Usage errors (a bad flag
or value, an unwritable ``--output``) print one line and exit 2 before any work; only the
options are imported until then, so they answer in about a second.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pipelines.registry import (
    DEFAULT_RUNNER,
    PIPELINES,
    UsageError,
    beam_option_parser,
    help_text,
)


def _top_level_help() -> str:
    width = max(len(name) for name in PIPELINES)
    lines = [
        "usage: beam_runner.py --pipeline NAME [options]",
        "",
        "pipelines:",
        *(f"  {name.ljust(width)}  {entry.summary}" for name, entry in PIPELINES.items()),
        "",
        "`beam_runner.py --pipeline NAME --help` lists a pipeline's options;",
        "`beam_runner.py --pipeline NAME --template-metadata` prints its Flex Template metadata.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the chosen pipeline, return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    selector = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    selector.add_argument("--pipeline")
    selector.add_argument("-h", "--help", action="store_true")
    selector.add_argument("--template-metadata", action="store_true")
    chosen, rest = selector.parse_known_args(argv)

    if chosen.pipeline is None:
        print(_top_level_help(), file=sys.stdout if chosen.help else sys.stderr)
        return 0 if chosen.help else 2
    entry = PIPELINES.get(chosen.pipeline)
    if entry is None:
        print(
            f"beam_runner.py: unknown pipeline {chosen.pipeline!r}; "
            f"choose one of: {', '.join(PIPELINES)}",
            file=sys.stderr,
        )
        return 2

    options_class = entry.options_class()
    if chosen.help:
        print(help_text(entry, options_class))
        return 0
    if chosen.template_metadata:
        from pipelines.template import template_metadata_json

        sys.stdout.write(template_metadata_json(entry, options_class))
        return 0

    command = f"beam_runner.py --pipeline {entry.name}"
    try:
        known, unknown = beam_option_parser(options_class).parse_known_args(rest)
        if unknown:
            raise UsageError(f"unknown option(s): {' '.join(unknown)}")
    except UsageError as exc:
        print(f"{command}: {exc} (see {command} --help)", file=sys.stderr)
        return 2
    if known.output is None:
        rest.append(f"--output={entry.default_output}")
    if known.runner is None:
        rest.append(f"--runner={DEFAULT_RUNNER}")
    from pipelines.sinks import OutputError, ensure_writable

    try:
        ensure_writable(known.output or entry.default_output)
    except OutputError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2

    from apache_beam.options.pipeline_options import PipelineOptions

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    for chatty in ("apache_beam", "httpx", "httpx2"):  # keep partbank's progress readable
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return entry.load().run(PipelineOptions(rest))


if __name__ == "__main__":
    sys.exit(main())
