"""Model conversion: copy, fold BatchNorm, wrap every Conv1d/Conv2d/Linear/ConvTranspose2d, list what stays float."""

import copy
import warnings

import torch

from .layers import QUANTIZABLE, QuantLayer

__all__ = ["fold_batchnorm", "quant_layers", "set_mode", "unquantized", "wrap_model"]


def fold_batchnorm(model):
    """Fold each BatchNorm into the Conv1d/Conv2d/Linear that feeds only it (eval semantics), via torch.fx.

    Returns a traced copy with the folded convolutions (same module names), or
    the model unchanged with a warning if it cannot be traced.
    """
    import torch.fx as fx
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    if callable(getattr(model, "fold_batchnorm", None)):  # a replayed graph (ONNX) folds its own
        return model.fold_batchnorm()
    try:
        gm = fx.symbolic_trace(model.eval())
    except Exception as err:  # noqa: BLE001 - tracing fails in many ways on dynamic models
        warnings.warn(f"BatchNorm not folded: the model is not traceable by torch.fx ({err})", stacklevel=2)
        return model
    modules = dict(gm.named_modules())
    pairs = ((nn.BatchNorm2d, nn.Conv2d, fuse_conv_bn_eval), (nn.BatchNorm1d, nn.Conv1d, fuse_conv_bn_eval),
             (nn.BatchNorm1d, nn.Linear, fuse_linear_bn_eval))
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], (nn.BatchNorm1d, nn.BatchNorm2d)):
            continue
        prev = node.args[0]
        if not (isinstance(prev, fx.Node) and prev.op == "call_module" and len(prev.users) == 1):
            continue
        bn, layer = modules[node.target], modules[prev.target]
        fuse = next((f for b, c, f in pairs if type(bn) is b and type(layer) is c), None)
        if fuse is None or not bn.track_running_stats or (isinstance(layer, nn.Linear) and bn.num_features !=
                                                          layer.out_features):
            continue
        parent, _, attr = prev.target.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, attr, fuse(layer, bn))
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
        raise ValueError("The model has no Conv1d, Conv2d, Linear or ConvTranspose2d layer to quantize")
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



def unquantized(net):
    """Layers and ops that stay in float: every module outside a QuantLayer that holds parameters or buffers.

    Returns ``[{"name", "type", "parameters"}]`` in definition order: e.g. an LSTM,
    a Conv3d, a BatchNorm that was not folded, or a custom module whose weights
    ``forward`` uses through ``F.conv2d``. Such parts compute in float32 in every
    mode, so the network is not what the hardware would compute.
    """
    inner = {id(m) for layer in quant_layers(net).values() for m in layer.modules()}
    out = []
    for name, mod in net.named_modules():
        if id(mod) in inner:
            continue
        tensors = [t for _, t in mod.named_parameters(recurse=False)]
        tensors += [t for n, t in mod.named_buffers(recurse=False) if t.is_floating_point()]
        if tensors:
            out.append({"name": name or "(model)", "type": type(mod).__name__,
                        "parameters": sum(t.numel() for t in tensors)})
        if callable(getattr(mod, "float_ops", None)):  # a replayed TorchScript graph's own constant-weight ops
            out.extend(mod.float_ops())
    return out
