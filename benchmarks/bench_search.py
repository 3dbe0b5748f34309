"""A whole search on the mobile-class nets, as a user runs it: ``quantize_network`` with the defaults, timed.

The nets of ``mobile_nets.py`` are trained briefly on sklearn's digits (1,797 real 8x8 images, bilinearly
upsampled to 3x32x32), so the search has a real accuracy to keep; 400 images are the validation split.
Prints the float validation pass, then per scheme the search's wall time, the widths found, the top-1 and
the number of validation passes. Target of issue 23: under a minute per scheme (``--mode exact``: three).
Run: ``python benchmarks/bench_search.py [--nets mobilenet_v2] [--schemes dfp,minifloat] [--mode fp32]``
"""

import argparse
import os
import time

import torch
import torch.nn.functional as F
from mobile_nets import NETS

from ristretto.nn.data import Dataset
from ristretto.nn.evaluate import accuracy
from ristretto.nn.flow import quantize_network
from ristretto.nn.train import fit


def digits(val=400, seed=0):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    x = (x - 0.5) / 0.5
    y = torch.tensor(d.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    x, y = x[order], y[order]
    return Dataset(x[val:], y[val:], x[:val], y[:val], name="digits-32")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nets", default=",".join(NETS))
    ap.add_argument("--schemes", default="dfp,fixed,pow2,minifloat,fp8,mx")
    ap.add_argument("--mode", default="fp32")
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    data = digits()
    for name in args.nets.split(","):
        torch.manual_seed(0)
        net = NETS[name]()
        t0 = time.perf_counter()
        fit(net, data.x_train, data.y_train, epochs=args.epochs, lr=0.05)
        train_s = time.perf_counter() - t0
        net.eval()
        t0 = time.perf_counter()
        top1 = accuracy(net, data.x_val, data.y_val)
        print(f"\n{name}: trained {args.epochs} epochs in {train_s:.0f} s; float top-1 {top1:.3f}, one validation "
              f"pass {time.perf_counter() - t0:.2f} s ({len(data.x_val)} images, {torch.get_num_threads()} threads)")
        for scheme in args.schemes.split(","):
            t0 = time.perf_counter()
            with open(os.devnull, "w") as quiet:  # the progress bar, discarded
                res = quantize_network(net, data, scheme=scheme, mode=args.mode, log=lambda _: None, stream=quiet)
            seconds = time.perf_counter() - t0
            print(f"  {scheme:<10} {args.mode}: {seconds:6.1f} s, widths {res.widths.to_dict()}, "
                  f"top-1 {res.quantized_top1:.3f} (float {res.baseline_top1:.3f}), {res.passes} passes", flush=True)


if __name__ == "__main__":
    main()
