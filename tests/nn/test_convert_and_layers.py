"""Wrapping real architectures: residual, concat, in-place ReLU, BatchNorm folding, deconvolution."""

import pytest
import torch
from torch import nn

from ristretto.formats import DynamicFixedPoint
from ristretto.nn.convert import quant_layers, wrap_model
from ristretto.nn.layers import LayerFormats, QuantLayer
from ristretto.nn.ranges import calibrate
from ristretto.nn.schemes import Widths, apply_formats, assign_formats


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


def _net():
    torch.manual_seed(0)
    net = Net()
    net.block.bn.running_mean.uniform_(-0.5, 0.5)
    net.block.bn.running_var.uniform_(0.5, 2)
    return net.eval()


def test_wrapping_copies_and_keeps_the_function():
    net, x = _net(), torch.randn(2, 3, 16, 16)
    q = wrap_model(net)
    assert isinstance(net.stem, nn.Conv2d)  # the user's model is untouched
    assert sorted(quant_layers(q)) == ["block.conv", "branch_a", "branch_b", "fc", "stem", "up"]
    with torch.no_grad():
        assert torch.allclose(q(x), net(x), atol=1e-6)


def test_batchnorm_folding():
    net, x = _net(), torch.randn(2, 3, 16, 16)
    q = wrap_model(net, fold_bn=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in q.modules())
    with torch.no_grad():
        assert torch.allclose(q(x), net(x), atol=1e-5)


def test_quantized_forward_on_the_real_architecture():
    net, x = _net(), torch.randn(8, 3, 16, 16)
    q = wrap_model(net, fold_bn=True)
    stats = calibrate(q, [x])
    apply_formats(q, assign_formats(q, stats, "dfp", Widths(8, 8, 8)))
    with torch.no_grad():
        y, ref = q(x), net(x)
    assert ((y - ref).abs().max() / ref.abs().max()) < 0.1
    layer = quant_layers(q)["up"]
    assert layer.formats.weight is not None and "weight=dfp8" in layer.extra_repr()


def test_straight_through_gradient():
    layer = QuantLayer(nn.Linear(4, 2))
    layer.formats = LayerFormats(None, DynamicFixedPoint(4, 2), None, None)
    layer(torch.ones(1, 4)).sum().backward()
    assert torch.equal(layer.inner.weight.grad, torch.ones(2, 4))


def test_errors():
    with pytest.raises(TypeError, match=r"^QuantLayer wraps Conv2d, Linear or ConvTranspose2d, not ReLU$"):
        QuantLayer(nn.ReLU())
    with pytest.raises(ValueError, match=r"^The model has no Conv2d, Linear or ConvTranspose2d layer to quantize$"):
        wrap_model(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match=r"^Configuration names layers the model does not have: \['nope'\]"):
        apply_formats(wrap_model(_net()), {"nope": LayerFormats()})
