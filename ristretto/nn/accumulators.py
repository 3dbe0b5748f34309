"""Accumulators sized for the model: per layer, the width that can never overflow and the width the data needs.

``bound`` comes from the formats and the fan-in alone (``datapath.int_accumulator_bound``).
``observed`` comes from the calibration data: whatever the order of the sum, every
partial sum of a dot product lies between the bias plus all its negative products
and the bias plus all its positive products, so the larger magnitude of the two,
over every output of every calibration sample, bounds what the data needs; a
guard of extra bits is added. Layers whose unit sums in fixed point: the integer
families (fixed point, power-of-two weights) and minifloats with the exact
accumulator; minifloats summed by float32 adders have no width to size.
"""

import torch

from ..datapath import ACC_LIMIT, accumulator_bound, is_fixed_sum, signed_width
from ..errors import InputError
from .convert import quant_layers
from .exact import _operand_ints, _sums, fan_in, sum_bound, unit_of

__all__ = ["POLICIES", "accumulator_report", "check_policy", "observed_maxabs", "size_accumulators"]

POLICIES = ("bound", "observed")


def check_policy(policy):
    """``bound``, ``observed`` or an integer width in 2..53 (as ``--acc-bits`` takes it)."""
    if policy in POLICIES:
        return policy
    try:
        bits = int(policy)
    except (TypeError, ValueError):
        bits = None
    if isinstance(policy, bool) or bits is None or str(bits) != str(policy).strip() or not 2 <= bits <= ACC_LIMIT:
        raise InputError(f"--acc-bits must be bound, observed or an integer in 2..{ACC_LIMIT}, not {policy!r}")
    return bits


def _fixed_unit(layer):
    """The layer's unit at the widest accumulator if it sums in fixed point, else None."""
    try:
        cfg = unit_of(layer, acc_bits=ACC_LIMIT)
    except ValueError:
        return None
    return cfg if cfg is not None and is_fixed_sum(cfg) else None


def _bound(layer):
    f = layer.formats
    bias = f.bias if layer.inner.bias is not None else None
    return min(ACC_LIMIT, signed_width(accumulator_bound(f.input, f.weight, bias, fan_in(layer))))


def observed_maxabs(net, batches):
    """``{layer: largest |partial sum| in accumulator LSBs}`` over ``batches`` (fixed-point-summing layers).

    The network runs in exact mode (each layer's input as the hardware computes
    it), with accumulators that cannot overflow; a network that cannot run in
    exact mode is observed in fp32 mode.
    """
    layers = {n: layer for n, layer in quant_layers(net).items() if _fixed_unit(layer) is not None}
    seen = dict.fromkeys(layers, 0)

    def hook(name):
        def record(mod, inp, out):
            # positive products sum to (s + t) / 2 and negative ones to (s - t) / 2, where s is the dot product
            # and t the dot product of the magnitudes: two of the layer's own convolutions, exact as exact mode's
            a_int, w_int, b = _operand_ints(mod, inp[0], _fixed_unit(mod))
            dtype = sum_bound(a_int, w_int, b)[1]
            s = _sums(mod, a_int, w_int, dtype)[0].double()
            t = _sums(mod, a_int.abs(), w_int.abs(), dtype)[0].double()
            b = b.double()[None, :, None]
            top = max(float((b + (s + t) / 2).abs().amax()), float((b + (s - t) / 2).abs().amax()),
                      float(b.abs().amax()))
            seen[name] = max(seen[name], int(round(top)))
        return record

    every = quant_layers(net)
    saved = {n: (layer.mode, layer.acc_bits, layer.overflow, layer.overflows) for n, layer in every.items()}
    hooks = [layer.register_forward_hook(hook(n)) for n, layer in layers.items()]
    try:
        with torch.no_grad():
            for layer in layers.values():  # wide enough never to overflow: exact inputs for the next layer
                layer.acc_bits = "bound"
            for mode in ("exact", "fp32"):
                for layer in every.values():
                    layer.mode = mode
                try:
                    for x in batches:
                        net(x)
                    break
                except (ValueError, NotImplementedError):  # a layer exact mode cannot compute
                    seen.update(dict.fromkeys(layers, 0))
    finally:
        for h in hooks:
            h.remove()
        for n, layer in every.items():
            layer.mode, layer.acc_bits, layer.overflow, layer.overflows = saved[n]
    return seen


def size_accumulators(net, batches, policy="bound", *, guard=1, overflow="wrap", observe=True):
    """Set each fixed-point-summing layer's accumulator (``acc_bits``, ``overflow``); return the sizing per layer.

    ``policy``: ``bound`` (never overflows), ``observed`` (the calibration data's
    need plus ``guard`` bits) or an integer width for every layer. A width is
    never below one product's (the MAC could not hold it) nor above 53.

    ``observe=False`` skips the data pass (``observed`` is then None) unless the policy needs it.

    Returns ``{layer: {"bits", "bound", "observed", "overflow"}}`` (fixed-point-summing layers only).
    """
    policy = check_policy(policy)
    layers = {n: layer for n, layer in quant_layers(net).items() if _fixed_unit(layer) is not None}
    observed = observed_maxabs(net, batches) if layers and (observe or policy == "observed") else None
    out = {}
    for name, layer in layers.items():
        f = layer.formats
        product = _fixed_unit(layer).product_bits
        bound = _bound(layer)
        seen = None if observed is None else min(ACC_LIMIT, max(product, signed_width(observed[name]) + guard))
        bits = {"bound": bound, "observed": seen}.get(policy, policy)
        if bits < product:
            raise InputError(f"--acc-bits {bits} is narrower than one product of layer {name} ({f.input.slug} x "
                             f"{f.weight.slug}: {product} bits); use at least {product}, bound or observed")
        layer.acc_bits, layer.overflow = bits, overflow
        out[name] = {"bits": bits, "bound": bound, "observed": seen, "overflow": overflow}
    return out


def accumulator_report(net, sizing):
    """The sizing with each layer's ``overflows`` (outputs whose exact sum did not fit, counted in exact mode)."""
    layers = quant_layers(net)
    return {n: {**s, "overflows": int(layers[n].overflows)} for n, s in sizing.items()}
