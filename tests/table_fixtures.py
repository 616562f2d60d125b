"""Manifests built by hand, and commits of shard files already in a features folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa

from schemas.features import MANIFEST_SCHEMA
from schemas.table import FeatureTable


def manifest(*rows: tuple[str, str, str]) -> pa.Table:
    """A manifest of ``(shape_id, status, shard)`` rows (a failed row gets an error)."""
    return pa.table(
        {
            "shape_id": [shape_id for shape_id, _, _ in rows],
            "uri": [f"/data/{shape_id}.glb" for shape_id, _, _ in rows],
            "status": [status for _, status, _ in rows],
            "error": ["load: broken" if status == "failed" else "" for _, status, _ in rows],
            "shard": [shard for _, _, shard in rows],
            "warnings": [[] for _ in rows],
        },
        schema=MANIFEST_SCHEMA,
    )


def commit_shards(
    folder: Path | str, shards: Mapping[str, Sequence[str]], metadata: Mapping | None = None
) -> int:
    """Commit the next version of ``folder``: ``shards`` (file name: its shape ids), all ok."""
    rows = [(shape_id, "ok", shard) for shard, ids in shards.items() for shape_id in ids]
    return FeatureTable(folder).commit(manifest(*rows), metadata or {})
