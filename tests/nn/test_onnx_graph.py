"""ONNX models in: exported by torch, replayed node by node, equal to onnxruntime, through the flow."""

import warnings

import numpy as np
import pytest
import torch
from nets import MobileRes, Signal1d, real_net

from ristretto.cli import main
from ristretto.nn.convert import unquantized, wrap_model
from ristretto.nn.models import LeNet, ModelError, load_model
from ristretto.nn.onnx_graph import OnnxGraph

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def export(model, x, path, dynamo):
    """Export as a user would: the legacy exporter with a dynamic batch, or torch.export's (opset 18)."""
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own deprecation notes about the exporters
        if dynamo:
            torch.onnx.export(model, (x,), path, dynamo=True)
        else:
            torch.onnx.export(model, (x,), path, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}})
    return path


MODELS = {"lenet": (LeNet, (1, 28, 28)), "mobile": (MobileRes, (1, 14, 14)), "signal": (Signal1d, (1, 64)),
          "residual-concat-deconv": (real_net, (3, 16, 16))}


@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
@pytest.mark.parametrize("name", list(MODELS))
def test_replay_equals_onnxruntime(tmp_path, name, dynamo):
    torch.manual_seed(0)
    factory, shape = MODELS[name]
    model = factory().eval()
    x = torch.randn(5, *shape)
    path = export(model, x[:2], tmp_path / f"{name}.onnx", dynamo)
    g = load_model(str(path))
    assert isinstance(g, OnnxGraph)
    sess = ort.InferenceSession(str(path))
    want = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0] if not dynamo else None
    with torch.no_grad():
        got = g(x if not dynamo else x[:2])
        ref = model(x if not dynamo else x[:2])
    if dynamo:  # torch.export fixes the batch size of the example
        want = sess.run(None, {sess.get_inputs()[0].name: x[:2].numpy()})[0]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)
    layers = [type(m).__name__ for m in g.children()]
    assert layers.count("Linear") >= 1 and any(t.startswith("Conv") for t in layers)
    assert unquantized(wrap_model(g, fold_bn=True)) == []  # every weight is in a quantizable layer


