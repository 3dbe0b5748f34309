"""Model conversion: copy, fold BatchNorm, wrap every Conv2d/Linear/ConvTranspose2d."""

import copy
import warnings

import torch

from .layers import QUANTIZABLE, QuantLayer

__all__ = ["fold_batchnorm", "quant_layers", "set_mode", "wrap_model"]


def fold_batchnorm(model):
    """Fold each BatchNorm2d into the Conv2d that feeds only it (eval semantics), via torch.fx.

    Returns a traced copy with the folded convolutions (same module names), or
    the model unchanged with a warning if it cannot be traced.
    """
    import torch.fx as fx
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    try:
        gm = fx.symbolic_trace(model.eval())
    except Exception as err:  # noqa: BLE001 - tracing fails in many ways on dynamic models
        warnings.warn(f"BatchNorm not folded: the model is not traceable by torch.fx ({err})", stacklevel=2)
        return model
    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        prev = node.args[0]
        if not (isinstance(prev, fx.Node) and prev.op == "call_module" and len(prev.users) == 1
                and isinstance(modules[prev.target], nn.Conv2d)):
            continue
        parent, _, attr = prev.target.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, attr,
                fuse_conv_bn_eval(modules[prev.target], modules[node.target]))
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()
    return gm


def wrap_model(model, *, fold_bn=False):
    """A deep copy of ``model`` whose quantizable layers are ``QuantLayer``s (the user's model is untouched).

    Works on any module structure: only leaf layers are swapped, so in-place
    activations, residual additions, concatenation, pooling and reshaping in
    ``forward`` keep working.
    """
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError("A TorchScript model cannot be quantized (its layers cannot be swapped); "
                        "pass the Python model with --model package.module:factory and --weights")
    net = copy.deepcopy(model).eval()
    if fold_bn:
        net = fold_batchnorm(net)
    swaps = [(name, mod) for name, mod in net.named_modules() if isinstance(mod, QUANTIZABLE)]
    if not swaps:
        raise ValueError("The model has no Conv2d, Linear or ConvTranspose2d layer to quantize")
    for name, mod in swaps:
        parent_name, _, attr = name.rpartition(".")
        parent = net.get_submodule(parent_name) if parent_name else net
        setattr(parent, attr, QuantLayer(mod))
    return net


def quant_layers(net):
    """``{name: QuantLayer}`` in definition order."""
    return {name: mod for name, mod in net.named_modules() if isinstance(mod, QuantLayer)}


def set_mode(net, mode):
    """Put every QuantLayer in ``fp32`` or ``exact`` mode."""
    if mode not in ("fp32", "exact"):
        raise ValueError(f"mode must be 'fp32' or 'exact', not {mode!r}")
    for layer in quant_layers(net).values():
        layer.mode = mode

