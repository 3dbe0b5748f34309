"""Built-in model and data, user model and data loading, and their error messages."""

import numpy as np
import pytest
import torch

from ristretto.nn.data import DataError, load_data
from ristretto.nn.evaluate import accuracy
from ristretto.nn.models import LeNet, ModelError, load_model


def test_builtin_data_and_lenet(mnist, lenet):
    assert mnist.x_train.shape == (4000, 1, 28, 28) and mnist.x_val.shape == (1000, 1, 28, 28)
    assert torch.bincount(mnist.y_val).tolist() == [100] * 10
    assert float(mnist.x_train.max()) == 1.0
    assert accuracy(lenet, mnist.x_val, mnist.y_val) > 0.94
    assert accuracy(lenet, mnist.x_val, mnist.y_val, topk=5) > 0.99


def test_npz_data(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x_train=rng.random((20, 8, 8)), y_train=rng.integers(0, 3, 20), x_val=rng.random((10, 8, 8)),
             y_val=rng.integers(0, 3, 10))
    d = load_data(str(path))
    assert d.x_train.shape == (20, 1, 8, 8) and d.x_train.dtype == torch.float32 and d.y_val.dtype == torch.int64


def test_idx_folder(tmp_path):
    import struct

    for stem, n in (("train", 12), ("t10k", 5)):
        imgs = np.arange(n * 4 * 4, dtype=np.uint8).reshape(n, 4, 4)
        (tmp_path / f"{stem}-images-idx3-ubyte").write_bytes(struct.pack(">HBBIII", 0, 8, 3, n, 4, 4) + imgs.tobytes())
        (tmp_path / f"{stem}-labels-idx1-ubyte").write_bytes(struct.pack(">HBBI", 0, 8, 1, n) + bytes(range(n)))
    d = load_data(str(tmp_path))
    assert d.x_train.shape == (12, 1, 4, 4) and d.y_val.tolist() == [0, 1, 2, 3, 4]


def test_data_errors(tmp_path):
    with pytest.raises(DataError, match=r"^Data path 'nope' does not exist$"):
        load_data("nope")
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((2, 3)))
    with pytest.raises(DataError, match=r"lacks arrays \['y_train', 'x_val', 'y_val'\]"):
        load_data(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "shape.npz", x_train=np.zeros((4, 8, 8)), y_train=np.zeros(3), x_val=np.zeros((2, 8, 8)),
             y_val=np.zeros(2))
    with pytest.raises(DataError, match=r"^y_train must be a 1-D label array as long as x_train \(4\)"):
        load_data(str(tmp_path / "shape.npz"))


def test_user_model_factory_and_weights(tmp_path):
    net = LeNet()
    torch.save(net.state_dict(), tmp_path / "w.pt")
    loaded = load_model("ristretto.nn.models:LeNet", str(tmp_path / "w.pt"))
    assert torch.equal(loaded.conv1.weight, net.conv1.weight)


def test_model_errors(tmp_path):
    with pytest.raises(ModelError, match=r"^Cannot import 'no_such_pkg' for --model 'no_such_pkg:f': .*PYTHONPATH$"):
        load_model("no_such_pkg:f")
    with pytest.raises(ModelError, match=r"^--model must look like package.module:factory \(or be a TorchScript "
                                         r".pt or ONNX .onnx file\), not 'LeNet'$"):
        load_model("LeNet")
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "wrong.pt")
    with pytest.raises(ModelError, match=r"^Weights .*wrong.pt' do not match 'ristretto.nn.models:LeNet'"):
        load_model("ristretto.nn.models:LeNet", str(tmp_path / "wrong.pt"))


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_checkpoints_that_need_code_are_refused_not_executed(tmp_path, capsys):
    torch.save({"x": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ModelError, match=r"^Refusing .*evil.pt': it does not load as plain tensors"):
        load_model("ristretto.nn.models:LeNet", str(tmp_path / "evil.pt"))
    assert "pwned" not in capsys.readouterr().out


def test_cifar_folder(tmp_path):
    import pickle

    rng = np.random.default_rng(1)
    for name, n in (("data_batch_1", 6), ("data_batch_2", 4), ("test_batch", 3)):
        with open(tmp_path / name, "wb") as fh:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"labels": list(rng.integers(0, 10, n))}, fh)
    d = load_data(str(tmp_path))
    assert d.x_train.shape == (10, 3, 32, 32) and d.x_val.shape == (3, 3, 32, 32)
    assert float(d.x_train.max()) <= 1.0


