"""The model and the data together: does the model take these inputs, and do the labels fit its outputs?"""

from dataclasses import replace

import torch
from torch import nn

from ..errors import InputError
from .evaluate import class_scores, select_output

__all__ = ["check_model_data", "chance_warning"]


def _first_layer(net):
    for m in net.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            return m
    return None


def _expects(net):
    m = _first_layer(net)
    if isinstance(m, nn.Conv2d):
        return f"its first layer is a Conv2d with {m.in_channels} input channels: inputs [N, {m.in_channels}, H, W]"
    if isinstance(m, nn.Conv1d):
        return f"its first layer is a Conv1d with {m.in_channels} input channels: inputs [N, {m.in_channels}, L]"
    if isinstance(m, nn.Linear):
        return f"its first layer is a Linear with {m.in_features} inputs (after flattening)"
    return "see its first layer"


def _adapt_layout(net, data):
    """Grey-image loaders add a channel axis; a Conv1d model wants [N, C, L]: undo it for such a model."""
    if isinstance(_first_layer(net), nn.Conv1d) and data.x_val.ndim == 4 and data.x_val.shape[1] == 1:
        return replace(data, x_train=data.x_train[:, 0], x_val=data.x_val[:, 0]), \
            f"inputs read as [N, C, L] = {list(data.x_val.shape[:1]) + list(data.x_val.shape[2:])} for the Conv1d model"
    return data, None


def check_model_data(net, data, *, topk=1, output_index=None, device="cpu"):
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
    x = data.x_val[:2].to(device)
    shape = list(data.x_val.shape)
    try:
        with torch.no_grad():
            out = net.eval()(x)
    except Exception as err:  # noqa: BLE001 - a model rejects a bad shape in many ways
        hint = ""
        if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            hint = "; the data looks channels-last (NHWC): transpose it to [N, C, H, W]"
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"The model does not accept the data's inputs of shape {shape} ({type(err).__name__}: "
                         f"{msg[:200]}); {_expects(net)}{hint}") from None
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
