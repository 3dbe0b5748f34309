"""Exact-mode speed: the network computed as its units compute it, against the float model, in one run.

The VGG-style CIFAR net of ``bench_network.py`` (6 conv + 2 fc), 8-bit formats,
on the CPU. Rows: the float model; fp32 mode (fake quantization); exact mode
for DFP (integer sums: wrapping, and saturating on a 16-lane unit, whose order
matters), for 8-bit minifloats with the exact fixed-point accumulator (integer
sums), and with float32 adders on 1 and 16 lanes (one rounding per addition,
in the unit's order). Targets of the datapath issue: integer and exact
fixed-point sums at most 3x the float model, float32 tree sums at most 6x.
Run: ``python benchmarks/bench_exact.py [--batch 16] [--repeat 3]``
"""

import argparse

import torch
from bench_network import _interleaved, vgg

from ristretto.nn import Widths, apply_formats, assign_formats, quant_layers, set_mode, wrap_model
from ristretto.nn.ranges import calibrate


def _net(float_model, x, scheme, mode, **opts):
    net = wrap_model(float_model)
    apply_formats(net, assign_formats(net, calibrate(net, [x]), scheme, Widths(8, 8, 8)))
    set_mode(net, mode)
    for layer in quant_layers(net).values():
        for k, v in opts.items():
            setattr(layer, k, v)
    return net


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32)
    fm = vgg().eval()
    rows = {
        "float32 model": fm,
        "fp32 mode, dfp8": _net(fm, x, "dfp", "fp32"),
        "exact, dfp8, wrap": _net(fm, x, "dfp", "exact"),
        "exact, dfp8, saturate, 16 lanes": _net(fm, x, "dfp", "exact", overflow="saturate", lanes=16),
        "exact, minifloat8, exact acc": _net(fm, x, "minifloat", "exact", accumulator="exact"),
        "exact, minifloat8, fp32 adders, 16 lanes": _net(fm, x, "minifloat", "exact", accumulator="fp32", lanes=16),
        "exact, minifloat8, fp32 adders, 1 lane": _net(fm, x, "minifloat", "exact", accumulator="fp32", lanes=1),
    }
    results = _interleaved({k: (lambda m=m: m(x)) for k, m in rows.items()}, args.repeat)
    print(f"VGG-style CIFAR net, batch {args.batch}, {torch.get_num_threads()} threads, "
          f"{args.repeat} interleaved rounds (medians)")
    print(f"{'':<44}{'ms':>9}{'x float':>9}")
    for name, (t, ratio) in results.items():
        print(f"{name:<44}{t * 1e3:>9.1f}{ratio:>9.2f}")


if __name__ == "__main__":
    main()
