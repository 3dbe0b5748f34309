"""Round 2 of hostile inputs: budgets checked before allocating, silent wrong answers refused, faults in one line.

Each case runs in-process; a CLI case asserts one short line and a non-zero exit, never a traceback.
"""

import errno
import io
import json
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch

from ristretto.cli import main


def _one_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    cap = capsys.readouterr()
    msg = exc.value.code if isinstance(exc.value.code, str) else cap.err.strip()
    assert exc.value.code not in (0, None) and "Traceback" not in cap.err + cap.out
    assert len(msg.splitlines()) == 1 and len(msg) <= 300, msg
    return msg


def _npy_header(shape, dtype="<f4"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _good_arrays(n=20):
    x = np.random.default_rng(0).random((n, 1, 8, 8), np.float32)
    return {"x_train": x, "y_train": np.arange(n) % 3, "x_val": x, "y_val": np.arange(n) % 3}


def _npz(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            if isinstance(data, np.ndarray):
                buf = io.BytesIO()
                np.save(buf, data)
                data = buf.getvalue()
            z.writestr(name, data)
    return str(path)


MODS = textwrap.dedent('''
    import torch
    from torch import nn


    class Tiny(nn.Module):
        def __init__(self, up=1, nan=False):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.up, self.nan = up, nan
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            if self.up > 1:
                x = nn.functional.interpolate(x, scale_factor=self.up)
            y = self.fc(x.mean((2, 3)))
            return y * float("nan") if self.nan else y


    def huge():
        return Tiny(up=3000)


    def nans():
        return Tiny(nan=True)
''')


@pytest.fixture
def d(tmp_path, monkeypatch):
    (tmp_path / "hostmods.py").write_text(MODS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    np.savez(tmp_path / "good.npz", **_good_arrays())
    return tmp_path


# -- resources: refused before allocating ------------------------------------------------------------------------
def test_an_npz_header_declaring_terabytes_is_refused_unread(d, capsys):
    members = {f"{k}.npy": v for k, v in _good_arrays().items()}
    members["x_train.npy"] = _npy_header((10**7, 1, 1000, 1000)) + b"\0" * 64  # 2 KB declaring 37 PiB
    msg = _one_line(["quantize", "--data", _npz(d / "bomb.npz", members), "--out", str(d / "o")], capsys)
    assert "member 'x_train.npy' declares [10000000, 1, 1000, 1000] float32" in msg and "crafted" in msg


def test_a_zip_bomb_is_refused_by_the_data_limit(d, capsys, monkeypatch):
    big = {"x_train": np.zeros((4000, 1, 32, 32), np.float32), "y_train": np.zeros(4000, np.int64),
           "x_val": np.zeros((10, 1, 32, 32), np.float32), "y_val": np.arange(10) % 2}
    path = _npz(d / "zeros.npz", {f"{k}.npy": v for k, v in big.items()})
    monkeypatch.setenv("RISTRETTO_MAX_DATA_GB", "0.01")  # 16 MB of zeros deflate to tens of kB
    msg = _one_line(["quantize", "--data", path, "--out", str(d / "o")], capsys)
    assert "declares 15.7 MiB of data as float32, over the limit of 10.2 MiB; use a smaller set" in msg


@pytest.mark.parametrize(("members", "fragment"), [
    ({"x_train": b"hello"}, "member 'x_train' is not .npy array data"),
    ({"x_train.npy": b"\x93NUMPY\x09\x00garbage"}, "member 'x_train.npy' is not .npy array data"),
    ({"x_train.npy": b"not numpy at all"}, "member 'x_train.npy' is not .npy array data"),
])
def test_npz_members_that_are_not_npy_are_named(d, capsys, members, fragment):
    good = {f"{k}.npy": v for k, v in _good_arrays().items() if k != "x_train"}
    msg = _one_line(["quantize", "--data", _npz(d / "m.npz", {**good, **members}), "--out", str(d / "o")], capsys)
    assert fragment in msg


def test_a_model_that_would_inflate_its_activations_is_refused_before_its_first_pass(d, capsys):
    msg = _one_line(["quantize", "--model", "hostmods:huge", "--data", str(d / "good.npz"), "--out", str(d / "o")],
                    capsys)
    assert "forward pass needs about" in msg and "upsample" in msg and "GiB free" in msg


def test_an_onnx_graph_that_would_inflate_its_activations_is_refused(d, capsys):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((3, 1), np.float32), "w")
    scales = numpy_helper.from_array(np.array([1, 1, 3000, 3000], np.float32), "scales")
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["big"], mode="nearest"),
             helper.make_node("GlobalAveragePool", ["big"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "bomb", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])], [w, scales])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), d / "bomb.onnx")
    msg = _one_line(["quantize", "--model", str(d / "bomb.onnx"), "--data", str(d / "good.npz"), "--out",
                     str(d / "o")], capsys)
    assert "forward pass needs about" in msg


