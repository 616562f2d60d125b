"""Compare two features outputs row by row, provenance aside.

    python benchmarks/compare_shards.py A B [--ignore COLUMN]...

A and B are ``--output`` folders (or their ``features/`` folders). Every Parquet file in
one ``features/`` folder (shards and ``_manifest.parquet``) must exist in the other with
the same schema (field names, types and schema metadata other than ``partbank.run``,
which records the run) and the same rows, column by column, in order. The run files
(``features_run.json``: timings, paths, versions) are not compared, nor the columns named
by ``--ignore`` (e.g. the manifest's ``uri`` when the two runs read the bundled samples
from two checkouts). Prints one line per file and a verdict; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: Schema metadata that records the run rather than the data.
PROVENANCE_KEYS = (b"partbank.run",)


def features_folder(location: str) -> Path:
    folder = Path(location)
    return folder / "features" if (folder / "features").is_dir() else folder


def data_metadata(schema: pa.Schema) -> dict[bytes, bytes]:
    """Schema metadata without provenance and without pandas/Arrow bookkeeping."""
    return {k: v for k, v in (schema.metadata or {}).items() if k not in PROVENANCE_KEYS}


def compare_file(a: Path, b: Path, ignored: frozenset[str] = frozenset()) -> list[str]:
    """Differences between two Parquet files (empty: equal), one line each; columns in
    ``ignored`` are compared by type only."""
    table_a, table_b = pq.read_table(a), pq.read_table(b)
    problems = []
    if table_a.schema.remove_metadata() != table_b.schema.remove_metadata():
        return [f"schemas differ:\n{table_a.schema}\nvs\n{table_b.schema}"]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="an --output folder (or its features/ folder)")
    parser.add_argument("b", help="the other one")
    parser.add_argument(
        "--ignore", action="append", default=[], metavar="COLUMN", help="a column not compared"
    )
    args = parser.parse_args(argv)
    folder_a, folder_b = features_folder(args.a), features_folder(args.b)
    names_a = sorted(p.name for p in folder_a.glob("*.parquet"))
    names_b = sorted(p.name for p in folder_b.glob("*.parquet"))
    differ = 0
    if names_a != names_b:
        print(f"files differ: {names_a} vs {names_b}")
        differ += 1
    if not names_a:
        print(f"no Parquet files in {folder_a}")
        return 1
    for name in sorted(set(names_a) & set(names_b)):
        problems = compare_file(folder_a / name, folder_b / name, frozenset(args.ignore))
        rows = pq.ParquetFile(folder_a / name).metadata.num_rows
        print(f"{name}: {rows} rows, " + ("identical" if not problems else "DIFFERENT"))
        for problem in problems:
            print(f"  {problem}")
        differ += bool(problems)
    ignored = f", {', '.join(args.ignore)} not compared" if args.ignore else ""
    print(f"identical (provenance aside{ignored})" if not differ else f"{differ} file(s) differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
