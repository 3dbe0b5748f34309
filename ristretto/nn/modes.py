"""fp32 mode against exact mode, layer by layer."""

import torch

from .convert import quant_layers
from .exact import exact_forward

__all__ = ["compare_modes"]


def compare_modes(net, x):
    """Per layer, the fraction of outputs where ``fp32`` mode and ``exact`` mode disagree.

    Both modes see the same layer input (the fp32 network's), so each layer is
    judged on its own. Disagreement comes from float32 rounding of large sums
    (above 2**24) or from accumulator overflow that fp32 mode does not model.
    """
    report, inputs = {}, {}
    layers = quant_layers(net)
    # clones: a later in-place operation (ReLU(inplace=True)) must not change what was seen
    def keep(name):
        return lambda mod, inp, out: inputs.__setitem__(name, (inp[0].clone(), out.clone()))

    hooks = [layer.register_forward_hook(keep(n)) for n, layer in layers.items()]
    try:
        with torch.no_grad():
            for layer in layers.values():
                layer.mode = "fp32"
            net(x)
            for name, layer in layers.items():
                inp, out = inputs[name]
                ex = exact_forward(layer, inp)
                report[name] = float((ex != out).double().mean())
    finally:
        for h in hooks:
            h.remove()
    return report