@pytest.mark.parametrize(("argv", "fragment"), [
    (["hw", "verify", "fixed8", "--random", str(10**9)], "--random must be in 0..10000000, not 1000000000"),
    (["hw", "verify", "fixed8", "--random", str(10**30)], "--random must be in 0..10000000"),
    (["hw", "verify", "fixed8", "--seed", "-1"], "--seed must be in 0..4294967295"),
    (["hw", "verify-lenet", "--seed", str(2**40)], "--seed must be in 0..4294967295"),
    (["quantize", "--seed", "-3", "--out", "{d}/o"], "--seed must be in 0..4294967295"),
    (["hw", "prove", "fixed8", "--timeout", "1e9"], "--timeout must be a number in 1..86400"),
    (["hw", "synth", "fixed8", "--clock-mhz", "1e-300"], "--clock-mhz must be a number in 0.001..10000"),
    (["report", "--clock-mhz", "1e9", "--out", "{d}/r"], "--clock-mhz must be a number in 0.001..10000"),
    (["report", "--verify-vectors", str(10**12), "--out", "{d}/r"], "--verify-vectors must be in 1..10000000"),
    (["export", "--to", "qdq", "--config", "{d}/c.json", "--samples", str(10**12), "--out", "{d}/x.onnx"],
     "--samples must be in 0..1000000"),
])
def test_every_count_option_has_a_range(d, capsys, argv, fragment):
    (d / "c.json").write_text("{}")
    assert fragment in _one_line([a.replace("{d}", str(d)) for a in argv], capsys)


# -- faults of the machine: one line ------------------------------------------------------------------------------
@pytest.mark.parametrize(("error", "fragment"), [
    (MemoryError(), "out of memory; use a smaller model"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
                  "to allocate 1099511627776 bytes. Error code 12 (Cannot allocate memory)"), "out of memory ("),
    (OSError(errno.ENOSPC, "No space left on device", "/cache/x.json"), "the disk is full (writing /cache/x.json)"),
    (RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file data/0: "
                  "file write failed unexpected pos 64 vs 0"), "the disk is full (torch could not write a file)"),
])
def test_machine_faults_are_one_line(capsys, monkeypatch, error, fragment):
    import ristretto.cli as cli

    def fails(args):
        raise error

    monkeypatch.setattr(cli, "_describe", fails)
    assert fragment in _one_line(["formats", '{"kind": "dfp", "bits": 8, "frac_bits": 5}'], capsys)


def test_ctrl_c_while_torch_imports_exits_130(monkeypatch, capsys):
    from ristretto import console

    class Interrupting:
        def find_spec(self, name, path=None, target=None):
            if name == "ristretto.cli":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "ristretto.cli")
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    with pytest.raises(SystemExit) as exc:
        console.main()
    assert exc.value.code == 130 and capsys.readouterr().err == "ristretto: interrupted\n"


