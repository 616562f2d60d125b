"""Throughput of input content hashing (``fingerprint.input_sha256``), what an unchanged
rerun pays per shape instead of loading it.

Writes ``--count`` small GLBs (the sample shapes, cycled) to a temporary folder, discovers
them with the generic source and prints files/s and MB/s of hashing them all; then writes
one GLB of ``--big-mb`` MB (a large binary chunk, written in blocks) and prints its MB/s
and how much the process's peak RSS grew while hashing it (streamed: about one block).

    python benchmarks/fingerprint_inputs.py [--count 2000] [--big-mb 256] [--rows PATH]
"""

from __future__ import annotations

import argparse
import resource
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.figures import add_rows_option, append_rows
from pipelines import sample_data
from pipelines.sources import SOURCES
from pipelines.sources.fingerprint import input_sha256


def write_small_glbs(folder: Path, count: int) -> int:
    """``count`` GLBs of the sample shapes, cycled; returns their total bytes."""
    shapes = [sample_data.chair(), sample_data.table(), sample_data.mug(), sample_data.lamp()]
    blobs = [sample_data.scene_of(pieces).export(file_type="glb") for pieces in shapes]
    for k in range(count):
        (folder / f"{k // 1000:03d}" / f"shape_{k:06d}.glb").parent.mkdir(exist_ok=True)
        (folder / f"{k // 1000:03d}" / f"shape_{k:06d}.glb").write_bytes(blobs[k % len(blobs)])
    return sum(len(blobs[k % len(blobs)]) for k in range(count))


def write_big_glb(path: Path, megabytes: int) -> int:
    """A valid GLB header and JSON chunk followed by a ``megabytes`` MB binary chunk."""
    text = b'{"asset":{"version":"2.0"},"buffers":[{"byteLength":%d}]}' % (megabytes << 20)
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + (megabytes << 20)
    block = bytes(range(256)) * 4096  # 1 MiB
    with path.open("wb") as out:
        out.write(b"glTF" + struct.pack("<II", 2, total))
        out.write(struct.pack("<I", len(text)) + b"JSON" + text)
        out.write(struct.pack("<I", megabytes << 20) + b"BIN\0")
        for _ in range(megabytes):
            out.write(block)
    return total


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="small GLBs to hash")
    parser.add_argument("--big-mb", type=int, default=256, help="size of the large GLB (MB)")
    add_rows_option(parser)
    args = parser.parse_args()
    source = SOURCES["glb"]()
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small"
        small.mkdir()
        total = write_small_glbs(small, args.count)
        inputs = source.discover(str(small))
        start = time.perf_counter()
        digests = {input_sha256(si) for si in inputs}
        seconds = time.perf_counter() - start
        assert len(digests) == len(inputs)  # every id differs, so every hash does
        figures += [
            (
                f"hash {len(inputs)} small GLBs ({total / len(inputs) / 1024:.0f} KB each)",
                f"{len(inputs) / seconds:.0f} files/s, {total / seconds / 1e6:.1f} MB/s",
            ),
        ]

        big = Path(tmp) / "big" / "huge.glb"
        big.parent.mkdir()
        size = write_big_glb(big, args.big_mb)
        (big_input,) = source.discover(str(big))
        rss_before = peak_rss_mb()
        start = time.perf_counter()
        input_sha256(big_input)
        seconds = time.perf_counter() - start
        figures += [
            (f"hash one {size / 1e6:.0f} MB GLB", f"{size / seconds / 1e6:.0f} MB/s"),
            ("peak RSS growth while hashing it", f"{peak_rss_mb() - rss_before:.0f} MB"),
        ]
    for figure, value in figures:
        print(f"{figure}: {value}")
    append_rows(args.rows, "fingerprint", figures)


if __name__ == "__main__":
    main()
