"""partbank's Beam pipelines: options, sources, stages, sinks and the two pipeline graphs.

Importing this package first drops log lines that libraries print at import time and that
are known to be harmless, so every entry point (``beam_runner.py``, benchmarks, tests)
shows only partbank's own progress and real problems.
"""

from __future__ import annotations

import logging

#: Warnings known to be harmless, logged by libraries at import time (message prefixes).
HARMLESS_WARNINGS = (
    # apache_beam.io.gcp: BigQuery clients are optional, partbank does not use them
    "apitools not found, and bigquery client libraries are not available",
)


class _DropHarmlessWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(HARMLESS_WARNINGS)


logging.getLogger().addFilter(_DropHarmlessWarnings())  # before Beam is first imported
