"""Whether two features outputs hold the same data, provenance aside.

Two ``features/`` folders are equal when they hold the same Parquet files (shards and
``_manifest.parquet``), each with the same schema (field names, types and schema metadata
other than ``partbank.run``, which records the run) and the same rows, column by column,
in order. Used to check that two runners, or two runs, wrote the same table.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: Schema metadata that records the run rather than the data.
PROVENANCE_KEYS = (b"partbank.run",)


def features_folder(location: str | Path) -> Path:
    """``location/features`` when ``location`` is an ``--output`` folder, else ``location``."""
    folder = Path(location)
    return folder / "features" if (folder / "features").is_dir() else folder


def data_metadata(schema: pa.Schema) -> dict[bytes, bytes]:
    """Schema metadata without the keys that record the run (``PROVENANCE_KEYS``)."""
    return {k: v for k, v in (schema.metadata or {}).items() if k not in PROVENANCE_KEYS}


def compare_file(a: Path, b: Path, ignored: frozenset[str] = frozenset()) -> list[str]:
    """Differences between two Parquet files, one line each (empty: equal).

    Columns named in ``ignored`` are compared by type only.
    """
    table_a, table_b = pq.read_table(a), pq.read_table(b)
    if table_a.schema.remove_metadata() != table_b.schema.remove_metadata():
        return [f"schemas differ:\n{table_a.schema}\nvs\n{table_b.schema}"]
    problems = []
    if data_metadata(table_a.schema) != data_metadata(table_b.schema):
        problems.append("schema metadata differs (beyond partbank.run)")
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
    """Differences between two features outputs, per Parquet file name (all empty: equal).

    ``a`` and ``b`` are ``--output`` folders or their ``features/`` folders. A file found in
    only one of them maps to a one-line problem; so does a pair of folders with no Parquet
    file at all (nothing to compare is not equality).
    """
    folder_a, folder_b = features_folder(a), features_folder(b)
    names_a = {p.name for p in folder_a.glob("*.parquet")}
    names_b = {p.name for p in folder_b.glob("*.parquet")}
    if not names_a | names_b:
        return {"": [f"no Parquet files in {folder_a} or {folder_b}"]}
    differences = {}
    for name in sorted(names_a | names_b):
        if name not in names_b or name not in names_a:
            missing = folder_b if name in names_a else folder_a
            differences[name] = [f"missing from {missing}"]
        else:
            differences[name] = compare_file(folder_a / name, folder_b / name, ignored)
    return differences
