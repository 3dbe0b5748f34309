"""TorchScript models: replayed op by op, quantized like any model."""

import warnings

import numpy as np
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
        warnings.simplefilter("ignore")  # DeprecationWarning, and TracerWarnings of torch's own layers
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


# -- hostile graphs: nothing a TorchScript file holds may touch a file ---------------------------------------------
class _MapsAFile(nn.Module):
    """Maps ``victim`` into a tensor and overwrites it in place (the attack an allow-list must stop)."""

    def __init__(self, victim):
        super().__init__()
        self.victim = victim
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        t = torch.from_file(self.victim, shared=True, size=8, dtype=torch.uint8)
        u = t.copy_(torch.full([8], 65, dtype=torch.uint8))
        return self.fc(x.flatten(1)) + 0 * u.sum()


class _SetsState(nn.Module):
    """Its ``__setstate__`` rewrites ``victim`` while ``torch.jit.load`` reads the file."""

    def __init__(self, victim):
        super().__init__()
        self.w = torch.ones(4, 2)
        self.victim = victim

    def forward(self, x):
        return x.flatten(1) @ self.w

    @torch.jit.export
    def __getstate__(self):
        return (self.w, self.victim, self.training)

    @torch.jit.export
    def __setstate__(self, st: tuple[torch.Tensor, str, bool]):
        t = torch.from_file(st[1], shared=True, size=8, dtype=torch.uint8)
        u = t.copy_(torch.full([8], 66, dtype=torch.uint8))
        self.w = st[0] + 0 * u.sum()
        self.victim = st[1]
        self.training = st[2]


class _Empty(nn.Module):
    def forward(self, x):
        return x + torch.empty(1)  # uninitialized memory: not a pure operation


class _Benign(_MapsAFile):
    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.mark.parametrize("command", [["quantize", "--format", "dfp"], ["quantize", "--format", "dfp", "--mode",
                                     "exact"], ["export", "--to", "qdq", "--samples", "0", "--config", "CFG"]])
def test_a_graph_that_maps_a_file_is_refused_and_the_file_is_untouched(tmp_path, command):
    victim = tmp_path / "victim.py"
    victim.write_text("print('original')\n")
    _save(_MapsAFile(str(victim)), tmp_path / "evil.pt")
    if "CFG" in command:  # the config of the same layers from a harmless graph, so export reaches the model
        _save(_Benign(str(victim)), tmp_path / "benign.pt")
        x, y = np.random.default_rng(0).random((20, 1, 2, 2), np.float32), np.arange(20) % 2
        np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_val=x, y_val=y)
        assert main(["quantize", "--model", str(tmp_path / "benign.pt"), "--data", str(tmp_path / "d.npz"),
                     "--out", str(tmp_path / "q")]) == 0
        command = [str(tmp_path / "q" / "config.json") if a == "CFG" else a for a in command]
    out = tmp_path / ("out.onnx" if command[0] == "export" else "out")
    with pytest.raises(SystemExit) as exc:
        main([*command, "--model", str(tmp_path / "evil.pt"), "--out", str(out)])
    err = str(exc.value.code)
    assert victim.read_text() == "print('original')\n" and not (out.is_file() or out.is_dir() and any(out.iterdir()))
    assert "aten::from_file (node %" in err and "not a pure tensor operation" in err and "\n" not in err