# -- silent wrong answers: refused or said ------------------------------------------------------------------------
def test_nan_outputs_are_refused_not_scored(d, capsys):
    msg = _one_line(["quantize", "--model", "hostmods:nans", "--data", str(d / "good.npz"), "--out", str(d / "o")],
                    capsys)
    assert "The float model's output is nan for validation sample 0 (class 0)" in msg


def test_one_class_labels_are_said_in_the_log_and_summary(d, capsys):
    arrays = _good_arrays()
    arrays["y_val"] = np.zeros_like(arrays["y_val"])
    np.savez(d / "one.npz", **arrays)
    assert main(["quantize", "--data", str(d / "one.npz"), "--model", "hostmods:Tiny", "--error-margin", "100",
                 "--out", str(d / "o")]) == 0
    assert "every validation label is class 0" in capsys.readouterr().err
    assert any("every validation label is class 0" in w for w in json.loads((d / "o" / "summary.json").read_text())
               ["warnings"])


def _folder(root, mode_arrays):
    from PIL import Image

    for split in ("train", "val"):
        for c, arr in mode_arrays.items():
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(2):
                Image.fromarray(arr).save(root / split / c / f"{i}.{'tiff' if arr.dtype == np.float32 else 'png'}")
    return root


def test_image_folders_read_16_bit_and_float_pixels_at_their_own_depth(tmp_path):
    from ristretto.nn.data import load_data

    deep = np.full((8, 8), 40000, np.uint16)
    flt = np.full((8, 8), 0.25, np.float32)
    data = load_data(str(_folder(tmp_path, {"a": deep, "b": flt})))
    assert data.x_train.shape == (4, 1, 8, 8)
    vals = sorted({round(float(v), 6) for v in data.x_train.flatten()})
    assert vals == [0.25, round(40000 / 65535, 6)]  # not 1.0 (saturated) and not 0.0 (truncated)


def test_a_val_class_missing_from_train_is_refused(tmp_path):
    from ristretto.nn.data import DataError, load_data

    root = _folder(tmp_path, {"a": np.zeros((8, 8), np.uint8), "b": np.ones((8, 8), np.uint8)})
    (root / "val" / "c").mkdir()
    (root / "val" / "b").rename(root / "val" / "c" / "b")
    with pytest.raises(DataError, match=r"val has class folders that train/ lacks: \['c'\]"):
        load_data(str(root))


# -- the tools say what they did ----------------------------------------------------------------------------------
def test_verify_says_when_it_cannot_sweep_every_code_pair():
    from ristretto.hw import parse_spec
    from ristretto.sim.stimulus import coverage

    wide = {"family": "fixed", "a": {"kind": "dfp", "bits": 12, "frac_bits": 6},
            "w": {"kind": "dfp", "bits": 12, "frac_bits": 6}, "out": {"kind": "dfp", "bits": 12, "frac_bits": 6}}
    cfg, _ = parse_spec(wide)
    assert coverage(cfg, random_vectors=65536) == ("no exhaustive pairs: 12+12-bit operands have 16,777,216 code "
                                                   "pairs, more than the 2**16 swept; 65,536 random accumulation "
                                                   "vectors")
    cfg8, _ = parse_spec("fixed8")
    assert coverage(cfg8, random_vectors=0).startswith("every code pair (65,536)")


def test_power_is_quoted_at_a_clock_the_unit_meets():
    from ristretto.synth.sta import met_clock

    assert met_clock(100.0, 250.0) == 100.0 and met_clock(5000.0, 123.456) == 123.4 and met_clock(1e4, 0.01) == 0.1


def test_a_missing_abc_names_the_program_yosys_runs_and_its_package(monkeypatch, tmp_path):
    import shutil

    from ristretto.synth.tools import ToolMissing, abc_binary, require_abc

    assert abc_binary() in ("berkeley-abc", "yosys-abc") and shutil.which(abc_binary())
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda t: None if t == abc_binary() else which(t))
    pkg = "berkeley-abc" if abc_binary() == "berkeley-abc" else "yosys"
    with pytest.raises(ToolMissing, match=rf"^{abc_binary()} not found: install it \(Debian: apt-get install {pkg}\)"):
        require_abc()


