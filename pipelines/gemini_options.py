"""The Gemini client's flags, shared by the pipelines that call Gemini (ontology, curate).

Each pipeline names the flags its own way (all pipelines' flags share one parser), so a
pipeline passes its ``GeminiFlags``; the settings, defaults and help are the same.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from ontology.gemini import DEFAULT_MODEL, GeminiSettings


@dataclass(frozen=True)
class GeminiFlags:
    """The flag names one pipeline gives the Gemini client's settings."""

    max_calls: str
    model: str
    base_url: str
    timeout: str
    attempts: str
    batch_size: str
    workers: str
    cache_dir: str

    def settings(self, options: Any) -> GeminiSettings:
        """The client settings the parsed ``options`` give under these flag names."""

        def value(flag: str) -> Any:
            return getattr(options, flag.lstrip("-").replace("-", "_"))

        return GeminiSettings(
            model=value(self.model),
            base_url=value(self.base_url),
            timeout_s=value(self.timeout),
            http_attempts=value(self.attempts),
            batch_size=value(self.batch_size),
            workers=value(self.workers),
        )


def add_gemini_flags(
    parser: argparse.ArgumentParser,
    names: GeminiFlags,
    batch_size: int,
    batched: str,
    cache_help: str,
) -> None:
    """Add the Gemini flags, in this order: budget, model, endpoint, timeout, attempts,
    batch size, workers, cache.

    Args:
        parser: the pipeline's parser.
        names: the pipeline's flag names.
        batch_size: default items per request.
        batched: what a request holds (``"names or pairs"``), for the help.
        cache_help: what the cache holds and its default, for the help.
    """
    parser.add_argument(
        names.max_calls,
        type=int,
        default=None,
        metavar="N",
        help="most Gemini HTTP requests the run sends, retries included (default: unlimited)",
    )
    parser.add_argument(names.model, default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}")
    parser.add_argument(
        names.base_url, default=None, help="Gemini API endpoint (a proxy, or a test fake)"
    )
    parser.add_argument(
        names.timeout,
        type=float,
        default=GeminiSettings.timeout_s,
        help=f"seconds per request (default {GeminiSettings.timeout_s:g})",
    )
    parser.add_argument(
        names.attempts,
        type=int,
        default=GeminiSettings.http_attempts,
        help="tries per request on 429/5xx/timeouts, with exponential backoff; each try "
        f"counts against {names.max_calls} (default {GeminiSettings.http_attempts})",
    )
    parser.add_argument(
        names.batch_size,
        type=int,
        default=batch_size,
        help=f"{batched} per Gemini request (default {batch_size})",
    )
    parser.add_argument(
        names.workers,
        type=int,
        default=GeminiSettings.workers,
        help=f"Gemini requests in flight at once (default {GeminiSettings.workers})",
    )
    parser.add_argument(names.cache_dir, default=None, help=cache_help)
