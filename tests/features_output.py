"""What a features run committed into an output folder, read the way readers read it: the
latest version of ``OUT/features`` (``schemas.table.FeatureTable``), never a glob."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from schemas.table import FeatureTable


def latest_manifest(out: Path | str) -> pl.DataFrame:
    """The manifest of the latest committed version of ``out/features``, one row per input."""
    return pl.from_arrow(FeatureTable(Path(out) / "features").manifest())


def committed_shards(out: Path | str) -> list[Path]:
    """The shard files the latest version of ``out/features`` holds, sorted by name."""
    return [Path(file.path) for file in FeatureTable(Path(out) / "features").shard_files()]


def committed_rows(out: Path | str) -> pl.DataFrame:
    """Every row of the latest version of ``out/features`` (its committed shards only)."""
    return pl.concat([pl.read_parquet(path) for path in committed_shards(out)])
