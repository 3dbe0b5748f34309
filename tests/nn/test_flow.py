"""The whole flow on the built-in LeNet: targets, outputs, reload, fine-tuning, CLI."""

import json

import numpy as np
import pytest
import torch

from ristretto.cli import main
from ristretto.nn.flow import quantize_network, write_outputs
from ristretto.nn.schemes import Widths


def _quiet(msg):
    pass


@pytest.mark.parametrize("scheme,limit", [("dfp", 0.3), ("minifloat", 1.0)])
def test_eight_bit_targets(lenet, mnist, scheme, limit):
    res = quantize_network(lenet, mnist, scheme=scheme, margin=100, config=None, log=_quiet)
    from ristretto.nn.convert import quant_layers
    from ristretto.nn.evaluate import accuracy
    from ristretto.nn.ranges import calibrate
    from ristretto.nn.schemes import apply_formats, assign_formats

    net = res.net
    stats = calibrate(net, [mnist.x_train[:2000]])
    apply_formats(net, assign_formats(net, stats, scheme, Widths(8, 8, 8)))
    drop = 100 * (res.baseline_top1 - accuracy(net, mnist.x_val, mnist.y_val))
    assert round(drop, 9) <= limit  # 3 images of 1,000 is 0.3 points, not 0.30000000000000027
    assert len(quant_layers(net)) == 4


def test_outputs_reload_and_integer_weights(lenet, mnist, tmp_path):
    res = quantize_network(lenet, mnist, scheme="pow2", margin=1.0, finetune_epochs=1, mode="exact", log=_quiet)
    files = write_outputs(res, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert 0 <= summary["quantized_top1"] <= 1 and summary["baseline_top1"] > 0.9
    assert summary["validation_passes"] == res.passes > 3
    assert summary["baseline_top1"] - summary["quantized_top1"] <= 0.01
    codes = np.load(tmp_path / "weights.npz")
    assert codes["conv1.weight"].dtype == np.int64 and codes["conv1.weight"].max() < 2 ** res.widths.conv_w
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert set(state) == set(lenet.state_dict())
    again = quantize_network(lenet, mnist, config=tmp_path / "config.json", mode="exact", log=_quiet)
    assert again.passes == 1 and again.widths == res.widths
    assert [f.name for f in files] == ["config.json", "summary.json", "weights.npz", "model.pt"]


def test_per_layer_refinement(lenet, mnist, tmp_path):
    res = quantize_network(lenet, mnist, scheme="dfp", margin=1.0, refine=True, log=_quiet)
    group = {n: (res.widths.conv_w if n.startswith("conv") else res.widths.fc_w, res.widths.act)
             for n in res.layer_widths}
    assert all(res.layer_widths[n][i] <= group[n][i] for n in group for i in (0, 1))
    assert 100 * (res.baseline_top1 - res.quantized_top1) <= 1.0
    assert {n: f.weight.bits for n, f in res.formats.items()} == {n: w[0] for n, w in res.layer_widths.items()}
    write_outputs(res, tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["layer_widths"]["fc2"]["weight"] == \
        res.layer_widths["fc2"][0]


def test_finetuning_is_reproducible(lenet, mnist):
    a = quantize_network(lenet, mnist, scheme="dfp", margin=5, finetune_epochs=1, finetune_activations=True,
                         log=_quiet)
    b = quantize_network(lenet, mnist, scheme="dfp", margin=5, finetune_epochs=1, finetune_activations=True,
                         log=_quiet)
    assert a.quantized_top1 == b.quantized_top1
    assert torch.equal(a.net.fc1.inner.weight, b.net.fc1.inner.weight)
    assert not torch.equal(a.net.fc1.inner.weight, lenet.fc1.weight)  # shadow weights moved; the user's did not


def test_cli_quantize(tmp_path, capsys):
    assert main(["quantize", "--format", "dfp", "--error-margin", "1.0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "top-1: float32" in out and "wrote" in out and "conv1" in out
    with pytest.raises(SystemExit, match=r"^ristretto quantize: Data path 'missing.npz' does not exist$"):
        main(["quantize", "--data", "missing.npz", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"^ristretto quantize: --model must look like package.module:factory"):
        main(["quantize", "--model", "foo", "--out", str(tmp_path)])
