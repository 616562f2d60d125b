"""Gemini through ``google-genai``: numbered items answered in batches as structured JSON.

One request carries many items (parts to describe, pairs to verify, assets to judge by
their thumbnail: an item may carry an image, sent as an inline part after its line). Each item's
answer is cached by (item identity, item prompt SHA-256, model), so a rerun asks only
for what it does not know yet. Retries:

* HTTP 408/429/5xx, timeouts and connection errors: sent again here (exponential
  backoff, ``http_attempts`` tries; the client's own retries are off);
* a reply that does not parse into the schema, or lacks some items: asked again, up to
  ``reply_attempts`` requests per batch.

Every HTTP request sent, retries included, takes one call from a ``CallBudget``
(``--max-llm-calls``), so the budget bounds what reaches the API. An item left
without an answer gets an ``LlmAnswer`` with ``value=None`` and the reason; nothing is
dropped. The API key is read from ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) when the
client is made and never stored, logged or written.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic

from ontology.cache import JsonCache, cache_key, sha256_hex
from ontology.verdicts import utc_now
from schemas.common import one_line

if TYPE_CHECKING:
    from google import genai

log = logging.getLogger(__name__)

#: Name of Gemini as a describer and as a verifier.
GEMINI = "gemini"
API_KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
DEFAULT_MODEL = "gemini-2.5-flash"
#: Pinned: the client's default API version changed between releases.
API_VERSION = "v1beta"
#: HTTP statuses worth sending a request again for: timeout, rate limit, server errors.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
BUDGET_EXHAUSTED = "LLM call budget (--max-llm-calls) exhausted"


class MissingApiKeyError(RuntimeError):
    """No Gemini API key in the environment."""


def api_key_from_environment() -> str:
    """The Gemini API key, or ``MissingApiKeyError`` saying how to provide one."""
    for variable in API_KEY_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    raise MissingApiKeyError(
        "Gemini needs an API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment "
        "(https://aistudio.google.com/apikey), or run offline with "
        "--describer template --verifier rules"
    )


@dataclass(frozen=True)
class GeminiSettings:
    """How to reach Gemini and how hard to try (no secrets: safe to pickle and log).

    Attributes:
        model: model name, e.g. ``gemini-2.5-flash``.
        base_url: API endpoint override (a proxy, or a local fake in tests).
        timeout_s: per-request timeout in seconds.
        http_attempts: tries per request on 408/429/5xx/timeouts (1 = no retry); every
            try is one call of the budget.
        initial_delay_s, max_delay_s: backoff between those tries, in seconds (doubling).
        reply_attempts: requests per batch when replies do not parse or lack items.
        batch_size: items per request.
        workers: requests in flight at once.
    """

    model: str = DEFAULT_MODEL
    base_url: str | None = None
    timeout_s: float = 120.0
    http_attempts: int = 5
    initial_delay_s: float = 1.0
    max_delay_s: float = 60.0
    reply_attempts: int = 3
    batch_size: int = 20
    workers: int = 4

    def client(self) -> genai.Client:
        """A client that sends each request once, API version pinned (create once, reuse).

        Retries are ``BatchAsker``'s, so that each one is counted against the budget.
        """
        from google import genai
        from google.genai import types

        return genai.Client(
            api_key=api_key_from_environment(),
            http_options=types.HttpOptions(
                base_url=self.base_url,
                api_version=API_VERSION,
                timeout=int(self.timeout_s * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

    def backoff_s(self, tries: int) -> float:
        """Seconds to wait after ``tries`` failed tries of one request."""
        return min(self.max_delay_s, self.initial_delay_s * 2 ** (tries - 1))


class CallBudget:
    """A thread-safe count of LLM requests against an optional limit."""

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def spend(self) -> bool:
        """Take one request from the budget; False when it is exhausted."""
        with self._lock:
            if self._limit is not None and self._used >= self._limit:
                return False
            self._used += 1
            return True


@dataclass(frozen=True)
class LlmItem:
    """One item to ask about: who it is (for the cache key), its prompt line, and optionally
    an image sent as an inline part right after that line.

    The cache key covers ``identity`` and the prompt line, not the image bytes: an item
    with an image names the image (its hash) in ``identity``.
    """

    identity: tuple[str, ...]
    text: str
    image: bytes | None = None
    image_mime_type: str = "image/png"


@dataclass(frozen=True)
class LlmAnswer:
    """The answer to one item.

    Attributes:
        value: the item's answer as a dict of the schema's item fields, or None.
        failure: why there is no answer (None when there is one).
        prompt_sha256: SHA-256 of the instructions plus the item's prompt line.
        at: when the answer was given (ISO 8601 UTC; from the cache on a hit).
    """

    value: dict[str, Any] | None
    failure: str | None
    prompt_sha256: str
    at: str


class BatchAsker:
    """Asks Gemini about numbered items, in batches, with cache, retries and budget.

    ``schema`` is a pydantic model of the whole reply; ``items_of`` extracts from a
    parsed reply a mapping ``item number -> answer dict`` (numbers start at 1).
    """

    def __init__(
        self,
        settings: GeminiSettings,
        cache: JsonCache,
        instructions: str,
        schema: type[pydantic.BaseModel],
        items_of: Callable[[Any], dict[int, dict[str, Any]]],
    ) -> None:
        self._settings = settings
        self._cache = cache
        self._instructions = instructions
        self._schema = schema
        self._items_of = items_of
        self._client = settings.client()

    def ask(self, items: Sequence[LlmItem], budget: CallBudget) -> list[LlmAnswer]:
        """One answer per item, in order."""
        shas = [sha256_hex(f"{self._instructions}\n{item.text}") for item in items]
        keys = [
            cache_key(list(item.identity), sha, self._settings.model)
            for item, sha in zip(items, shas, strict=True)
        ]
        answers: list[LlmAnswer | None] = [None] * len(items)
        for index, (key, sha) in enumerate(zip(keys, shas, strict=True)):
            hit = self._cache.get(key)
            if hit is not None:
                answers[index] = LlmAnswer(hit["value"], None, sha, hit["at"])
        missing = [i for i, answer in enumerate(answers) if answer is None]
        size = self._settings.batch_size
        batches = [missing[start : start + size] for start in range(0, len(missing), size)]
        with ThreadPoolExecutor(max_workers=self._settings.workers) as pool:
            for batch, replies in zip(
                batches,
                pool.map(lambda b: self._ask_batch([items[i] for i in b], budget), batches),
                strict=True,
            ):
                for index, (value, failure, at) in zip(batch, replies, strict=True):
                    answers[index] = LlmAnswer(value, failure, shas[index], at)
                    if value is not None:
                        self._cache.put(keys[index], {"value": value, "at": at})
        return answers  # type: ignore[return-value]

    def _ask_batch(
        self, items: list[LlmItem], budget: CallBudget
    ) -> list[tuple[dict[str, Any] | None, str | None, str]]:
        """(answer, failure, time) per item of one batch."""
        results: dict[int, tuple[dict[str, Any] | None, str | None, str]] = {}
        pending = list(range(len(items)))
        failure = "no request made"
        for _ in range(self._settings.reply_attempts):
            response, failure = self._send(self._contents([items[i] for i in pending]), budget)
            if response is None:  # no reply: its items stay unanswered
                if not failure.endswith(BUDGET_EXHAUSTED):  # a run's budget is counted, not logged
                    log.warning("%s (%d items)", failure, len(pending))
                break
            if response.parsed is None:
                failure = "Gemini reply did not parse into the expected JSON"
                log.warning("%s; asking again (%d items)", failure, len(pending))
                continue
            answered = self._items_of(response.parsed)
            at = utc_now()
            for number, i in enumerate(pending, start=1):
                if number in answered:
                    results[i] = (answered[number], None, at)
            pending = [i for i in pending if i not in results]
            if not pending:
                break
            failure = "Gemini reply left this item out"
        for i in pending:
            results[i] = (None, failure, utc_now())
        return [results[i] for i in range(len(items))]

    def _contents(self, items: list[LlmItem]) -> Any:
        """One request's contents: the instructions and the numbered items.

        Without images, one text; with images, a list of parts: the instructions, then per
        item its numbered line followed by its image (inline bytes), if it has one.
        """
        lines = [f"{number}. {item.text}" for number, item in enumerate(items, start=1)]
        if all(item.image is None for item in items):
            return "\n".join([self._instructions, "", *lines])
        from google.genai import types

        parts = [types.Part.from_text(text=f"{self._instructions}\n")]
        for line, item in zip(lines, items, strict=True):
            parts.append(types.Part.from_text(text=line))
            if item.image is not None:
                parts.append(types.Part.from_bytes(data=item.image, mime_type=item.image_mime_type))
        return parts

    def _send(self, contents: Any, budget: CallBudget) -> tuple[Any, str]:
        """The reply to one request's contents, or ``(None, why not)``.

        Each HTTP try takes one call from ``budget``; a 408/429/5xx reply, a timeout or a
        connection error is tried again, up to ``http_attempts`` tries, while the budget lasts.
        """
        from google.genai import types

        config = types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema=self._schema,
            temperature=0.0,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        failure = ""
        for tries in range(self._settings.http_attempts):
            if tries:
                delay = self._settings.backoff_s(tries)
                log.info("%s; sending it again in %.2f s", failure, delay)
                time.sleep(delay)
            if not budget.spend():
                return None, f"{failure}; then {BUDGET_EXHAUSTED}" if failure else BUDGET_EXHAUSTED
            try:
                reply = self._client.models.generate_content(
                    model=self._settings.model, contents=contents, config=config
                )
            except Exception as error:  # any failed request is reported, none raises
                failure = f"Gemini request failed: {type(error).__name__}: {one_line(error)}"
                if not _transient(error):
                    break
            else:
                return reply, ""
        return None, failure


def _transient(error: Exception) -> bool:
    """Whether sending the same request again may succeed."""
    from google.genai import errors

    if isinstance(error, errors.APIError):
        return error.code in TRANSIENT_STATUSES
    return isinstance(error, _transport_errors())


def _transport_errors() -> tuple[type[Exception], ...]:
    """Timeouts and connection errors of the HTTP library the client uses.

    google-genai moved from ``httpx`` to its fork ``httpx2`` (same classes, other module).
    """
    found: list[type[Exception]] = []
    for name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found += [module.TimeoutException, module.NetworkError]
    return tuple(found)