def test_image_folder(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for label, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
            (tmp_path / split / label).mkdir(parents=True)
            Image.new("RGB", (6, 5), colour).save(tmp_path / split / label / "a.png")
    d = load_data(str(tmp_path))
    assert d.x_train.shape == (2, 3, 5, 6) and d.y_train.tolist() == [0, 1]
    assert float(d.x_train[0, 0].mean()) == 1.0 and float(d.x_train[1, 2].mean()) == 1.0


def test_builtin_training_is_deterministic(mnist, tmp_path, monkeypatch):
    from ristretto.nn.models import builtin_lenet

    weights = []
    for i, seed in enumerate((1, 2)):
        monkeypatch.setenv("RISTRETTO_CACHE", str(tmp_path / str(i)))
        torch.manual_seed(seed)  # unrelated global state must not matter
        weights.append(builtin_lenet(mnist).state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_calibration_batches_for_any_size():
    from ristretto.nn.data import calibration_batches

    for n, sizes in ((1, [1]), (7, [7]), (500, [500]), (1999, [500, 500, 500, 499]), (5000, [500] * 4)):
        assert [len(b) for b in calibration_batches(torch.zeros(n, 1, 2, 2))] == sizes
    with pytest.raises(DataError, match=r"^No samples to calibrate on"):
        calibration_batches(torch.zeros(0, 1, 2, 2))


class _Marker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_malicious_cifar_batch_runs_nothing(tmp_path):
    import pickle

    marker = tmp_path / "ran"
    for name in ("data_batch_1", "test_batch"):
        (tmp_path / name).write_bytes(pickle.dumps({b"data": _Marker(str(marker)), b"labels": [0]}, protocol=2))
    with pytest.raises(DataError, match=r"^Refusing CIFAR batch .*: not a plain data pickle \(it asks for "
                                        r"io\.open, which a data file never needs\); nothing in it was run$"):
        load_data(str(tmp_path))
    assert not marker.exists()


def test_safe_unpickle_reads_plain_data_of_every_protocol():
    import pickle

    from ristretto.nn.data import safe_unpickle

    obj = {b"data": np.arange(12, dtype=np.uint8).reshape(3, 4), b"labels": [1, 2, 3], "name": "x",
           b"batch_label": b"training batch 1 of 5", "f": 1.5, "t": (1, None, True), "scalar": np.int64(4)}
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        got = safe_unpickle(pickle.dumps(obj, protocol=protocol), "test")
        assert np.array_equal(got[b"data"], obj[b"data"]) and got[b"labels"] == [1, 2, 3] and got["scalar"] == 4


def test_data_warnings_say_what_looks_wrong():
    from ristretto.nn.data import Dataset

    x = torch.rand(20, 1, 4, 4) * 255
    y = torch.arange(20) % 3 + 1
    warns = Dataset(x, y, x, y).warnings()
    assert any("unscaled 8-bit pixels" in w for w in warns) and any("subtract 1" in w for w in warns)
    assert Dataset(x / 255, y - 1, x / 255, y - 1).warnings() == []


def test_a_model_module_in_the_current_folder_imports(tmp_path, monkeypatch):
    (tmp_path / "mymodels_cwd.py").write_text("from ristretto.nn.models import LeNet\n\ndef net():\n"
                                              "    return LeNet()\n")
    monkeypatch.chdir(tmp_path)
    assert type(load_model("mymodels_cwd:net")).__name__ == "LeNet"
    import sys

    assert str(tmp_path) not in sys.path  # the path is restored


@pytest.mark.parametrize("wrap", [lambda sd: sd, lambda sd: {"state_dict": sd, "epoch": 1},
                                  lambda sd: {"model": sd, "optimizer": {}}, lambda sd: {"model_state_dict": sd},
                                  lambda sd: {f"module.{k}": v for k, v in sd.items()}])
def test_common_checkpoint_layouts_load(tmp_path, wrap):
    sd = LeNet().state_dict()
    torch.save(wrap(sd), tmp_path / "c.pt")
    net = load_model("ristretto.nn.models:LeNet", str(tmp_path / "c.pt"))
    assert all(torch.equal(net.state_dict()[k], v) for k, v in sd.items())


def test_grey_image_folder_keeps_one_channel(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for label, level in (("0", 10), ("1", 200)):
            (tmp_path / split / label).mkdir(parents=True)
            Image.new("L", (5, 4), level).save(tmp_path / split / label / "a.png")
    d = load_data(str(tmp_path))
    assert d.x_train.shape == (2, 1, 4, 5) and d.y_train.tolist() == [0, 1]
    assert float(d.x_val[1].mean()) == pytest.approx(200 / 255)
