"""Text embedders: unit-norm vectors of an entity's name and description.

* ``mpnet``: ``sentence-transformers/all-mpnet-base-v2`` (768-D) or any local
  SentenceTransformer folder;
* ``lexical``: character n-gram TF-IDF (3-5 grams within words, hashed to a fixed
  width), for runs without the Hugging Face hub.

Both return ``(n, d)`` float32 arrays whose rows have L2 norm 1 (a row of zeros only
for an empty text).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ontology.entities import CATEGORY, Entity
from ontology.normalize import name_tokens
from schemas.common import ModelUnavailableError, from_hub, one_line

MPNET = "mpnet"
LEXICAL = "lexical"
DEFAULT_MPNET_MODEL = "sentence-transformers/all-mpnet-base-v2"
#: Files a SentenceTransformer folder needs (weights in safetensors).
_SENTENCE_TRANSFORMER_FILES = ["*.json", "*.txt", "*.safetensors"]
LEXICAL_DIMENSIONS = 2048
LEXICAL_NGRAMS = (3, 5)
#: Parents named in the embedded text of a part.
_PARENTS = 2


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), d)`` float32 unit-norm rows."""
        ...


@dataclass(frozen=True)
class EmbedderSpec:
    """What to build an embedder from (picklable, resolved before a run starts).

    Attributes:
        kind: ``mpnet`` or ``lexical``.
        model: what was asked for (hub id or folder), or how ``lexical`` featurizes.
        dimensions: width ``d`` of the embeddings.
        folder: the local folder of an ``mpnet`` SentenceTransformer.
        revision: the model's hub commit (``mpnet`` from the hub cache), else None.
    """

    kind: str
    model: str
    dimensions: int
    folder: str | None = None
    revision: str | None = None

    @property
    def label(self) -> str:
        """``model``, with ``@revision`` when known."""
        return f"{self.model}@{self.revision}" if self.revision else self.model

    def build(self) -> Embedder:
        if self.kind == LEXICAL:
            return LexicalEmbedder()
        return MpnetEmbedder(self.folder)


def entity_text(entity: Entity) -> str:
    """The text embedded for an entity: its name, where it sits, and its description.

    A part's place is its category and parents (``"bulb (lamp > lamp head): the bulb of
    the lamp head of a lamp"``), so that a leaf reads as its parents say.
    """
    if entity.kind == CATEGORY:
        return f"{entity.words}: {entity.description}"
    where = " > ".join([" ".join(name_tokens(entity.scope)), *entity.parents()[:_PARENTS]])
    return f"{entity.words} ({where}): {entity.description}"


def lexical_spec() -> EmbedderSpec:
    low, high = LEXICAL_NGRAMS
    description = f"char_wb {low}-{high}-grams, tf-idf, {LEXICAL_DIMENSIONS} hashed"
    return EmbedderSpec(LEXICAL, description, LEXICAL_DIMENSIONS)


def mpnet_spec(name_or_path: str = DEFAULT_MPNET_MODEL) -> EmbedderSpec:
    """Find a SentenceTransformer locally or in (or via) the Hugging Face cache, and load it.

    Raises ``ModelUnavailableError`` with a one-line remedy when the weights are not
    local and the hub cannot be reached.
    """
    if Path(name_or_path).is_dir():
        folder, revision = str(Path(name_or_path).resolve()), None
    else:
        folder = _hub_snapshot(name_or_path)
        revision = Path(folder).name
    try:
        dimensions = MpnetEmbedder(folder).dimensions
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(
            f"cannot load the SentenceTransformer in {folder}: {one_line(error)}"
        ) from error
    return EmbedderSpec(MPNET, name_or_path, dimensions, folder, revision)


def _hub_snapshot(repo_id: str) -> str:
    """The local folder of a hub model, downloaded into the cache if needed and possible."""
    folder = from_hub(
        repo_id,
        patterns=_SENTENCE_TRANSFORMER_FILES,
        what="MPNet weights",
        instead="pass --embedder-model /path/to/sentence-transformer, or use --embedder lexical",
    )
    return str(folder)


class LexicalEmbedder:
    """Character n-gram TF-IDF; IDF is fitted on the texts of each ``embed`` call."""

    def embed(self, texts: list[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

        if not texts:
            return np.zeros((0, LEXICAL_DIMENSIONS), np.float32)
        counts = HashingVectorizer(
            analyzer="char_wb",
            ngram_range=LEXICAL_NGRAMS,
            n_features=LEXICAL_DIMENSIONS,
            alternate_sign=False,
            norm=None,
        ).transform(texts)
        weights = TfidfTransformer(sublinear_tf=True, norm="l2").fit_transform(counts)
        return weights.toarray().astype(np.float32)


class MpnetEmbedder:
    """A SentenceTransformer loaded from a local folder, on CPU or the first GPU."""

    def __init__(self, folder: str, batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(folder, local_files_only=True)
        self._batch_size = batch_size

    @property
    def dimensions(self) -> int:
        return int(self._model.get_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
