"""Wrapping real architectures: residual, concat, in-place ReLU, BatchNorm folding, deconvolution."""

import pytest
import torch
from nets import real_net as _net
from torch import nn

from ristretto.formats import DynamicFixedPoint
from ristretto.nn.convert import quant_layers, wrap_model
from ristretto.nn.layers import LayerFormats, QuantLayer
from ristretto.nn.ranges import calibrate
from ristretto.nn.schemes import Widths, apply_formats, assign_formats


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
    with pytest.raises(TypeError, match=r"^QuantLayer wraps Conv1d, Conv2d, Linear or ConvTranspose2d, not ReLU$"):
        QuantLayer(nn.ReLU())
    with pytest.raises(ValueError,
                       match=r"^The model has no Conv1d, Conv2d, Linear or ConvTranspose2d layer to quantize$"):
        wrap_model(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match=r"^Configuration names layers the model does not have: \['nope'\]"):
        apply_formats(wrap_model(_net()), {"nope": LayerFormats()})
