"""Forward time and peak memory of the PartField port (random weights, synthetic points).

    python benchmarks/partfield_forward.py [--points 20000 100000] [--queries 10000]
        [--threads 2] [--repeats 2] [--batch-sizes 1 4 16] [--gpu-points 100000]
        [--no-cpu] [--rows PATH]

CPU: seconds per shape (one shape per forward) for each input size, and the process's peak
RSS. CUDA (when available): seconds per shape and shapes/s in fp32 (TF32 off) and under
fp16 autocast at each batch size, with peak GPU memory, and the largest absolute
difference of the fp16-autocast features from fp32 on one shape (with the features'
largest magnitude for scale). ``--rows PATH`` appends the CUDA figures for
``gpu_check.sh``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.figures import add_rows_option, append_rows
from featurizers.partfield import PartField


def cloud(batch: int, points: int, queries: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (B, P, 3) points and (B, M, 3) queries inside PartField's [-0.9, 0.9] box."""
    generator = torch.Generator().manual_seed(0)
    xyz = torch.rand(batch, points + queries, 3, generator=generator) * 1.8 - 0.9
    xyz = xyz.to(device)
    return xyz[:, :points], xyz[:, points:]


def best_time(run: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call."""
    run()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def features_in(
    context: Callable[[], AbstractContextManager], model: PartField, *inputs: torch.Tensor
) -> torch.Tensor:
    """``model.features(*inputs)`` inside a fresh ``context()`` (e.g. autocast)."""
    with context():
        return model.features(*inputs)


def bench_cpu(model: PartField, args: argparse.Namespace) -> None:
    print(f"CPU, {torch.get_num_threads()} threads, fp32, {args.queries} queries")
    for count in args.points:
        points, query = cloud(1, count, args.queries, "cpu")
        run = partial(model.features, points, query)
        seconds = best_time(run, args.repeats, lambda: None)
        print(f"  {count:>7} points: {seconds:6.2f} s/shape   peak RSS {peak_rss_gib():.2f} GiB")


def bench_cuda(model: PartField, args: argparse.Namespace) -> list[tuple[str, str]]:
    """Print the CUDA figures and return them as (figure, value) pairs."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = model.cuda()
    name = torch.cuda.get_device_name()
    print(f"CUDA ({name}), {args.gpu_points} points, {args.queries} queries, TF32 off")
    modes = {
        "fp32": nullcontext,
        "autocast fp16": lambda: torch.autocast("cuda", dtype=torch.float16),
    }
    figures = []
    for mode, context in modes.items():
        for batch in args.batch_sizes:
            points, query = cloud(batch, args.gpu_points, args.queries, "cuda")
            torch.cuda.reset_peak_memory_stats()
            run = partial(features_in, context, model, points, query)
            seconds = best_time(run, args.repeats, torch.cuda.synchronize)
            peak = torch.cuda.max_memory_allocated() / 2**30
            print(
                f"  {mode:<14} batch {batch:>2}: {seconds / batch * 1e3:7.1f} ms/shape "
                f"{batch / seconds:7.1f} shapes/s   peak {peak:.1f} GiB"
            )
            figures.append(
                (f"{mode} batch {batch} shapes/s (peak GiB)", f"{batch / seconds:.1f} ({peak:.1f})")
            )
    points, query = cloud(1, args.gpu_points, args.queries, "cuda")
    exact = features_in(nullcontext, model, points, query).float()
    mixed = features_in(modes["autocast fp16"], model, points, query).float()
    difference = (mixed - exact).abs().max().item()
    scale = exact.abs().max().item()
    print(f"  fp16 autocast vs fp32: max abs difference {difference:.3g} (max |fp32| {scale:.3g})")
    figures.append(
        ("fp16 autocast vs fp32 max abs diff (max |fp32|)", f"{difference:.3g} ({scale:.3g})")
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--gpu-points", type=int, default=100_000)
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU measurements")
    add_rows_option(parser)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model = PartField().eval()
    if not args.no_cpu:
        bench_cpu(model, args)
    if torch.cuda.is_available():
        append_rows(args.rows, "partfield_forward", bench_cuda(model, args))
    else:
        print("CUDA: not available")
        append_rows(args.rows, "partfield_forward", [("CUDA figures", "not run: no CUDA device")])


if __name__ == "__main__":
    main()
