"""Whether two features outputs hold the same data, provenance aside.

Two features tables are equal when their latest committed versions (``schemas.table``)
are: the same manifest rows and the same shard files by name, each file with the same
schema (field names, types and schema metadata other than ``partbank.run`` and
``partbank.commit``, which record the run) and the same rows, column by column, in order.
Files no version holds, and earlier versions, are not compared. Used to check that two
runners, or two runs, committed the same table.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.common import one_line
from schemas.locations import Location
from schemas.table import (
    LOG_FOLDER,
    META_COMMIT,
    FeatureTable,
    NoCommittedVersion,
    version_file_name,
)

#: Schema metadata that records the run rather than the data.
PROVENANCE_KEYS = (b"partbank.run", META_COMMIT)


def features_folder(location: str | Path) -> Path:
    """``location/features`` when ``location`` is an ``--output`` folder, else ``location``."""
    folder = Path(location)
    return folder / "features" if (folder / "features").is_dir() else folder


def data_metadata(schema: pa.Schema) -> dict[bytes, bytes]:
    """Schema metadata without the keys that record the run (``PROVENANCE_KEYS``)."""
    return {k: v for k, v in (schema.metadata or {}).items() if k not in PROVENANCE_KEYS}


def compare_file(a: Location, b: Location, ignored: frozenset[str] = frozenset()) -> list[str]:
    """Differences between two Parquet files, one line each (empty: equal).

    Columns named in ``ignored`` are compared by type only.
    """
    table_a = pq.read_table(a.path, filesystem=a.filesystem)
    table_b = pq.read_table(b.path, filesystem=b.filesystem)
    if table_a.schema.remove_metadata() != table_b.schema.remove_metadata():
        return [f"schemas differ:\n{table_a.schema}\nvs\n{table_b.schema}"]
    problems = []
    if data_metadata(table_a.schema) != data_metadata(table_b.schema):
        problems.append("schema metadata differs (provenance aside)")
    if table_a.num_rows != table_b.num_rows:
        return [*problems, f"{table_a.num_rows} rows vs {table_b.num_rows}"]
    for name in table_a.column_names:
        if name in ignored:
            continue
        column_a, column_b = table_a.column(name), table_b.column(name)
        for row in range(table_a.num_rows):
            if not column_a.slice(row, 1).equals(column_b.slice(row, 1)):
                shape = table_a.column(0)[row].as_py()
                problems.append(f"row {row} ({shape}): column {name} differs")
    return problems


def compare_outputs(
    a: str | Path, b: str | Path, ignored: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """Differences between two features tables' latest versions, per file (all empty: equal).

    ``a`` and ``b`` are ``--output`` folders or their ``features/`` folders. Keys are paths
    in ``a``'s features folder: its latest manifest (``_log/v000002.parquet``, compared
    with ``b``'s latest whatever its number) and the shard files either version holds. A
    shard file held by only one of them maps to a one-line problem; so does a folder with
    no committed version (``""``: nothing to compare is not equality).
    """
    table_a, table_b = FeatureTable(features_folder(a)), FeatureTable(features_folder(b))
    try:
        version_a, version_b = table_a.resolve_version(), table_b.resolve_version()
    except NoCommittedVersion as error:
        return {"": [one_line(error)]}
    manifest = f"{LOG_FOLDER}/{version_file_name(version_a)}"
    differences = {
        manifest: compare_file(
            table_a.folder / manifest,
            table_b.folder / f"{LOG_FOLDER}/{version_file_name(version_b)}",
            ignored,
        )
    }
    names_a, names_b = set(table_a.shard_names(version_a)), set(table_b.shard_names(version_b))
    for name in sorted(names_a | names_b):
        if name not in names_b or name not in names_a:
            missing = table_b.folder if name in names_a else table_a.folder
            differences[name] = [f"not in {missing}'s latest version"]
        else:
            differences[name] = compare_file(table_a.folder / name, table_b.folder / name, ignored)
    return differences
