"""Real traces: whole output channels of the quantized built-in LeNet as stimulus of each layer's unit.

For each layer, whole output channels (every position, for a few MNIST digits)
become dot products on the layer's unit (``ristretto.datapath.layer_unit``,
the one exact mode computes with): the input codes and weight codes in the
unit's order (input channel, kernel row, kernel column), ``lanes`` per cycle
(the last cycle zero-padded), the bias preloaded at ``clear``. The expected
output codes are those of the network's ``exact`` mode with the same lanes.
An MX layer's unit takes one block per cycle (``ristretto.datapath.mx``): each
cycle carries a block's element codes and the two blocks' scale codes (``sa``,
``sw``); its output is the float32 accumulator's bit pattern.
"""

from dataclasses import dataclass

import numpy as np
import torch

from ..datapath import bias_preload, chunks
from ..files import safe_name

__all__ = ["SCHEME_WIDTHS", "LayerTrace", "float32_traces", "lenet_traces", "network_traces", "verify_lenet"]

SCHEME_WIDTHS = {"dfp": (8, 8), "pow2": (4, 8), "minifloat": (8, 8), "fp8": (8, 8)}


@dataclass
class LayerTrace:
    """One layer's unit spec, stimulus, and the network's exact output code of each traced output."""

    layer: str
    spec: dict
    stimulus: dict  # a, w ([cycles] or [cycles, lanes]), valid, clear, bias; ends (each output's last cycle);
    # network_out (its exact output code)


def _cycles(codes, lanes):
    """``[K]`` codes as ``[cycles, lanes]`` (or ``[cycles]`` for one lane), zero codes in unused lanes."""
    cycles, pad = chunks(len(codes), lanes)
    c = np.concatenate([codes, np.zeros(pad, np.int64)])
    return c if lanes == 1 else c.reshape(cycles, lanes)


def lenet_traces(scheme="dfp", *, lanes=1, accumulator="auto", channels=2, images=2, seed=0):
    """``[LayerTrace]`` for every layer of the built-in LeNet quantized with ``scheme`` at 8 bits
    (power-of-two weights: 4 bits), ``channels`` random output channels per layer over ``images`` digits."""
    from ..nn import Widths, apply_formats, assign_formats, builtin_lenet, quant_layers, wrap_model
    from ..nn.data import builtin_mnist, calibration_batches
    from ..nn.ranges import calibrate

    data = builtin_mnist()
    net = wrap_model(builtin_lenet(data))
    wb, ab = SCHEME_WIDTHS[scheme]
    stats = calibrate(net, calibration_batches(data.x_train, batches=2))
    apply_formats(net, assign_formats(net, stats, scheme, Widths(wb, wb, ab)))
    for layer in quant_layers(net).values():
        layer.lanes, layer.accumulator = lanes, accumulator
    return network_traces(net, data.x_val[:images], channels=channels, seed=seed)


def _capture(net, x, mode):
    """Each quantized layer's ``(input, output)`` on ``x`` in ``mode``; the layers' modes are restored."""
    from ..nn import quant_layers, set_mode

    layers = quant_layers(net)
    modes = {n: layer.mode for n, layer in layers.items()}
    set_mode(net, mode)
    seen = {}
    hooks = [layer.register_forward_hook(
        lambda mod, inp, out, n=n: seen.__setitem__(n, (inp[0].detach().clone(), out.detach().clone())))
        for n, layer in layers.items()]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
        for n, layer in layers.items():
            layer.mode = modes[n]
    return {n: (layer, *seen[n]) for n, layer in layers.items()
            if getattr(layer.inner, "groups", 1) == 1 and n in seen}  # grouped layers have columns of their own


def _dot_products(cols, w, picks, lanes):
    """Stimulus of the dot products ``picks`` (image, output channel, position): ``a``, ``w``, ``valid``,
    ``clear`` (one per dot product, at its first cycle) and ``ends`` (its last cycle)."""
    per = chunks(cols.shape[1], lanes)[0]
    a = [_cycles(cols[n, :, pos].numpy(), lanes) for n, o, pos in picks]
    wv = [_cycles(w[o].numpy().astype(np.int64), lanes) for n, o, pos in picks]
    return {"a": np.concatenate(a), "w": np.concatenate(wv), "valid": np.ones(per * len(picks), np.int8),
            "clear": np.tile(np.eye(1, per, dtype=np.int8)[0], len(picks)),
            "ends": np.arange(1, len(picks) + 1) * per - 1}


def _picks(rng, cols, w, channels):
    return [(n, int(o), pos) for o in rng.choice(w.shape[0], min(channels, w.shape[0]), replace=False)
            for n in range(cols.shape[0]) for pos in range(cols.shape[2])]


