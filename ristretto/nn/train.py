"""A plain, seeded training loop (SGD with momentum, cross entropy)."""

import torch
from torch import nn

from .evaluate import class_scores, select_output

__all__ = ["fit"]


def fit(model, x, y, *, epochs, lr, batch_size=64, seed=0, momentum=0.9, weight_decay=5e-4, device="cpu",
        on_epoch=None, output_index=None):
    """Train ``model`` in place on tensors ``x``, ``y``; returns the model.

    The shuffling and initial state follow ``seed``; ``on_epoch(epoch, loss)`` is
    called after each epoch; ``output_index`` picks the output trained on (as ``--output``).
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            loss = loss_fn(class_scores(select_output(model(x[idx].to(device)), output_index)), y[idx].to(device))
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        if on_epoch:
            on_epoch(epoch, total / len(x))
    return model.eval()
