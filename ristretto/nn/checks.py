"""The model and the data together: does the model take these inputs, and do the labels fit its outputs?"""

import logging
import warnings
from dataclasses import replace

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ..errors import InputError
from .evaluate import class_scores, select_output

__all__ = ["chance_warning", "check_memory", "check_model_data", "degenerate_weights"]


def _first_layer(net):
    for m in net.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            return m
    return None


def _expects(net):
    m = _first_layer(net)
    if isinstance(m, nn.Conv2d):
        return f"its first layer, a Conv2d of {m.in_channels} input channels, takes [N, {m.in_channels}, H, W]"
    if isinstance(m, nn.Conv1d):
        return f"its first layer, a Conv1d of {m.in_channels} input channels, takes [N, {m.in_channels}, L]"
    if isinstance(m, nn.Linear):
        return f"its first layer is a Linear with {m.in_features} inputs (after flattening)"
    return "see its first layer"


def _adapt_layout(net, data):
    """Grey-image loaders add a channel axis; a Conv1d model wants [N, C, L]: undo it for such a model."""
    if isinstance(_first_layer(net), nn.Conv1d) and data.x_val.ndim == 4 and data.x_val.shape[1] == 1:
        return replace(data, x_train=data.x_train[:, 0], x_val=data.x_val[:, 0]), \
            f"inputs read as [N, C, L] = {list(data.x_val.shape[:1]) + list(data.x_val.shape[2:])} for the Conv1d model"
    return data, None


def _available_bytes():
    """Memory this process may still take: ``MemAvailable`` (Linux), else the physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class _Largest(TorchDispatchMode):
    """Records the operation whose tensors (operands and results, parameters aside) take the most bytes."""

    def __init__(self):
        super().__init__()
        self.bytes, self.op, self.shape = 0, None, None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = [t for t in tree_leaves((args, kwargs, out)) if isinstance(t, FakeTensor)]
        n = sum(t.numel() * t.element_size() for t in tensors)
        if n > self.bytes:
            res = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
            self.bytes, self.op, self.shape = n, func._schema.name, list(res[0].shape) if res else []
        return out


def check_memory(net, x, batch):
    """Refuse a model whose forward pass on ``batch`` samples like ``x[:1]`` needs more memory than is free.

    The pass runs once on one sample as fake tensors (shapes only, nothing
    allocated), so a graph that would inflate its activations (an upsampling by
    2000) is refused before the first real pass. A model the fake pass cannot run
    (data-dependent shapes) is not checked here.

    Raises
    ------
    InputError
        Naming the largest operation, its batch shape and the memory it needs.
    """
    quiet = logging.getLogger("torch._subclasses.fake_tensor")  # it logs an ERROR for a shape it cannot run
    level = quiet.level
    quiet.setLevel(logging.CRITICAL + 1)
    # the pass must leave no fake tensor behind: modules that cache what forward computes (QuantLayer's
    # quantized weights) get a throwaway cache, and every module's attributes are restored afterwards
    saved = [(m, dict(m.__dict__)) for m in net.modules()]
    for m in net.modules():
        if "_qcache" in m.__dict__:
            m.__dict__["_qcache"] = {}
    try:
        with FakeTensorMode(allow_non_fake_inputs=True) as mode, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fx = mode.from_tensor(x[:1])
            with _Largest() as big, torch.no_grad():
                net.eval()(fx)
    except Exception:  # noqa: BLE001 - the real pass that follows reports what is wrong with the model
        return
    finally:
        quiet.setLevel(level)
        for m, d in saved:
            m.__dict__.clear()
            m.__dict__.update(d)
    need, free = big.bytes * batch, _available_bytes()
    if need > free:
        raise InputError(f"The model's forward pass needs about {need / 2**30:.1f} GiB for a batch of {batch} "
                         f"({big.op} -> {[batch, *big.shape[1:]]}), more than the {free / 2**30:.1f} GiB "
                         "free; use smaller inputs or a smaller model")


def check_model_data(net, data, *, topk=1, output_index=None, device="cpu", batch_size=500):
    """Run the model on two validation samples and check its output against the labels and options.

    Returns ``(data, notes)``: the data (a grey-image axis removed for a Conv1d
    model) and notes to log.

    Raises
    ------
    InputError
        When the model rejects the input shape (the message gives the data's
        shape, what the model expects and a layout hint), ``--output`` does not
        name an output, the scored output is not ``[batch, classes]``, ``topk``
        exceeds the classes, or labels fall outside the model's outputs.
    """
    data, note = _adapt_layout(net, data)
    notes = [note] if note else []
    check_memory(net, data.x_val, min(batch_size, max(len(data.x_train), len(data.x_val))))
    x = data.x_val[:2].to(device)
    shape = list(data.x_val.shape)
    try:
        with torch.no_grad():
            out = net.eval()(x)
    except Exception as err:  # noqa: BLE001 - a model rejects a bad shape in many ways
        hint = ""
        if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            hint = "; the data looks channels-last (NHWC): transpose it"
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"The model does not accept inputs of shape {shape} ({msg[:90]}"
                         f"{'...' if len(msg) > 90 else ''}); {_expects(net)}{hint}") from None
    scores = class_scores(select_output(out, output_index))
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2:
        got = list(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise InputError(f"The scored model output must be [batch, classes], not {got}; choose another output "
                         "with --output")
    k = scores.shape[1]
    if not 1 <= topk <= k:
        raise InputError(f"--topk must be in 1..{k} (the model has {k} outputs), not {topk}")
    for split in ("train", "val"):
        y = getattr(data, f"y_{split}")
        hi = int(y.max())
        if hi >= k:
            n = int((y >= k).sum())
            hint = " (they look 1-based: subtract 1)" if int(y.min()) == 1 and hi == k else ""
            raise InputError(f"{n} {split} labels are >= {k} (largest {hi}), but the model has {k} outputs "
                             f"(classes 0..{k - 1}){hint}; they could never be scored right")
    return data, notes


def chance_warning(top1, num_classes, topk=1):
    """A warning when float accuracy is near chance: usually a model given without its trained weights."""
    chance = min(1.0, topk / max(num_classes, 1))
    if top1 <= 1.5 * chance:
        return (f"the float model scores {top1:.1%}, about chance ({chance:.1%}): were its trained weights loaded? "
                "pass --weights FILE, or check that the data is scaled as in training")
    return None


def degenerate_weights(layers):
    """Warnings for layers whose weight format cannot hold their weights: every non-zero weight quantizes to 0
    (the range is far above them), or every weight to the format's largest magnitude (far below them)."""
    out = []
    for name, layer in layers.items():
        fmt, w = layer.formats.weight, layer.inner.weight.detach()
        if fmt is None or w.numel() == 0 or fmt.to_dict()["kind"] not in ("dfp", "minifloat", "pow2"):
            continue  # MX scales each block to its own range
        q = fmt.quantize(w)
        nz = w != 0
        if bool(nz.any()) and bool((q[nz] == 0).all()):
            out.append(f"layer {name}: every weight quantizes to 0 in {fmt.slug} (weights up to "
                       f"{float(w.abs().max()):.3g}, smallest step {fmt.min_positive:.3g}): the layer computes "
                       "nothing; give it a wider format")
        elif bool(nz.any()) and bool(((q[nz] == fmt.max_value) | (q[nz] == fmt.min_value)).all()):
            out.append(f"layer {name}: every weight saturates to the range ends {fmt.min_value:g}, {fmt.max_value:g} "
                       f"of {fmt.slug} (weights up to {float(w.abs().max()):.3g}): only their signs are left; give "
                       "it a wider range")
    return out
