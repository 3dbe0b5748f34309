"""QONNX and ONNX Q/DQ out: each exported graph, run by an independent executor, equals fp32 mode bit for bit."""

import json

import pytest

from ristretto.cli import main
from ristretto.export import ExportError, build_network, export_onnx, round_trip
from ristretto.formats import Minifloat
from ristretto.nn.convert import wrap_model
from ristretto.nn.data import calibration_batches
from ristretto.nn.ranges import calibrate
from ristretto.nn.schemes import Widths, assign_formats

pytest.importorskip("qonnx")
pytest.importorskip("onnxruntime")

SAMPLES = 300


def _config(lenet, mnist, tmp_path, scheme, bits, name=None):
    net = wrap_model(lenet)
    stats = calibrate(net, calibration_batches(mnist.x_train))
    formats = assign_formats(net, stats, scheme, Widths(bits, bits, 8 if scheme == "pow2" else bits))
    path = tmp_path / (name or f"{scheme}{bits}.json")
    layers = {n: f.to_dict() for n, f in formats.items()}
    path.write_text(json.dumps({"scheme": scheme, "widths": {}, "layers": layers}))
    return path


def _e5m2_config(tmp_path):
    e5m2 = Minifloat(5, 2, subnormals=True, inf_nan=True).to_dict()
    path = tmp_path / "e5m2.json"
    path.write_text(json.dumps({"scheme": "minifloat", "widths": {}, "layers": {
        n: {g: e5m2 for g in ("input", "weight", "bias", "output")} for n in ("conv1", "conv2", "fc1", "fc2")}}))
    return path


@pytest.mark.parametrize(("target", "scheme", "bits"), [
    ("qonnx", "dfp", 8), ("qonnx", "dfp", 5), ("qonnx", "pow2", 4), ("qonnx", "fixed", 8),
    ("qdq", "dfp", 8), ("qdq", "dfp", 4), ("qdq", "pow2", 4)])
def test_integer_formats_round_trip_bit_for_bit(lenet, mnist, tmp_path, target, scheme, bits):
    net, _ = build_network(lenet, _config(lenet, mnist, tmp_path, scheme, bits))
    path = export_onnx(net, target, tmp_path / "net.onnx", mnist.x_val[:2])
    r = round_trip(net, path, target, mnist.x_val[:SAMPLES])
    assert r["identical"] and r["differ"] == 0 and r["outputs"] == SAMPLES * 10, r
    assert set(r["layers"]) == {"conv1", "conv2", "fc1", "fc2"} and not any(r["layers"].values())


def _float8_config(tmp_path, fmt):
    path = tmp_path / "f8.json"
    groups = {g: fmt.to_dict() for g in ("input", "weight", "bias", "output")}
    layers = dict.fromkeys(("conv1", "conv2", "fc1", "fc2"), groups)
    path.write_text(json.dumps({"scheme": "minifloat", "widths": {}, "layers": layers}))
    return path


FLOAT8 = {"e4m3fn": ("float8_e4m3fn", {}), "e4m3fn-scaled": ("float8_e4m3fn", {"bias": 4}),
          "e4m3fn-nonsaturating": ("float8_e4m3fn", {"saturating": False}),
          "e5m2-scaled": ("float8_e5m2", {"bias": 12}),
          "e4m3fnuz": ("float8_e4m3fnuz", {}), "e5m2fnuz": ("float8_e5m2fnuz", {})}


@pytest.mark.parametrize("target", ["qdq", "qonnx"])
@pytest.mark.parametrize("case", list(FLOAT8))
def test_float8_formats_round_trip_bit_for_bit(lenet, mnist, tmp_path, target, case):
    import dataclasses

    from ristretto.formats import named

    name, change = FLOAT8[case]
    net, _ = build_network(lenet, _float8_config(tmp_path, dataclasses.replace(named(name), **change)))
    path = export_onnx(net, target, tmp_path / "net.onnx", mnist.x_val[:2])
    r = round_trip(net, path, target, mnist.x_val[:SAMPLES])
    assert r["identical"], r


@pytest.mark.parametrize(("scheme", "onnx_type"), [("fp8", "FLOAT8E4M3FN"), ("fp8e5m2", "FLOAT8E5M2")])
def test_fp8_schemes_export_as_their_float8_type(tmp_path, capsys, scheme, onnx_type):
    """The fp8 schemes (e4m3fn, e5m2 with inf/NaN codes) quantize in exact mode and export to Q/DQ bit for bit."""
    import json

    import onnx

    assert main(["quantize", "--format", scheme, "--mode", "exact", "--out", str(tmp_path / "q")]) == 0
    config = json.loads((tmp_path / "q" / "config.json").read_text())
    first = next(iter(config["layers"].values()))
    assert first["weight"]["man_bits"] == {"fp8": 3, "fp8e5m2": 2}[scheme]
    capsys.readouterr()
    assert main(["export", "--to", "qdq", "--config", str(tmp_path / "q" / "config.json"), "--samples", "300",
                 "--out", str(tmp_path / "fp8.onnx")]) == 0
    assert "MATCH" in capsys.readouterr().out
    zps = [i for i in onnx.load(str(tmp_path / "fp8.onnx")).graph.initializer if i.name.endswith(".zero_point")]
    assert len(zps) == 16 and {z.data_type for z in zps} == {getattr(onnx.TensorProto, onnx_type)}


