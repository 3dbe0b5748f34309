"""A small network with the structures real CNNs use: residual, concat, BatchNorm, deconvolution."""

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)) + x)  # residual


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = Block()
        self.branch_a = nn.Conv2d(8, 4, 1)
        self.branch_b = nn.Conv2d(8, 4, 3, padding=1)
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8 * 8 * 8, 5)

    def forward(self, x):
        x = self.block(torch.relu_(self.stem(x)))
        x = torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)  # GoogLeNet-style concat
        x = nn.functional.max_pool2d(self.up(x), 4)
        return self.fc(self.drop(x).view(x.shape[0], -1))


def real_net():
    torch.manual_seed(0)
    net = Net()
    net.block.bn.running_mean.uniform_(-0.5, 0.5)
    net.block.bn.running_var.uniform_(0.5, 2)
    return net.eval()


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c, c // 2)
        self.fc2 = nn.Linear(c // 2, c)

    def forward(self, x):
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * s[:, :, None, None]


class MobileRes(nn.Module):
    """Unseen-style CNN: BN, depthwise conv with 'same' padding, residual, SE block, concat, global pooling."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding="same", groups=16)
        self.bn1 = nn.BatchNorm2d(16)
        self.pw = nn.Conv2d(16, 16, 1)
        self.se = SqueezeExcite(16)
        self.b1 = nn.Conv2d(16, 8, 1)
        self.b2 = nn.Conv2d(16, 8, 3, padding=1)
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn0(self.stem(x))), 2)
        x = x + self.pw(torch.relu(self.bn1(self.dw(x))))
        x = torch.cat([self.b1(self.se(x)), self.b2(x)], 1)
        return self.head(x.mean((2, 3)))


class Signal1d(nn.Module):
    """Unseen-style 1-D signal net: Conv1d, BatchNorm1d, grouped strided Conv1d."""

    def __init__(self, classes=4):
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, 5, padding=2)
        self.bn = nn.BatchNorm1d(8)
        self.c2 = nn.Conv1d(8, 8, 3, stride=2, groups=2)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        x = torch.relu(self.c2(torch.relu(self.bn(self.c1(x)))))
        return self.fc(x.mean(2))


def sine_classes(n, seed, length=64):
    """``n`` noisy sines of 4 frequencies (the class), as [n, 1, length] float32 and labels."""
    import numpy as np

    g = np.random.default_rng(seed)
    y = g.integers(0, 4, n)
    t = np.arange(length)
    x = np.sin(2 * np.pi * (y[:, None] + 1) * t / 32 + g.uniform(0, 6, (n, 1))) + 0.3 * g.standard_normal((n, length))
    return torch.from_numpy(x[:, None].astype(np.float32)), torch.from_numpy(y)