def test_code_that_runs_while_loading_is_refused_unread(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("original\n")
    _save(_SetsState(str(victim)), tmp_path / "evil.pt")
    victim.write_text("original\n")  # saving ran nothing, but make sure the check below sees the original
    with pytest.raises(ModelError, match=r"defines __setstate__ in .*: TorchScript runs it while loading the file"):
        load_model(str(tmp_path / "evil.pt"))
    assert victim.read_text() == "original\n"


def test_an_impure_op_is_named_and_a_suffix_is_case_blind(tmp_path):
    _save(_Empty(), tmp_path / "e.PT")
    with pytest.raises(ModelError, match=r"^TorchScript operation aten::empty \(node %\S+\) is not a pure tensor "):
        load_model(str(tmp_path / "e.PT"))


_ZOO = [nn.ReLU(), nn.ReLU6(), nn.Hardswish(), nn.Hardsigmoid(), nn.SiLU(), nn.Sigmoid(), nn.Tanh(), nn.GELU(),
        nn.GELU("tanh"), nn.LeakyReLU(), nn.ELU(), nn.PReLU(), nn.Mish(), nn.Softplus(), nn.Softmax(1),
        nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.AdaptiveMaxPool2d(2), nn.GroupNorm(2, 4),
        nn.InstanceNorm2d(4), nn.LayerNorm([4, 8, 8]), nn.Dropout2d(), nn.Flatten(), nn.Upsample(scale_factor=2),
        nn.Upsample(scale_factor=2, mode="bilinear"), nn.PixelShuffle(2), nn.ZeroPad2d(1), nn.ReflectionPad2d(1),
        nn.ChannelShuffle(2), nn.Conv2d(4, 4, 3, groups=4)]


@pytest.mark.parametrize("layer", _ZOO, ids=lambda m: type(m).__name__)
def test_the_layers_of_common_cnns_are_replayed(tmp_path, layer):
    x = torch.randn(2, 4, 8, 8)
    _save(layer.eval(), tmp_path / "m.pt", x)
    with torch.no_grad():
        assert torch.allclose(load_model(str(tmp_path / "m.pt"))(x), layer(x), atol=1e-6)


class _TrainMode(nn.Module):
    def __init__(self, track=True):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4, track_running_stats=track)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.drop(torch.relu(self.bn(self.conv(x) * 2)).mean((2, 3))))


def test_a_graph_traced_in_training_mode_replays_in_inference_semantics(tmp_path):
    net = _TrainMode()
    net.bn = nn.Identity()
    _save(net.train(), tmp_path / "t.pt", torch.randn(4, 1, 8, 8))  # traced in training mode: dropout recorded
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        g = load_model(str(tmp_path / "t.pt"))
        assert torch.equal(g(x), g(x)) and torch.allclose(g(x), net.eval()(x), atol=1e-6)  # no dropout
    bn = _TrainMode()
    _save(bn.train(), tmp_path / "bn.pt", torch.randn(4, 1, 8, 8))  # its BatchNorm updates running statistics
    with pytest.raises(ModelError, match=r"updates module state as it runs \(a BatchNorm traced in training mode"):
        load_model(str(tmp_path / "bn.pt"))


def test_batchnorm_without_running_statistics_is_refused(tmp_path):
    _save(_TrainMode(track=False).eval(), tmp_path / "t.pt", torch.randn(4, 1, 8, 8))
    with pytest.raises(ModelError, match=r"aten::batch_norm \(node %\S+\) has no running statistics"):
        load_model(str(tmp_path / "t.pt"))


class _Impure(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.op = op
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.fc(x.flatten(1))
        if self.op == 0:
            return y + torch.empty_like(y)  # uninitialized memory
        if self.op == 1:
            return y + torch.randn(2)  # the random generator
        if self.op == 2:
            return y + torch.rand_like(y)
        if self.op == 3:
            return y + torch.zeros(2).normal_()
        return y + torch.full([2], 1.0).bernoulli_()


@pytest.mark.parametrize(("op", "name"), [(0, "empty_like"), (1, "randn"), (2, "rand_like"), (3, "normal_"),
                                          (4, "bernoulli_")])
def test_impure_ops_are_refused_by_name(tmp_path, op, name):
    _save(_Impure(op), tmp_path / "m.pt", torch.zeros(1, 4))  # traced: only the op taken is recorded
    with pytest.raises(ModelError, match=rf"^TorchScript operation aten::{name} \(node %\S+\) is not a pure tensor"):
        load_model(str(tmp_path / "m.pt"))
