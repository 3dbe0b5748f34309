"""Fine-tuning with full-precision shadow weights and straight-through quantized forward passes."""

import torch

from .convert import quant_layers
from .train import fit

__all__ = ["finetune"]


def finetune(net, x, y, *, epochs, lr=0.005, seed=0, quantize_activations=False, rounding="nearest_even",
             batch_size=64, device="cpu", on_epoch=None, output_index=None):
    """Train ``net`` (with QuantLayers) in place; the layers keep float shadow weights.

    Forward and backward use quantized weights (straight-through gradients);
    activations are quantized too when ``quantize_activations`` (the original
    could not). ``rounding="stochastic"`` draws from a generator seeded with
    ``seed``. Afterwards every layer scores with nearest rounding and quantized
    activations again.
    """
    layers = quant_layers(net).values()
    gen = torch.Generator().manual_seed(seed) if rounding == "stochastic" else None
    for layer in layers:
        layer.quantize_activations, layer.rounding, layer.generator = quantize_activations, rounding, gen
    try:
        fit(net, x, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device, on_epoch=on_epoch,
            output_index=output_index)
    finally:
        for layer in layers:
            layer.quantize_activations, layer.rounding, layer.generator = True, "nearest_even", None
    return net.eval()
