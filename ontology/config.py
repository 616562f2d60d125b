"""One ontology run's configuration, checked before any work starts.

``prepare`` reads the vocabularies and overrides and makes sure the chosen models can
be used (MPNet weights found, a Gemini API key present), so that a run that cannot
finish stops at once with one line saying what is missing and how to provide it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from ontology.describe import TEMPLATE, GeminiDescriber, TemplateDescriber
from ontology.embed import LEXICAL, MPNET, EmbedderSpec, lexical_spec, mpnet_spec
from ontology.gemini import GEMINI, CallBudget, GeminiSettings, api_key_from_environment
from ontology.overrides import Overrides
from ontology.rules import RULES
from ontology.verify import GeminiVerifier
from ontology.vocabulary import VocabularyError, VocabularySpec, read_vocabulary, vocabulary_table

log = logging.getLogger(__name__)

DESCRIBERS = (GEMINI, TEMPLATE)
VERIFIERS = (GEMINI, RULES)
EMBEDDERS = (MPNET, LEXICAL)


@dataclass(frozen=True)
class OntologyConfig:
    """Everything a run needs besides the vocabulary table (no secrets: safe to log).

    Attributes:
        vocabularies: the ``--vocab`` inputs.
        embedder: the resolved embedder (``mpnet`` folder or ``lexical``).
        describer: ``gemini`` or ``template``.
        verifier: ``gemini`` or ``rules``.
        gemini: how to reach Gemini (used only when describer or verifier is gemini).
        overrides: a person's decisions (empty without ``--overrides``).
        overrides_path: the ``--overrides`` file, if any.
        threshold: minimum cosine similarity of a candidate pair.
        max_group_size: largest group merged without review.
        max_llm_calls: Gemini request budget of the run (None: unlimited).
        cache_dir: folder of the description and verdict caches.
    """

    vocabularies: tuple[VocabularySpec, ...]
    embedder: EmbedderSpec
    describer: str
    verifier: str
    gemini: GeminiSettings
    overrides: Overrides
    overrides_path: str | None
    threshold: float
    max_group_size: int
    max_llm_calls: int | None
    cache_dir: str

    @property
    def uses_gemini(self) -> bool:
        return GEMINI in (self.describer, self.verifier)

    def make_describer(self) -> TemplateDescriber | GeminiDescriber:
        if self.describer == GEMINI:
            return GeminiDescriber(self.gemini, self.cache_dir)
        return TemplateDescriber()

    def make_verifier(self) -> GeminiVerifier | None:
        """Gemini, or None for the rules alone."""
        return GeminiVerifier(self.gemini, self.cache_dir) if self.verifier == GEMINI else None

    def budget(self, calls_before: int) -> CallBudget:
        """The LLM requests left after ``calls_before`` were made."""
        limit = self.max_llm_calls
        return CallBudget(None if limit is None else max(0, limit - calls_before))

    def summary(self) -> dict[str, Any]:
        """The configuration as JSON-ready values (for ``ontology_run.json``)."""
        return {
            "vocab": [f"{spec.name}={spec.path}" for spec in self.vocabularies],
            "embedder": self.embedder.kind,
            "embedder_model": self.embedder.model,
            "embedder_folder": self.embedder.folder,
            "embedder_revision": self.embedder.revision,
            "embedding_dim": self.embedder.dimensions,
            "describer": self.describer,
            "verifier": self.verifier,
            "gemini_model": self.gemini.model if self.uses_gemini else None,
            "gemini_base_url": self.gemini.base_url if self.uses_gemini else None,
            "overrides": self.overrides_path,
            "overrides_undecided_rows": self.overrides.undecided,
            "threshold": self.threshold,
            "max_group_size": self.max_group_size,
            "max_llm_calls": self.max_llm_calls,
            "cache_dir": self.cache_dir if self.uses_gemini else None,
        }


def prepare(
    vocab: Sequence[str],
    *,
    embedder: str,
    embedder_model: str,
    describer: str,
    verifier: str,
    gemini: GeminiSettings,
    overrides_path: str | None,
    threshold: float,
    max_group_size: int,
    max_llm_calls: int | None,
    cache_dir: str,
) -> tuple[OntologyConfig, pl.DataFrame]:
    """Check and resolve a run's settings and read its vocabularies.

    Raises ``ValueError`` (``VocabularyError``, ``OverridesError``),
    ``ModelUnavailableError`` or ``MissingApiKeyError`` with a one-line message.
    """
    if not vocab:
        raise VocabularyError("no vocabulary: give at least one --vocab NAME[=PATH]")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"--threshold {threshold}: must lie in (0, 1]")
    if max_group_size < 2:
        raise ValueError(f"--max-group-size {max_group_size}: must be at least 2")
    if max_llm_calls is not None and max_llm_calls < 0:
        raise ValueError(f"--max-llm-calls {max_llm_calls}: must not be negative")
    for flag, value in (
        ("--gemini-timeout", gemini.timeout_s),
        ("--gemini-attempts", gemini.http_attempts),
        ("--llm-batch-size", gemini.batch_size),
        ("--llm-workers", gemini.workers),
    ):
        if value <= 0:
            raise ValueError(f"{flag} {value}: must be positive")
    specs = tuple(VocabularySpec.parse(text) for text in vocab)
    table = vocabulary_table(read_vocabulary(spec) for spec in specs)
    overrides = Overrides.load(overrides_path) if overrides_path else Overrides()
    unknown = overrides.naming_unknown(table)
    if unknown:
        log.warning(
            "%d override row(s) name something no --vocab has and will not apply, e.g. %s",
            len(unknown),
            ", ".join(row.where for row in unknown[:5]),
        )
    if GEMINI in (describer, verifier):
        api_key_from_environment()
    embedder_spec = mpnet_spec(embedder_model) if embedder == MPNET else lexical_spec()
    config = OntologyConfig(
        specs,
        embedder_spec,
        describer,
        verifier,
        gemini,
        overrides,
        overrides_path,
        threshold,
        max_group_size,
        max_llm_calls,
        cache_dir,
    )
    return config, table


def prepare_offline(vocab: Sequence[str], cache_dir: str) -> tuple[OntologyConfig, pl.DataFrame]:
    """``prepare`` for an offline run (lexical embedder, template describer, rules verifier)
    with the pipeline's other defaults: what tests and benchmarks run without a network."""
    return prepare(
        vocab,
        embedder="lexical",
        embedder_model="",
        describer="template",
        verifier="rules",
        gemini=GeminiSettings(),
        overrides_path=None,
        threshold=0.8,
        max_group_size=8,
        max_llm_calls=None,
        cache_dir=str(cache_dir),
    )
