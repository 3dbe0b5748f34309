"""Simulated 8-bit inference speed: ours (fp32 mode) vs the float model, Brevitas and QPyTorch, in one run.

A CIFAR-sized VGG-style network (6 conv + 2 fc, batch of 3x32x32 images) on the
CPU. Every tool does the same job: 8-bit fixed-point weights, and 8-bit
fixed-point layer inputs and outputs (fake quantization in float32).
Run: ``python benchmarks/bench_network.py [--batch 64] [--repeat 5]``
(QPyTorch compiles its extension on first use; that is outside the timing).
"""

import argparse
import statistics
import time

import torch
from torch import nn

from ristretto.nn import Widths, apply_formats, assign_formats, wrap_model
from ristretto.nn.ranges import calibrate

CFG = [64, 64, "M", 128, 128, "M", 256, 256, "M"]


def vgg(conv=nn.Conv2d, linear=nn.Linear, act=lambda: nn.ReLU(inplace=True), quant=None):
    layers, c = [], 3
    for v in CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        layers += ([quant()] if quant else []) + [conv(c, v, 3, padding=1)] + ([quant()] if quant else []) + [act()]
        c = v
    head = ([quant()] if quant else []) + [linear(256 * 16, 512)] + ([quant()] if quant else []) + [act()]
    head += ([quant()] if quant else []) + [linear(512, 10)] + ([quant()] if quant else [])
    return nn.Sequential(*layers, nn.Flatten(), *head)


def _interleaved(fns, repeat):
    """Median seconds of each function and median per-round ratio to the first, timed round-robin.

    Interleaving keeps a busy neighbour on the machine from favouring whichever runs in a quiet moment.
    """
    times = {name: [] for name in fns}
    with torch.no_grad():
        for fn in fns.values():
            fn()  # warm-up
        for _ in range(repeat):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    first = next(iter(fns))
    return {name: (statistics.median(ts), statistics.median(t / b for t, b in zip(ts, times[first], strict=True)))
            for name, ts in times.items()}


def brevitas_model():
    import brevitas.nn as qnn

    def conv(i, o, k, padding):
        return qnn.QuantConv2d(i, o, k, padding=padding, weight_bit_width=8)

    def linear(i, o):
        return qnn.QuantLinear(i, o, bias=True, weight_bit_width=8)

    return vgg(conv, linear, act=lambda: nn.ReLU(inplace=True), quant=lambda: qnn.QuantIdentity(bit_width=8))


def qtorch_model(float_model):
    from qtorch.quant import fixed_point_quantize

    class Q(nn.Module):
        def forward(self, x):
            return fixed_point_quantize(x, 8, 4, rounding="nearest")

    class QW(nn.Module):
        """Quantizes the wrapped layer's weights on each call, as fake quantization does."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            w = fixed_point_quantize(self.inner.weight, 8, 6, rounding="nearest")
            if isinstance(self.inner, nn.Conv2d):
                return nn.functional.conv2d(x, w, self.inner.bias, padding=self.inner.padding)
            return nn.functional.linear(x, w, self.inner.bias)

    mods = []
    for m in float_model:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            mods += [Q(), QW(m), Q()]
        else:
            mods.append(m)
    return nn.Sequential(*mods)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32)
    float_model = vgg().eval()
    ours = wrap_model(float_model)
    apply_formats(ours, assign_formats(ours, calibrate(ours, [x]), "dfp", Widths(8, 8, 8)))

    fns = {"float32 model": lambda: float_model(x), "ristretto (fp32 mode, dfp8)": lambda: ours(x)}
    try:
        bm = brevitas_model().eval()
        fns["brevitas 8-bit"] = lambda: bm(x)
    except Exception as err:  # noqa: BLE001 - an optional comparison
        print(f"brevitas skipped: {err}")
    try:
        qm = qtorch_model(float_model).eval()
        qm(x)  # compiles the extension on first use
        fns["qtorch 8-bit"] = lambda: qm(x)
    except Exception as err:  # noqa: BLE001 - an optional comparison
        print(f"qtorch skipped: {err}")
    results = _interleaved(fns, args.repeat)
    print(f"VGG-style CIFAR net, batch {args.batch}, {torch.get_num_threads()} threads, "
          f"{args.repeat} interleaved rounds (medians)")
    print(f"{'':<32}{'ms':>9}{'x float':>9}")
    for name, (t, ratio) in results.items():
        print(f"{name:<32}{t * 1e3:>9.1f}{ratio:>9.2f}")
    print(f"ristretto / float32 = {results['ristretto (fp32 mode, dfp8)'][1]:.2f} (target <= 1.25)")


if __name__ == "__main__":
    main()
