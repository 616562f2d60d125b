"""Figures of the curate pipeline (issue 15): cheap-check speed and the Gemini calls saved.

    python benchmarks/curate_checks.py [--assets 400] [--detail 0] [--batch-size 8]

Writes a generated listing of ``--assets`` GLB assets with a known mix
(``tests.curate_assets.MIX``: half good single objects, and broken files, scenes of chairs,
duplicates, non-commercial licences and flat slabs; ``--detail K`` splits every triangle
of the good shapes in four K times: 4**K times the triangles), then prints:

* cheap checks per second on one core: ``check_asset`` (hash, read, checks) in this
  process, all assets and the good ones alone;
* a whole ``--pipeline curate`` run against the fake Gemini server on 127.0.0.1
  (the real google-genai client): seconds, assets kept, Gemini requests sent, and the
  share of requests the cheap checks saved against judging every listed asset;
* Gemini requests per 1,000 listed assets and per 1,000 judged assets at the batch size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import beam_runner  # noqa: E402
from featurizers.curation import CheckLimits  # noqa: E402
from featurizers.listing import read_listing  # noqa: E402
from ontology.curation import DEFAULT_BATCH_SIZE  # noqa: E402
from pipelines.curate_steps import check_asset, limits_key  # noqa: E402
from tests.curate_assets import MIX, write_csv, write_mix  # noqa: E402
from tests.ontology_fake_gemini import FakeGemini  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=400)
    parser.add_argument("--detail", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "assets"
        listing = write_csv(folder / "listing.csv", write_mix(folder, args.assets, args.detail))
        rows = read_listing(listing.read_bytes(), str(listing))
        good = sum(MIX[i % len(MIX)] == "good" for i in range(args.assets))
        triangles = [check_asset(row, CheckLimits(), "", {}).stats for row in rows[:1]]
        print(
            f"listing: {args.assets} assets, {good} good ({', '.join(sorted(set(MIX)))}); "
            f"the first has {triangles[0].triangles:,} triangles"
        )
        check_rate(rows)
        pipeline_run(listing, Path(tmp) / "out", args.assets, args.batch_size)


def check_rate(rows: list) -> None:
    limits = CheckLimits()
    limits_json = limits_key(limits)
    for label, chosen in (("all", rows), ("good only", [r for r in rows if "good" in r.id])):
        begun = time.perf_counter()
        for row in chosen:
            check_asset(row, limits, limits_json, {})
        seconds = time.perf_counter() - begun
        print(
            f"cheap checks ({label}): {len(chosen)} assets in {seconds:.2f} s, "
            f"{len(chosen) / seconds:.0f} assets/s on one core"
        )


def pipeline_run(listing: Path, output: Path, assets: int, batch_size: int) -> None:
    os.environ["GEMINI_API_KEY"] = "benchmark-fake-key"
    with FakeGemini() as fake:
        begun = time.perf_counter()
        code = beam_runner.main(
            [
                "--pipeline", "curate", "--listing", str(listing), "--output", str(output),
                "--judge-base-url", fake.url, "--judge-batch-size", str(batch_size),
            ]
        )  # fmt: skip
        seconds = time.perf_counter() - begun
        requests = len(fake.requests)
    assert code == 0, code
    counts = json.loads((output / "curate_run.json").read_text())["counts"]
    judged = counts["judged_by_gemini"]
    without_checks = math.ceil(assets / batch_size)
    print(
        f"pipeline (fake Gemini, batch {batch_size}): {seconds:.1f} s, {counts['kept']} kept, "
        f"{counts['rejected']} rejected ({judged} judged by Gemini); {requests} requests "
        f"against {without_checks} without the cheap checks: "
        f"{1 - requests / without_checks:.0%} of Gemini calls saved"
    )
    print(
        f"Gemini requests per 1,000 listed assets: {1000 * requests / assets:.0f}; "
        f"per 1,000 judged assets: {1000 * requests / max(judged, 1):.0f} "
        f"(1000 / batch size = {1000 / batch_size:.0f}, plus retries)"
    )


if __name__ == "__main__":
    main()
