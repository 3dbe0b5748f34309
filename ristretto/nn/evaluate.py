"""Scoring: top-k accuracy of a model on a labelled set."""

import torch

from ..errors import InputError

__all__ = ["accuracy", "class_scores", "select_output"]


def select_output(out, output_index):
    """The output to score: an element of a tuple/list or a dict entry (``--output``), or the tensor itself.

    Raises
    ------
    InputError
        When ``output_index`` names no output of the model.
    """
    if isinstance(out, (tuple, list)):
        i = 0 if output_index is None else output_index
        if isinstance(i, bool) or not isinstance(i, int) or not -len(out) <= i < len(out):
            raise InputError(f"--output must be an index in 0..{len(out) - 1} (the model returns {len(out)} "
                             f"outputs), not {output_index!r}")
        return out[i]
    if isinstance(out, dict):
        if output_index is None:
            raise InputError(f"The model returns a dict with keys {sorted(map(str, out))}; choose one with --output")
        key = output_index if output_index in out else str(output_index)
        if key not in out:
            raise InputError(f"--output {output_index!r} is not a key of the model's output dict "
                             f"{sorted(map(str, out))}")
        return out[key]
    if output_index not in (None, 0):
        raise InputError(f"--output {output_index!r} given, but the model returns a single tensor; drop --output")
    return out


def class_scores(out):
    """``[batch, classes]`` scores: a fully convolutional head's ``[batch, classes, 1, 1]`` is flattened."""
    if isinstance(out, torch.Tensor) and out.ndim > 2 and all(d == 1 for d in out.shape[2:]):
        return out.reshape(out.shape[0], out.shape[1])
    return out


def accuracy(net, x, y, *, topk=1, batch_size=500, output_index=None, device="cpu", finite=False):
    """Fraction in [0, 1] of samples whose label is among the ``topk`` highest scores.

    ``finite=True`` (the float model) refuses outputs that are NaN or inf: scoring them would rank garbage.

    Raises
    ------
    InputError
        For an output that is not ``[batch, classes]``, or with ``finite`` a NaN or inf score (naming the first
        sample and class).
    """
    correct = 0
    net.eval()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            scores = class_scores(select_output(net(x[i:i + batch_size].to(device)), output_index))
            if scores.ndim != 2:
                raise InputError(f"The scored output must be [batch, classes], not {list(scores.shape)}; "
                                 "choose another output with --output")
            if finite and not bool(torch.isfinite(scores).all()):
                n, c = (int(v) for v in torch.nonzero(~torch.isfinite(scores))[0])
                raise InputError(f"The float model's output is {float(scores[n, c])} for validation sample {i + n} "
                                 f"(class {c}) and {int((~torch.isfinite(scores)).sum())} scores in its batch; "
                                 "its weights or its inputs' scaling are broken, so no accuracy can be scored")
            top = scores.topk(min(topk, scores.shape[1]), dim=1).indices.cpu()
            correct += int((top == y[i:i + batch_size, None]).any(dim=1).sum())
    return correct / len(x)
