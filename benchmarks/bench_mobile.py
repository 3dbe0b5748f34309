"""Speed on mobile-class nets: fp32 mode of every scheme against the float model, and format assignment, in one run.

Nets: a MobileNetV2-style and an EfficientNet-style CIFAR net (``mobile_nets.py``: depthwise convolutions, SE
blocks, SiLU, many small layers), batch of 3x32x32 images, 8-bit formats (MX: fp8 e4m3 elements). Ratios are
medians of per-round ratios over interleaved rounds (``bench_network._interleaved``), so a busy neighbour
favours no row. ``assign s`` is calibration (range analysis on the batch) plus the choice of every group's
format. Targets of issue 23: fp32 mode <= 1.5x float for every scheme, assignment under 1 s.
``RISTRETTO_KERNELS=0`` runs the formats' torch reference instead of the compiled kernels, for comparison.
Run: ``python benchmarks/bench_mobile.py [--batch 64] [--repeat 5] [--nets mobilenet_v2,efficientnet]``
"""

import argparse
import time

import torch
from bench_network import _interleaved
from mobile_nets import NETS

from ristretto.formats import _kernels
from ristretto.nn import Widths, apply_formats, assign_formats, wrap_model
from ristretto.nn.ranges import calibrate

SCHEMES = ("dfp", "fixed", "pow2", "minifloat", "fp8", "mx")


def _quantized(float_model, x, scheme):
    net = wrap_model(float_model)
    t0 = time.perf_counter()
    formats = assign_formats(net, calibrate(net, [x]), scheme, Widths(8, 8, 8))
    seconds = time.perf_counter() - t0
    apply_formats(net, formats)
    return net.eval(), seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--nets", default=",".join(NETS))
    ap.add_argument("--schemes", default=",".join(SCHEMES))
    args = ap.parse_args()
    print(f"batch {args.batch}, {torch.get_num_threads()} threads, {args.repeat} interleaved rounds (medians), "
          f"compiled kernels {'on' if _kernels.available() else 'off'}")
    for name in args.nets.split(","):
        torch.manual_seed(0)
        x = torch.randn(args.batch, 3, 32, 32)
        float_model = NETS[name]().eval()
        params = sum(p.numel() for p in float_model.parameters())
        nets, assign = {}, {}
        for scheme in args.schemes.split(","):
            nets[scheme], assign[scheme] = _quantized(float_model, x, scheme)
        fns = {"float32 model": lambda m=float_model, x=x: m(x)}
        fns.update({f"fp32 mode, {s}": (lambda n=n, x=x: n(x)) for s, n in nets.items()})
        results = _interleaved(fns, args.repeat)
        print(f"\n{name} ({params / 1e3:.0f} k parameters)")
        print(f"{'':<24}{'ms':>9}{'x float':>9}{'assign s':>10}")
        for row, (t, ratio) in results.items():
            scheme = row.split(", ")[-1]
            a = f"{assign[scheme]:>10.2f}" if scheme in assign else ""
            print(f"{row:<24}{t * 1e3:>9.1f}{ratio:>9.2f}{a}")


if __name__ == "__main__":
    main()