def _graph(nodes, inits, inp=("x", [1, 4]), out=("y", [1, 4])):
    from onnx import TensorProto, helper

    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(inp[0], TensorProto.FLOAT, inp[1])],
                          [helper.make_tensor_value_info(out[0], TensorProto.FLOAT, out[1])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_unsupported_op_is_named_with_its_node(tmp_path):
    from onnx import helper

    onnx.save(_graph([helper.make_node("Hardmax", ["x"], ["y"], name="my_hardmax")], []), tmp_path / "hm.onnx")
    with pytest.raises(ModelError, match=r"^'.*hm.onnx': ONNX operation Hardmax \(node 'my_hardmax' \(Hardmax\)\) "
                                         r"is not supported; supported: Conv, "):
        load_model(str(tmp_path / "hm.onnx"))


def test_matmul_with_bias_add_becomes_one_linear(tmp_path):
    from onnx import helper, numpy_helper

    w, b = np.arange(12, dtype=np.float32).reshape(4, 3) / 10, np.array([1, 2, 3], np.float32)
    nodes = [helper.make_node("MatMul", ["x", "fc.weight"], ["h"]), helper.make_node("Add", ["h", "fc.bias"], ["y"])]
    onnx.save(_graph(nodes, [numpy_helper.from_array(w, "fc.weight"), numpy_helper.from_array(b, "fc.bias")],
                     out=("y", [1, 3])), tmp_path / "mm.onnx")
    g = load_model(str(tmp_path / "mm.onnx"))
    assert [n for n, _ in g.named_children()] == ["fc"] and g.fc.bias is not None
    x = torch.randn(2, 4)
    assert torch.allclose(g(x), x @ torch.from_numpy(w) + torch.from_numpy(b))


@pytest.mark.parametrize("content", [b"", b"not a protobuf at all", b"\x08\x07\x12"])
def test_not_onnx_is_refused(tmp_path, content):
    (tmp_path / "m.onnx").write_bytes(content)
    with pytest.raises(ModelError, match=r"^'.*m.onnx' is not a valid ONNX model"):
        load_model(str(tmp_path / "m.onnx"))


@pytest.mark.parametrize("mode", ["fp32", "exact"])
def test_an_onnx_model_goes_through_quantize(tmp_path, mnist, lenet, mode, capsys):
    path = export(lenet, mnist.x_val[:2], tmp_path / "lenet.onnx", dynamo=False)
    assert main(["quantize", "--model", str(path), "--format", "dfp", "--mode", mode, "--error-margin", "1.0",
                 "--strict", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and f"{mode} mode" in out


def test_batchnorm_nodes_fold_with_fold_bn(tmp_path):
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    bn = [rng.uniform(0.5, 2, 4).astype(np.float32) for _ in range(4)]
    nodes = [helper.make_node("Conv", ["x", "c.weight"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["h", "s", "b", "m", "v"], ["y"], epsilon=1e-3)]
    inits = [numpy_helper.from_array(w, "c.weight")] + [numpy_helper.from_array(a, n)
                                                       for a, n in zip(bn, "sbmv", strict=True)]
    onnx.save(_graph(nodes, inits, inp=("x", [1, 2, 5, 5]), out=("y", [1, 4, 5, 5])), tmp_path / "bn.onnx")
    g = load_model(str(tmp_path / "bn.onnx"))
    assert [u["type"] for u in unquantized(wrap_model(g))] == ["BatchNorm2d"]
    folded = wrap_model(g, fold_bn=True)
    assert unquantized(folded) == []
    x = torch.randn(1, 2, 5, 5)
    sess = ort.InferenceSession(str(tmp_path / "bn.onnx"))
    want = sess.run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), want, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(g(x).numpy(), want, rtol=1e-5, atol=1e-5)


def _op_model(op, inputs, attrs, x_shape, consts, n_out=1, rank=4):
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()]
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, inputs, outs, name=f"my_{op.lower()}", **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, [None] * rank) for o in outs], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


I64 = np.int64
OPS = [
    ("HardSigmoid", ["x"], {"alpha": 0.25}, {}), ("HardSwish", ["x"], {}, {}), ("Elu", ["x"], {"alpha": 0.5}, {}),
    ("Selu", ["x"], {}, {}), ("Softplus", ["x"], {}, {}), ("Erf", ["x"], {}, {}), ("Exp", ["x"], {}, {}),
    ("Neg", ["x"], {}, {}), ("Abs", ["x"], {}, {}), ("Sigmoid", ["x"], {}, {}), ("Tanh", ["x"], {}, {}),
    ("LeakyRelu", ["x"], {"alpha": 0.1}, {}), ("Clip", ["x", "lo", "hi"], {}, {"lo": np.float32(-0.5),
                                                                              "hi": np.float32(0.7)}),
    ("PRelu", ["x", "slope"], {}, {"slope": np.full((3, 1, 1), 0.2, np.float32)}),
    ("Pow", ["x", "two"], {}, {"two": np.float32(2.0)}),
    ("Max", ["x", "c"], {}, {"c": np.float32(0.1)}), ("Min", ["x", "c"], {}, {"c": np.float32(0.1)}),
    ("Sum", ["x", "x"], {}, {}), ("Mean", ["x", "c"], {}, {"c": np.float32(1.0)}),
    ("ReduceMax", ["x", "ax"], {"keepdims": 0}, {"ax": np.array([2, 3], I64)}),
    ("ReduceSum", ["x", "ax"], {}, {"ax": np.array([1], I64)}),
    ("ReduceMean", ["x", "ax"], {"keepdims": 1}, {"ax": np.array([-1], I64)}),
    ("Slice", ["x", "s", "e", "a", "st"], {}, {"s": np.array([1, 0], I64), "e": np.array([4, 100], I64),
                                              "a": np.array([2, 3], I64), "st": np.array([1, 2], I64)}),
    ("Resize", ["x", "", "sc"], {"mode": "nearest"}, {"sc": np.array([1, 1, 2, 2], np.float32)}),
    ("Resize", ["x", "", "sc"], {"mode": "linear"}, {"sc": np.array([1, 1, 2, 2], np.float32)}),
    ("Transpose", ["x"], {"perm": [0, 2, 3, 1]}, {}), ("Flatten", ["x"], {"axis": 2}, {}),
    ("Softmax", ["x"], {"axis": 1}, {}), ("GlobalMaxPool", ["x"], {}, {}),
    ("AveragePool", ["x"], {"kernel_shape": [2, 2], "strides": [2, 2]}, {}),
    ("MaxPool", ["x"], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}, {}),
    ("Pad", ["x", "p"], {"mode": "reflect"}, {"p": np.array([0, 0, 1, 2, 0, 0, 2, 1], I64)}),
]


