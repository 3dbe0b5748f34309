"""Scoring: top-k accuracy of a model on a labelled set."""

import torch

__all__ = ["accuracy"]


def _select(out, output_index):
    if isinstance(out, (tuple, list)):
        return out[output_index or 0]
    if isinstance(out, dict):
        if output_index is None:
            raise ValueError(f"The model returns a dict with keys {sorted(out)}; choose one with --output")
        return out[output_index]
    return out


def accuracy(net, x, y, *, topk=1, batch_size=500, output_index=None, device="cpu"):
    """Fraction in [0, 1] of samples whose label is among the ``topk`` highest scores."""
    correct = 0
    net.eval()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            scores = _select(net(x[i:i + batch_size].to(device)), output_index)
            if scores.ndim != 2:
                raise ValueError(f"The scored output must be [batch, classes], not {list(scores.shape)}; "
                                 "choose another output with --output")
            top = scores.topk(min(topk, scores.shape[1]), dim=1).indices.cpu()
            correct += int((top == y[i:i + batch_size, None]).any(dim=1).sum())
    return correct / len(x)
