"""The curate pipeline's selection table: one row per listed asset (``OUT/selection.parquet``).

``decision`` is ``keep`` or ``reject``; ``decided_by`` says what decided (the cheap checks,
Gemini, or both); ``reasons`` holds a one-line reason per failed check or Gemini's reason for
a rejection, ``notes`` what is worth knowing about a kept row. The ``*_sha256`` columns and
``row_key`` let a rerun judge only new or changed rows; the statistics (``triangles`` ...)
are the cheap checks' measurements, the ``gemini_*`` columns Gemini's answer (null when it
did not judge the row).
"""

import pyarrow as pa

SELECTION_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("id", pa.string()),
        ("path", pa.string()),
        ("thumbnail", pa.string()),
        ("decision", pa.string()),
        ("decided_by", pa.string()),
        ("reasons", pa.list_(pa.string())),
        ("notes", pa.list_(pa.string())),
        ("category", pa.string()),
        ("listing_category", pa.string()),
        ("license", pa.string()),
        ("model_sha256", pa.string()),
        ("thumbnail_sha256", pa.string()),
        ("metadata_sha256", pa.string()),
        ("row_key", pa.string()),
        ("reused", pa.bool_()),
        ("triangles", pa.int64()),
        ("textured_share", pa.float64()),
        ("components", pa.int64()),
        ("objects", pa.int64()),
        ("bbox_aspect", pa.float64()),
        ("duplicate_of", pa.string()),
        ("gemini_keep", pa.bool_()),
        ("gemini_single_object", pa.bool_()),
        ("gemini_category", pa.string()),
        ("gemini_quality", pa.int8()),
        ("gemini_reason", pa.string()),
        ("gemini_prompt_sha256", pa.string()),
    ]
)