@pytest.mark.parametrize(("op", "inputs", "attrs", "consts"), OPS, ids=[f"{o[0]}-{i}" for i, o in enumerate(OPS)])
def test_each_replayed_op_equals_onnxruntime(tmp_path, op, inputs, attrs, consts):
    path = tmp_path / "op.onnx"
    rank = 2 if (op == "Flatten" or (op == "ReduceMax" and not attrs.get("keepdims", 1))) else 4
    onnx.save(_op_model(op, inputs, attrs, [2, 3, 6, 6], consts, rank=rank), path)
    from ristretto.nn.onnx_graph import load_onnx

    g = load_onnx(path)
    x = torch.randn(2, 3, 6, 6)
    want = ort.InferenceSession(str(path)).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        got = g(x)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_split_gives_every_output(tmp_path):
    path = tmp_path / "split.onnx"
    onnx.save(_op_model("Split", ["x", "sz"], {"axis": 1}, [2, 3, 4, 4], {"sz": np.array([1, 2], I64)}, n_out=2),
              path)
    g = load_model(str(path))
    x = torch.randn(2, 3, 4, 4)
    a, b = g(x)
    assert torch.equal(a, x[:, :1]) and torch.equal(b, x[:, 1:])


class _WithLayerNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.ln = torch.nn.LayerNorm([4, 6, 6])
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.ln(torch.relu(self.conv(x))).mean((2, 3)))


def test_layernorm_gets_the_same_treatment_by_either_door(tmp_path):
    """ONNX LayerNormalization, like nn.LayerNorm, stays in float32 and is listed as unquantized (--strict
    refuses both); its replay equals onnxruntime."""
    from ristretto.nn import quantize_network
    from ristretto.nn.data import Dataset

    torch.manual_seed(0)
    model = _WithLayerNorm().eval()
    with torch.no_grad():
        model.ln.weight.uniform_(0.5, 2)
        model.ln.bias.uniform_(-1, 1)
    x = torch.randn(6, 1, 8, 8)
    path = export(model, x[:1], tmp_path / "ln.onnx", dynamo=False)
    assert "LayerNormalization" in {n.op_type for n in onnx.load(path).graph.node}
    g = load_model(str(path))
    ref = ort.InferenceSession(str(path)).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        assert np.allclose(g(x).numpy(), ref, atol=1e-5) and torch.allclose(g(x), model(x), atol=1e-5)
    by_onnx = [(f["type"], f["parameters"]) for f in unquantized(wrap_model(g))]
    by_torch = [(f["type"], f["parameters"]) for f in unquantized(wrap_model(model))]
    assert by_onnx == [("onnx::LayerNormalization", 288)] and by_torch == [("LayerNorm", 288)]
    data = Dataset(x, torch.arange(6) % 3, x, torch.arange(6) % 3)
    for net in (g, model):
        with pytest.raises(ValueError, match=r"^--strict: these parts would stay in float32: "):
            quantize_network(net, data, strict=True, log=lambda m: None)