def test_the_fake_memory_pass_leaves_no_fake_tensor_behind():
    """check_memory runs the network on fake tensors: a layer's cached quantized weights must stay real."""
    from torch._subclasses.fake_tensor import FakeTensor

    from ristretto.formats import named
    from ristretto.nn.checks import check_memory
    from ristretto.nn.convert import quant_layers, wrap_model
    from ristretto.nn.layers import LayerFormats
    from ristretto.nn.models import LeNet
    from ristretto.nn.schemes import apply_formats

    torch.manual_seed(0)
    net = wrap_model(LeNet()).eval()
    fp8 = named("float8_e4m3fn")
    apply_formats(net, {n: LayerFormats(input=fp8, weight=fp8, output=fp8) for n in quant_layers(net)})
    x = torch.randn(3, 1, 28, 28)
    fresh = __import__("copy").deepcopy(net)
    with torch.no_grad():
        check_memory(net, x, 500)  # the first pass of this net: its caches are filled here, or not at all
        assert torch.equal(net(x), fresh(x))
    cached = [t for m in net.modules() for _, t in m.__dict__.get("_qcache", {}).values()]
    assert cached and not any(isinstance(t, FakeTensor) for t in cached)


def test_a_weight_format_that_cannot_hold_the_weights_is_said():
    from ristretto.formats import DynamicFixedPoint as D
    from ristretto.nn.checks import degenerate_weights
    from ristretto.nn.convert import quant_layers, wrap_model
    from ristretto.nn.layers import LayerFormats
    from ristretto.nn.schemes import apply_formats

    torch.manual_seed(0)
    net = wrap_model(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 3)))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.empty_like(p).uniform_(0.5, 1.0) * torch.sign(torch.randn_like(p)))
    layers = quant_layers(net)
    names = list(layers)
    apply_formats(net, {names[0]: LayerFormats(weight=D(4, -4)), names[1]: LayerFormats(weight=D(4, 12))})
    got = degenerate_weights(layers)
    assert len(got) == 2
    assert got[0].startswith(f"layer {names[0]}: every weight quantizes to 0 in dfp4fm4")
    assert got[1].startswith(f"layer {names[1]}: every weight saturates to the range ends -0.00195312, 0.00170898 "
                             "of dfp4f12")
    apply_formats(net, {names[0]: LayerFormats(weight=D(8, 6)), names[1]: LayerFormats(weight=D(8, 6))})
    assert degenerate_weights(layers) == []


@pytest.mark.parametrize(("header", "fragment"), [
    ({"descr": "|O", "fortran_order": False, "shape": (20, 1, 8, 8)}, "holds object arrays"),
    ({"descr": "<f4", "fortran_order": False, "shape": (2**40, 2**40)}, "declares [1099511627776, 1099511627776]"),
    ({"descr": "<f8", "fortran_order": True, "shape": (20, 1, 8, 8)}, "declares [20, 1, 8, 8] float64"),
])
def test_npz_headers_are_checked_before_reading(d, capsys, header, fragment):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    members = {f"{k}.npy": v for k, v in _good_arrays().items()}
    members["x_train.npy"] = buf.getvalue() + b"\0" * 256  # the body is shorter than the header says
    assert fragment in _one_line(["quantize", "--data", _npz(d / "h.npz", members), "--out", str(d / "o")], capsys)


def test_options_and_suffixes_are_case_blind(d, capsys):
    import shutil

    shutil.copy(d / "good.npz", d / "GOOD.NPZ")
    assert main(["quantize", "--model", "hostmods:Tiny", "--data", str(d / "GOOD.NPZ"), "--format", "DFP", "--mode",
                 "Exact", "--widths", "8,8,8", "--accumulator", "AUTO", "--out", str(d / "q")]) == 0
    assert json.loads((d / "q" / "config.json").read_text())["scheme"] == "dfp"
    capsys.readouterr()


