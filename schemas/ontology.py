"""Arrow schemas of the ontology pipeline's outputs (version 1).

``OUT/ontology/categories.parquet``: one row per canonical category, row ``i`` has
``category_uid == i``. ``OUT/ontology/parts.parquet``: one row per canonical part,
row ``i`` has ``part_uid == i`` (the ``part_uid`` of feature shards).
``OUT/ontology/alias_log.jsonl``: one JSON object per line with the fields of
``ALIAS_LOG_SCHEMA``. Embedding widths depend on the embedder (768 for MPNet), so the
table schemas are functions of it.
"""

from __future__ import annotations

import pyarrow as pa

ONTOLOGY_SCHEMA_VERSION = 1

#: Decisions recorded in the alias log (the last three are candidate-pair records).
CANONICAL = "canonical"  # the name is (the raw spelling of) a canonical entry
MERGE = "merge"  # the name was merged into ``canonical``
KEEP_SEPARATE = "keep_separate"  # a candidate pair judged distinct
UNVERIFIED = "unverified"  # a candidate pair no verifier decided (in review.csv)
HELD = "held"  # a merge verdict held back against chaining (in review.csv)
LOG_DECISIONS = (CANONICAL, MERGE, KEEP_SEPARATE, UNVERIFIED, HELD)

_STRINGS = pa.list_(pa.string())


def _metadata(embedder: str, embedder_model: str) -> dict[bytes, bytes]:
    return {
        b"schema_version": str(ONTOLOGY_SCHEMA_VERSION).encode(),
        b"embedder": embedder.encode(),
        b"embedder_model": embedder_model.encode(),
    }


def categories_schema(
    embedding_dim: int, embedder: str = "", embedder_model: str = ""
) -> pa.Schema:
    """Schema of ``categories.parquet``.

    Columns: ``category_uid`` (row index), ``name`` (canonical), ``description``,
    ``description_source`` (gemini|template), ``embedding`` (unit norm), ``aliases``
    (raw spellings merged, sorted), ``datasets``, ``count`` (part occurrences summed),
    ``num_parts`` (canonical parts), ``schema_version``.
    """
    return pa.schema(
        [
            ("category_uid", pa.int32()),
            ("name", pa.string()),
            ("description", pa.string()),
            ("description_source", pa.string()),
            ("embedding", pa.list_(pa.float32(), embedding_dim)),
            ("aliases", _STRINGS),
            ("datasets", _STRINGS),
            ("count", pa.int64()),
            ("num_parts", pa.int32()),
            ("schema_version", pa.int16()),
        ],
        metadata=_metadata(embedder, embedder_model),
    )


def parts_schema(embedding_dim: int, embedder: str = "", embedder_model: str = "") -> pa.Schema:
    """Schema of ``parts.parquet``.

    Columns: ``part_uid`` (row index), ``category_uid``, ``category`` (canonical),
    ``name`` (canonical), ``description``, ``description_source``, ``embedding`` (unit
    norm, of name + description), ``aliases`` (raw spellings merged, sorted),
    ``datasets``, ``paths`` (hierarchy paths of all aliases), ``count`` (occurrences
    summed over aliases), ``schema_version``.
    """
    return pa.schema(
        [
            ("part_uid", pa.int32()),
            ("category_uid", pa.int32()),
            ("category", pa.string()),
            ("name", pa.string()),
            ("description", pa.string()),
            ("description_source", pa.string()),
            ("embedding", pa.list_(pa.float32(), embedding_dim)),
            ("aliases", _STRINGS),
            ("datasets", _STRINGS),
            ("paths", _STRINGS),
            ("count", pa.int64()),
            ("schema_version", pa.int16()),
        ],
        metadata=_metadata(embedder, embedder_model),
    )


#: Fields of one ``alias_log.jsonl`` record. ``kind``: category|part. ``category``: the
#: canonical category of a part record (null for categories). ``alias``: a raw name;
#: ``canonical``: what it resolves to (canonical/merge) or, for candidate-pair records
#: (keep_separate/unverified/held), the other name of the pair. ``key``: the alias's
#: match key (normalized spelling). ``via``: for a merge, the member it was matched with
#: when that is not the canonical one. ``part_uid``/``category_uid``: rows in the
#: tables (resolution records). ``similarity``: cosine of the embeddings.
ALIAS_LOG_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int16()),
        ("kind", pa.string()),
        ("category", pa.string()),
        ("alias", pa.string()),
        ("canonical", pa.string()),
        ("key", pa.string()),
        ("decision", pa.string()),
        ("similarity", pa.float64()),
        ("verifier", pa.string()),
        ("rationale", pa.string()),
        ("model", pa.string()),
        ("prompt_sha256", pa.string()),
        ("via", pa.string()),
        ("category_uid", pa.int32()),
        ("part_uid", pa.int32()),
        ("datasets", _STRINGS),
        ("at", pa.string()),
    ]
)

#: Columns of ``review.csv``: the pair, why it is there (unverified|conflict|bridge|
#: oversized) with the verifier's words, then ``decision``, ``canonical`` and
#: ``rationale`` left empty for a person; a filled-in file is a valid ``--overrides``.
#: Rows come most impactful first: by the occurrences both names count, then similarity;
#: one unverified pair per pair of groups.
REVIEW_COLUMNS = (
    "kind",
    "category",
    "name_a",
    "name_b",
    "similarity",
    "reason",
    "verifier",
    "detail",
    "decision",
    "canonical",
    "rationale",
)
