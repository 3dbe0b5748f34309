"""Time quantize() of each format family against the plain elementwise baseline.

Baseline: ``torch.round(x * s).clamp(lo, hi) / s`` on the same 16 M-element
float32 tensor, measured in the same run. Prints median times and ratios.
Run: ``python benchmarks/bench_quantize.py [--n N] [--repeat R] [--device cpu|cuda]``.
"""

import argparse
import statistics
import time

import torch

from ristretto.formats import DynamicFixedPoint, Minifloat, PowerOfTwo


def _time(fn, repeat, device):
    times = []
    for _ in range(repeat + 1):  # first call warms up
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=16 * 1024 * 1024)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    x = torch.randn(args.n, generator=torch.Generator().manual_seed(0)).to(args.device) * 3
    s, lo, hi = 32.0, -128.0, 127.0
    base = _time(lambda: torch.round(x * s).clamp(lo, hi) / s, args.repeat, args.device)
    print(f"{args.n} float32 elements on {args.device}, {torch.get_num_threads()} threads, "
          f"median of {args.repeat}")
    print(f"{'quantize':<46}{'ms':>9}{'ratio':>8}")
    print(f"{'baseline round(x*s).clamp(lo,hi)/s':<46}{base * 1e3:>9.1f}{1.0:>8.2f}")
    cases = [
        (DynamicFixedPoint(8, 5), "nearest_even"),
        (DynamicFixedPoint(8, 5), "stochastic"),
        (Minifloat(4, 3), "nearest_even"),
        (Minifloat(5, 10, subnormals=True, inf_nan=True), "nearest_even"),
        (PowerOfTwo(4, -8, -1, zero=False), "log"),
        (PowerOfTwo(5, -10, 3), "nearest_even"),
    ]
    worst = 0.0
    for fmt, rounding in cases:
        t = _time(lambda f=fmt, r=rounding: f.quantize(x, rounding=r, generator=0), args.repeat, args.device)
        if rounding != "stochastic":
            worst = max(worst, t / base)
        print(f"{fmt.slug + ' ' + rounding:<46}{t * 1e3:>9.1f}{t / base:>8.2f}")
    print(f"worst deterministic ratio: {worst:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