def test_verbose_prints_the_librarys_own_text_before_the_one_line(d, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["quantize", "--model", "hostmods:huge", "--data", str(d / "good.npz"), "--out", str(d / "o"),
              "--verbose"])
    err = capsys.readouterr().err
    assert "forward pass needs about" in str(exc.value.code) and "Traceback" in err


def test_a_cluster_address_where_nothing_listens_is_refused_at_once():
    import socket
    import time

    from ristretto.report.execute import ClusterMissing, run_jobs

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(ClusterMissing, match=rf"^cannot reach the Ray cluster at '127.0.0.1:{port}': nothing answers"):
        run_jobs(lambda c, x, *, log: x, {}, [(1,)], ray_address=f"127.0.0.1:{port}", log=lambda m: None)
    assert time.perf_counter() - t0 < 30  # not Ray's minute of retries


def test_the_report_refuses_a_nan_model_before_its_points(d, capsys):
    msg = _one_line(["report", "--model", "hostmods:nans", "--data", str(d / "good.npz"), "--formats", "dfp",
                     "--widths", "4", "--workers", "1", "--no-ice40", "--out", str(d / "r")], capsys)
    assert "The float model's output is nan" in msg


def test_hw_verify_says_what_it_covered(d, capsys):
    spec = {"a": {"kind": "dfp", "bits": 12, "frac_bits": 6}, "w": {"kind": "dfp", "bits": 12, "frac_bits": 6},
            "out": {"kind": "dfp", "bits": 12, "frac_bits": 6}, "acc_bits": 30}
    (d / "wide.json").write_text(json.dumps(spec))
    assert main(["hw", "verify", str(d / "wide.json"), "--amaranth", "--random", "200"]) == 0
    out = capsys.readouterr().out
    assert "no exhaustive pairs" in out and "200 random accumulation vectors" in out and "PASS" in out


def test_hw_synth_quotes_power_at_a_clock_the_unit_meets(d, capsys):
    from tiers import OSU018, need

    need(("yosys", "yosys-abc", "sta"), (OSU018,))
    assert main(["hw", "synth", "fixed8", "--clock-mhz", "9000", "--no-ice40", "--build-dir", str(d / "s")]) == 0
    out = capsys.readouterr().out
    power = next(line for line in out.splitlines() if line.startswith("power"))
    assert "(its fmax: it cannot run at the 9000 MHz asked)" in power and " 0.000 mW" not in power


def test_a_full_disk_while_saving_the_model_is_one_line_and_leaves_nothing_half_written(d, capsys, monkeypatch):
    def full(obj, f, *args, **kw):  # what torch.save does when the disk fills up mid-file
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a file")
        raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed unexpected pos 128 vs 0")

    monkeypatch.setattr(torch, "save", full)
    msg = _one_line(["quantize", "--model", "hostmods:Tiny", "--data", str(d / "good.npz"), "--widths", "8,8,8",
                     "--out", str(d / "q")], capsys)
    assert "the disk is full" in msg
    left = sorted(p.name for p in (d / "q").iterdir())
    assert "model.pt" not in left and not any(n.endswith(".tmp") for n in left), left


@pytest.mark.parametrize("kind", ["torchscript", "weights"])
def test_a_model_archive_that_inflates_past_the_limit_is_refused_unread(d, capsys, monkeypatch, kind):
    path = d / "bomb.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb/data/0", b"\0" * (32 << 20))  # 32 MiB of zeros deflate to about 32 KB
    monkeypatch.setenv("RISTRETTO_MAX_DATA_GB", "0.01")
    argv = ["--model", str(path)] if kind == "torchscript" else ["--model", "hostmods:Tiny", "--weights", str(path)]
    msg = _one_line(["quantize", *argv, "--data", str(d / "good.npz"), "--out", str(d / "q")], capsys)
    assert "inflates to 32.0 MiB, over the limit of 10.2 MiB; raise RISTRETTO_MAX_DATA_GB" in msg