@pytest.mark.parametrize("target", ["qdq", "qonnx"])
def test_float8_e5m2_round_trips_bit_for_bit(lenet, mnist, tmp_path, target):
    net, _ = build_network(lenet, _e5m2_config(tmp_path))
    path = export_onnx(net, target, tmp_path / "net.onnx", mnist.x_val[:2])
    r = round_trip(net, path, target, mnist.x_val[:SAMPLES])
    assert r["identical"], r


def test_paper_minifloat_differs_only_where_qonnx_ignores_has_subnormal(lenet, mnist, tmp_path):
    """qonnx 1.0's executor rounds to subnormals even with has_subnormal=0; every difference comes from that."""
    import onnx

    net, _ = build_network(lenet, _config(lenet, mnist, tmp_path, "minifloat", 8))
    path = export_onnx(net, "qonnx", tmp_path / "net.onnx", mnist.x_val[:2])
    fq = [n for n in onnx.load(str(path)).graph.node if n.op_type == "FloatQuant"]
    assert len(fq) == 16 and {n.name for n in fq} >= {"conv1.input", "fc2.output"}
    assert all({a.name: a.i for a in n.attribute}["has_subnormal"] == 0 for n in fq)
    r = round_trip(net, path, "qonnx", mnist.x_val[:SAMPLES])
    assert r["differ"] > 0 and r["explained_by_subnormals"] == r["differ"]
    assert any("has_subnormal=0" in c for c in r["causes"])


def test_a_broken_export_is_caught(lenet, mnist, tmp_path, monkeypatch):
    """The round trip can fail: a graph whose quantizer rounds to another grid is reported, not hidden."""
    import onnx
    from onnx import numpy_helper

    net, _ = build_network(lenet, _config(lenet, mnist, tmp_path, "dfp", 8))
    path = export_onnx(net, "qdq", tmp_path / "net.onnx", mnist.x_val[:2])
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        if init.name == "fc1.output.scale":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 2, init.name))
    onnx.save(model, str(path))
    r = round_trip(net, path, "qdq", mnist.x_val[:SAMPLES])
    assert not r["identical"] and r["first_layer"] == "fc1" and r["layers"]["conv2"] == 0 and r["first"]


def test_qdq_refuses_what_it_cannot_express(lenet, mnist, tmp_path):
    net, _ = build_network(lenet, _config(lenet, mnist, tmp_path, "dfp", 6))
    with pytest.raises(ExportError, match=r"^layer conv1\.input: dfp6f\d+ is not expressible as ONNX QuantizeLinear/"
                                          r"DequantizeLinear \(int4, int8 or int16 .*\); use --to qonnx$"):
        export_onnx(net, "qdq", tmp_path / "net.onnx", mnist.x_val[:2])
    assert not (tmp_path / "net.onnx").exists()


def test_export_command_after_quantize(tmp_path, capsys):
    assert main(["quantize", "--format", "pow2", "--error-margin", "1.5", "--out", str(tmp_path / "q")]) == 0
    capsys.readouterr()
    assert main(["export", "--to", "qonnx", "--config", str(tmp_path / "q" / "config.json"), "--samples", "200",
                 "--out", str(tmp_path / "lenet_qonnx.onnx")]) == 0
    out = capsys.readouterr().out
    assert "round trip on 200 validation samples, qonnx vs fp32 mode: 2000 outputs, 0 differ" in out
    assert "MATCH: the exported graph computes fp32 mode bit for bit" in out


@pytest.mark.parametrize("target", ["qonnx", "qdq"])
@pytest.mark.parametrize("which", ["mobile", "signal", "residual-concat-deconv", "onnx-mobile"])
def test_unseen_models_round_trip(tmp_path, which, target):
    """Models that are not LeNet (BN folded, depthwise, SE, concat, deconvolution, Conv1d, an ONNX import)."""
    import warnings

    import torch
    from nets import MobileRes, Signal1d, real_net, sine_classes

    from ristretto.nn.data import Dataset
    from ristretto.nn.flow import quantize_network, write_outputs
    from ristretto.nn.models import load_model
    from ristretto.nn.schemes import Widths

    torch.manual_seed(0)
    if which == "signal":
        model, (x, y) = Signal1d(), sine_classes(120, 0)
    else:
        model = {"mobile": MobileRes, "onnx-mobile": MobileRes, "residual-concat-deconv": real_net}[which]()
        shape = (3, 16, 16) if which == "residual-concat-deconv" else (1, 14, 14)
        x, y = torch.rand(120, *shape), torch.randint(0, 5, (120,))
    model.eval()
    if which == "onnx-mobile":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x[:2],), str(tmp_path / "m.onnx"), dynamo=False, input_names=["x"],
                              dynamic_axes={"x": {0: "n"}})
        model = load_model(str(tmp_path / "m.onnx"))
    data = Dataset(x[:80], y[:80], x[80:], y[80:])
    res = quantize_network(model, data, widths=Widths(8, 8, 8), fold_bn=True, log=lambda m: None)
    write_outputs(res, tmp_path / "q")
    net, _ = build_network(model, tmp_path / "q" / "config.json")
    path = export_onnx(net, target, tmp_path / "net.onnx", x[:2])
    r = round_trip(net, path, target, x[80:])
    assert r["identical"], r
