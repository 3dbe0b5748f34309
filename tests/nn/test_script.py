"""TorchScript models: replayed op by op, quantized like any model."""

import warnings

import pytest
import torch
from nets import real_net as _net
from torch import nn

from ristretto.cli import main
from ristretto.nn.models import ModelError, load_model
from ristretto.nn.script import ScriptGraph


def _save(module, path, *example):
    """Write a TorchScript file as a user would (torch 2.13 deprecates torch.jit; that is the user's side)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(module, example) if example else torch.jit.script(module), path)


def test_traced_lenet_is_replayed_exactly(lenet, tmp_path):
    path = tmp_path / "lenet.pt"
    _save(lenet, path, torch.randn(1, 1, 28, 28))
    g = load_model(str(path))
    assert isinstance(g, ScriptGraph) and [n for n, _ in g.named_children()] == ["conv1", "conv2", "fc1", "fc2"]
    x = torch.randn(9, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(g(x), lenet(x))


def test_residual_concat_deconv_and_batchnorm(tmp_path):
    net = _net()
    path = tmp_path / "net.pt"
    _save(net, path, torch.randn(1, 3, 16, 16))
    g = load_model(str(path))
    assert [n for n, _ in g.named_children()] == ["stem", "block_conv", "branch_a", "branch_b", "up", "fc"]
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(g(x), net(x), atol=1e-5)


def test_quantize_cli_on_a_torchscript_file(lenet, tmp_path, capsys):
    path = tmp_path / "lenet.pt"
    _save(lenet, path, torch.randn(1, 1, 28, 28))
    assert main(["quantize", "--model", str(path), "--format", "dfp", "--mode", "exact",
                 "--out", str(tmp_path / "out")]) == 0
    assert "fc2" in capsys.readouterr().out


class _Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return -self.fc(x)


def test_control_flow_is_refused_in_one_line(tmp_path):
    path = tmp_path / "branchy.pt"
    _save(_Branchy(), path)
    with pytest.raises(ModelError, match=r"TorchScript node prim::If is not supported \(only straight-line graphs"):
        load_model(str(path))


class _Norms(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)  # not after a conv: freezing cannot fold it
        self.ln = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = self.bn(torch.relu(self.conv(x)) * 2)
        return self.fc(self.ln(x.mean((2, 3))))


def test_constant_weight_ops_of_a_graph_are_listed_as_unquantized(tmp_path):
    from ristretto.nn.convert import unquantized, wrap_model

    _save(_Norms().eval(), tmp_path / "n.pt", torch.zeros(1, 1, 8, 8))
    floats = unquantized(wrap_model(load_model(str(tmp_path / "n.pt"))))
    assert [(f["type"], f["parameters"]) for f in floats] == [("aten::batch_norm", 16), ("aten::layer_norm", 8)]
