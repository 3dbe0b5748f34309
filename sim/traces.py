"""Real traces: dot products of the quantized built-in LeNet as MAC stimulus, with the network's answers.

For each layer, random output neurons of real MNIST digits become MAC runs: the
layer's input codes and weight codes in the MAC's order (input channel, kernel
row, kernel column), the bias preloaded at ``clear``. The expected output codes
are those of the network's ``exact`` mode, computed by ``ristretto.nn``.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..datapath import IntMacConfig, MinifloatMacConfig, f32_bits
from ..formats import Minifloat
from ..formats.rounding import round_shift

__all__ = ["LayerTrace", "lenet_traces", "verify_lenet"]

SCHEME_WIDTHS = {"dfp": (8, 8), "pow2": (4, 8), "minifloat": (8, 8)}


@dataclass
class LayerTrace:
    """One layer's MAC spec, stimulus, and the network's exact output code of each neuron."""

    layer: str
    spec: dict
    stimulus: dict  # a, w, valid, clear, bias; ends (each neuron's last cycle); network_out (its exact output code)


def _mac_config(f):
    if isinstance(f.weight, Minifloat):
        return MinifloatMacConfig(f.input, f.weight, f.output)
    return IntMacConfig(f.input, f.weight, f.output, acc_bits=32, overflow="wrap")


def lenet_traces(scheme="dfp", *, neurons=32, images=4, seed=0):
    """``[LayerTrace]`` for every layer of the built-in LeNet quantized with ``scheme`` at 8 bits
    (power-of-two weights: 4 bits)."""
    from ..nn import Widths, apply_formats, assign_formats, builtin_lenet, quant_layers, set_mode, wrap_model
    from ..nn.data import builtin_mnist, calibration_batches
    from ..nn.ranges import calibrate

    data = builtin_mnist()
    net = wrap_model(builtin_lenet(data))
    wb, ab = SCHEME_WIDTHS[scheme]
    stats = calibrate(net, calibration_batches(data.x_train, batches=2))
    apply_formats(net, assign_formats(net, stats, scheme, Widths(wb, wb, ab)))
    set_mode(net, "exact")
    seen = {}
    layers = quant_layers(net)
    hooks = [layer.register_forward_hook(
        lambda mod, inp, out, n=n: seen.__setitem__(n, (inp[0].detach().clone(), out.detach().clone())))
        for n, layer in layers.items()]
    with torch.no_grad():
        net(data.x_val[:images])
    for h in hooks:
        h.remove()

    rng = np.random.default_rng(seed)
    traces = []
    for name, layer in layers.items():
        f, m = layer.formats, layer.inner
        x, y = seen[name]
        cfg = _mac_config(f)
        a = f.input.encode(x)
        cols = (a.reshape(a.shape[0], -1, 1) if isinstance(m, nn.Linear)
                else F.unfold(a.double(), m.kernel_size, m.dilation, m.padding, m.stride).to(torch.int64))
        w = f.weight.encode(m.weight.detach()).reshape(m.weight.shape[0], -1)
        out_codes = f.output.encode(y).reshape(y.shape[0], y.shape[1], -1)
        if isinstance(cfg, IntMacConfig):
            bias = round_shift(f.bias.encode(m.bias.detach()), f.bias.frac_bits - cfg.accumulator.frac_bits)
        else:
            bias = torch.from_numpy(f32_bits(f.bias.quantize(m.bias.detach().float()).numpy()))
        pick = [(int(rng.integers(cols.shape[0])), int(rng.integers(w.shape[0])), int(rng.integers(cols.shape[2])))
                for _ in range(neurons)]
        k = cols.shape[1]
        stim = {"a": np.concatenate([cols[n, :, pos].numpy() for n, o, pos in pick]),
                "w": np.concatenate([w[o].numpy() for n, o, pos in pick]),
                "valid": np.ones(k * neurons, np.int8),
                "clear": np.tile(np.eye(1, k, dtype=np.int8)[0], neurons),
                "bias": np.repeat([int(bias[o]) for n, o, pos in pick], k).astype(np.int64)}
        stim["ends"] = np.arange(1, neurons + 1) * k - 1
        stim["network_out"] = np.array([int(out_codes[n, o, pos]) for n, o, pos in pick], dtype=np.int64)
        spec = {"family": cfg.family, **cfg.to_dict(), "stages": 0, "bias": True}
        traces.append(LayerTrace(name, spec, stim))
    return traces


def verify_lenet(scheme, build_dir, *, neurons=32, seed=0, log=None):
    """Co-simulate every LeNet layer's MAC on real traces; ``{layer: verdict}``."""
    from pathlib import Path

    from .runner import verify

    results = {}
    for tr in lenet_traces(scheme, neurons=neurons, seed=seed):
        results[tr.layer] = verify(tr.spec, Path(build_dir) / scheme / tr.layer, stimulus=tr.stimulus)
        if log:
            log(tr.layer, results[tr.layer])
    return results
