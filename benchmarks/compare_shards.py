"""Compare two features outputs row by row, provenance aside.

    python benchmarks/compare_shards.py A B [--ignore COLUMN]...

A and B are ``--output`` folders (or their ``features/`` folders). Their latest committed
versions must hold the same manifest rows (``_log/vNNNNNN.parquet``) and the same shard
files by name, each with the same schema and rows (``schemas.compare`` says what equal
means); files no version holds, and earlier versions, are not compared. The run files
(``features_run.json``: timings, paths, versions) are not compared, nor the columns named
by ``--ignore`` (e.g. the manifest's ``uri`` when the two runs read the bundled samples
from two checkouts). Prints one line per file and a verdict; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.compare import compare_outputs, features_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="an --output folder (or its features/ folder)")
    parser.add_argument("b", help="the other one")
    parser.add_argument(
        "--ignore", action="append", default=[], metavar="COLUMN", help="a column not compared"
    )
    args = parser.parse_args(argv)
    differences = compare_outputs(args.a, args.b, frozenset(args.ignore))
    for name, problems in differences.items():
        path = features_folder(args.a) / name
        rows = f"{pq.ParquetFile(path).metadata.num_rows} rows, " if path.is_file() else ""
        print(f"{name}: {rows}" + ("identical" if not problems else "DIFFERENT"))
        for problem in problems:
            print(f"  {problem}")
    differ = sum(bool(problems) for problems in differences.values())
    ignored = f", {', '.join(args.ignore)} not compared" if args.ignore else ""
    print(f"identical (provenance aside{ignored})" if not differ else f"{differ} file(s) differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
