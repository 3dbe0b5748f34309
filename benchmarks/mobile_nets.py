"""Two mobile-class CIFAR-sized networks for the speed benchmarks, written here (torchvision does not load).

- ``mobilenet_v2``: MobileNetV2's inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1 project,
  ReLU6, residual where shapes allow), width 0.35, CIFAR stem (stride 1), 17 blocks.
- ``efficientnet``: EfficientNet-B0-like MBConv blocks with squeeze-and-excitation and SiLU, reduced depth.

Both are built from plain ``nn.Conv2d``/``nn.Linear``/``nn.BatchNorm2d`` modules, so the flow wraps every
convolution (depthwise included) and the SE block's two 1x1 convolutions.
"""

from torch import nn


def _divisible(v, d=8):
    return max(d, int(v + d / 2) // d * d)


class _ConvBN(nn.Sequential):
    def __init__(self, cin, cout, k=3, stride=1, groups=1, act=nn.ReLU6):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act is not None:
            layers.append(act(inplace=True) if act in (nn.ReLU6, nn.ReLU, nn.SiLU) else act())
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        layers = [] if expand == 1 else [_ConvBN(cin, hidden, 1)]
        layers += [_ConvBN(hidden, hidden, 3, stride, groups=hidden), _ConvBN(hidden, cout, 1, act=None)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


# (expansion t, channels c, repeats n, first stride s), MobileNetV2 Table 2; CIFAR strides
_MBV2 = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2(width=0.35, classes=10):
    c = _divisible(32 * width)
    layers = [_ConvBN(3, c, 3, 1)]
    for t, ch, n, s in _MBV2:
        out = _divisible(ch * width)
        for i in range(n):
            layers.append(InvertedResidual(c, out, s if i == 0 else 1, t))
            c = out
    last = 1280 if width > 1 else _divisible(1280 * max(width, 0.5))
    layers += [_ConvBN(c, last, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(last, classes)]
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, c, squeeze):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(c, squeeze, 1)
        self.act = nn.SiLU()
        self.expand = nn.Conv2d(squeeze, c, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class MBConv(nn.Module):
    def __init__(self, cin, cout, k, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        layers = [] if expand == 1 else [_ConvBN(cin, hidden, 1, act=nn.SiLU)]
        layers += [_ConvBN(hidden, hidden, k, stride, groups=hidden, act=nn.SiLU),
                   SqueezeExcite(hidden, max(1, cin // 4)), _ConvBN(hidden, cout, 1, act=None)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


# (expansion, channels, repeats, stride, kernel): EfficientNet-B0's stages at half width, one block fewer
_EFF = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 2, 2, 3), (6, 112, 1, 1, 5), (6, 192, 1, 2, 5)]


def efficientnet(width=0.5, classes=10):
    c = _divisible(32 * width)
    layers = [_ConvBN(3, c, 3, 1, act=nn.SiLU)]
    for t, ch, n, s, k in _EFF:
        out = _divisible(ch * width)
        for i in range(n):
            layers.append(MBConv(c, out, k, s if i == 0 else 1, t))
            c = out
    layers += [_ConvBN(c, 640, 1, act=nn.SiLU), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
               nn.Linear(640, classes)]
    return nn.Sequential(*layers)


NETS = {"mobilenet_v2": mobilenet_v2, "efficientnet": efficientnet}