def network_traces(net, x, *, channels=2, seed=0):
    """``[LayerTrace]`` for every quantized, ungrouped layer of a configured network (formats, lanes,
    accumulators set) on the inputs ``x``: ``channels`` random output channels per layer, every position."""
    from ..datapath.mx import MXMacConfig
    from ..nn.exact import mac_operands, unit_of

    rng = np.random.default_rng(seed)
    traces = []
    for name, (layer, inp, y) in _capture(net, x, "exact").items():
        f, m = layer.formats, layer.inner
        cfg = unit_of(layer)
        if cfg is None:
            continue
        if isinstance(cfg, MXMacConfig):
            traces.append(_mx_trace(name, layer, inp, y, rng, channels))
            continue
        cols, w = mac_operands(layer, f.input.encode(inp), f.weight.encode(m.weight.detach()))  # [N, K, L], [O, K]
        out_codes = f.output.encode(y).reshape(y.shape[0], y.shape[1], -1)
        bias = bias_preload(cfg, f.bias, m.bias)
        picks = _picks(rng, cols, w, channels)
        stim = _dot_products(cols, w, picks, cfg.lanes)
        stim["bias"] = np.repeat([int(bias[o]) for n, o, pos in picks],
                                 chunks(cols.shape[1], cfg.lanes)[0]).astype(np.int64)
        stim["network_out"] = np.array([int(out_codes[n, o, pos]) for n, o, pos in picks], dtype=np.int64)
        spec = {"family": cfg.family, **cfg.to_dict(), "stages": 0, "bias": True}
        traces.append(LayerTrace(name, spec, stim))
    return traces


def _mx_trace(name, layer, inp, y, rng, channels):
    """An MX layer's trace: each dot product's blocks (codes ``[cycles, block]``, scales ``sa``, ``sw``), the
    float32 bias preloaded at ``clear``, exact mode's float32 output."""
    from ..datapath import f32_bits
    from ..nn.mx import mx_operands

    f, m = layer.formats, layer.inner
    cg, wg, _, _ = mx_operands(layer, inp)  # [N, 1, K, L], [1, O, K] (ungrouped)
    a_codes, a_scales = f.input.encode(cg[:, 0].float(), axis=1)  # [N, K, L], [N, blocks, L]
    w_codes, w_scales = f.weight.encode(wg[0].float(), axis=-1)  # [O, K], [O, blocks]
    bs, k = f.weight.block_size, wg.shape[2]
    blocks, pad = chunks(k, bs)
    block = lambda c: np.concatenate([c.numpy().astype(np.int64), np.zeros(pad, np.int64)]).reshape(blocks, bs)  # noqa: E731
    picks = _picks(rng, a_codes, w_codes, channels)
    bias = f32_bits(m.bias.detach().float().numpy()) if m.bias is not None else np.zeros(w_codes.shape[0], np.int64)
    out = f32_bits(y.float().reshape(y.shape[0], y.shape[1], -1).numpy())
    stim = {"a": np.concatenate([block(a_codes[n, :, pos]) for n, o, pos in picks]),
            "w": np.concatenate([block(w_codes[o]) for n, o, pos in picks]),
            "sa": np.concatenate([a_scales[n, :, pos].numpy() for n, o, pos in picks]).astype(np.int64),
            "sw": np.concatenate([w_scales[o].numpy() for n, o, pos in picks]).astype(np.int64),
            "valid": np.ones(blocks * len(picks), np.int8),
            "clear": np.tile(np.eye(1, blocks, dtype=np.int8)[0], len(picks)),
            "ends": np.arange(1, len(picks) + 1) * blocks - 1,
            "bias": np.repeat([int(bias[o]) for n, o, pos in picks], blocks).astype(np.int64),
            "network_out": np.array([int(out[n, o, pos]) for n, o, pos in picks], dtype=np.int64)}
    spec = {"family": "mx", "a": f.input.to_dict(), "w": f.weight.to_dict(), "stages": 0, "bias": True}
    return LayerTrace(name, spec, stim)


def float32_traces(net, x, *, channels=2, seed=0):
    """``{layer: stimulus}`` of a one-lane float32 MAC computing each ungrouped layer of a float network
    (``wrap_model`` without formats) on ``x``: the float32 bit patterns of its inputs and weights, the same
    dot products ``network_traces`` picks. For switching activity (``synth.activity``); no expected outputs."""
    from ..datapath import f32_bits
    from ..nn.exact import mac_operands

    rng = np.random.default_rng(seed)
    out = {}
    for name, (layer, inp, _) in _capture(net, x, "fp32").items():
        bits = lambda t: torch.from_numpy(f32_bits(t.float().numpy()))  # noqa: E731
        cols, w = mac_operands(layer, bits(inp), bits(layer.inner.weight.detach()))
        out[name] = _dot_products(cols, w, _picks(rng, cols, w, channels), 1)
    return out


def verify_lenet(scheme, build_dir, *, lanes=1, accumulator="auto", channels=2, images=2, seed=0, log=None):
    """Co-simulate every LeNet layer's unit on real traces; ``{layer: verdict}``."""
    from pathlib import Path

    from .runner import verify

    results = {}
    for tr in lenet_traces(scheme, lanes=lanes, accumulator=accumulator, channels=channels, images=images,
                           seed=seed):
        results[tr.layer] = verify(tr.spec, Path(build_dir) / scheme / safe_name(tr.layer), stimulus=tr.stimulus)
        if log:
            log(tr.layer, tr.spec, results[tr.layer])
    return results
