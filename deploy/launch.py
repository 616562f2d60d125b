"""The Flex Template's Python file: ``beam_runner.py`` for the pipeline the template was
built for (``PARTBANK_PIPELINE``, set by ``gcloud dataflow flex-template build --env``).

The template launcher calls it with the template's parameters as ``--name=value``; it runs
on Dataflow unless the parameters name another ``--runner``.
"""

from __future__ import annotations

import os
import sys

import beam_runner


def launcher_argv(pipeline: str, argv: list[str]) -> list[str]:
    """``beam_runner.py`` arguments for ``pipeline``: ``argv``, on Dataflow by default."""
    runner = [] if any(a.startswith("--runner") for a in argv) else ["--runner=DataflowRunner"]
    return ["--pipeline", pipeline, *argv, *runner]


if __name__ == "__main__":
    sys.exit(beam_runner.main(launcher_argv(os.environ["PARTBANK_PIPELINE"], sys.argv[1:])))
