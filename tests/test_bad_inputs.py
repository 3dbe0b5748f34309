"""Bad input at every boundary: one line naming the problem and the fix, a non-zero exit, never a traceback.

Each case runs the CLI in-process (``main(argv)``) against files built once per
session: data, models, weights, configs, MAC specs and liberty files, each broken
in one way. ``{d}`` in an argv stands for that folder.
"""

import json
import os
import pickle
import struct
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

from ristretto.cli import main

MODELS = textwrap.dedent('''
    import torch
    from torch import nn
    import torch.nn.functional as F


    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.fc = nn.Linear(4 * 6 * 6, 3)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).flatten(1))


    class Pair(Tiny):
        def forward(self, x):
            y = super().forward(x)
            return y, y.sum(1)


    class Keyed(Tiny):
        def forward(self, x):
            return {"logits": super().forward(x)}


    class WithLstm(Tiny):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(3, 3, batch_first=True)

        def forward(self, x):
            y = super().forward(x)
            return self.rnn(y[:, None])[0][:, 0]


    class Functional(Tiny):
        def __init__(self):
            super().__init__()
            self.kernel = nn.Parameter(torch.randn(4, 4, 1, 1))

        def forward(self, x):
            x = torch.relu(F.conv2d(self.conv(x), self.kernel))
            return self.fc(x.flatten(1))


    def tiny():
        torch.manual_seed(0)
        return Tiny()


    def pair():
        torch.manual_seed(0)
        return Pair()


    def keyed():
        torch.manual_seed(0)
        return Keyed()


    def lstm():
        torch.manual_seed(0)
        return WithLstm()


    def functional():
        torch.manual_seed(0)
        return Functional()


    def no_layers():
        return nn.Sequential(nn.ReLU())


    def raises():
        raise RuntimeError("factory exploded")


    def not_a_module():
        return 42


    NOT_CALLABLE = 3
''')


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _npz(path, **arrays):
    np.savez(path, **arrays)


@pytest.fixture(scope="session")
def d(tmp_path_factory):
    """The folder of bad (and a few good) inputs."""
    root = tmp_path_factory.mktemp("bad inputs é")  # a space and a non-ASCII character on purpose
    (root / "badmods.py").write_text(MODELS)
    (root / "syntaxmod.py").write_text("def f(:\n    pass\n")
    (root / "importboom.py").write_text("raise ImportError('needs a GPU driver')\n")
    (root / "zerodiv.py").write_text("x = 1 / 0\n")
    rng = np.random.default_rng(0)
    x_t, x_v = rng.random((60, 1, 8, 8), np.float32), rng.random((30, 1, 8, 8), np.float32)
    y_t, y_v = rng.integers(0, 3, 60), rng.integers(0, 3, 30)
    good = {"x_train": x_t, "y_train": y_t, "x_val": x_v, "y_val": y_v}
    _npz(root / "good.npz", **good)
    _npz(root / "nhwc.npz", **{**good, "x_train": x_t.transpose(0, 2, 3, 1), "x_val": x_v.transpose(0, 2, 3, 1)})
    _npz(root / "rgb.npz", **{**good, "x_train": np.repeat(x_t, 3, 1), "x_val": np.repeat(x_v, 3, 1)})
    _npz(root / "size.npz", **{**good, "x_train": rng.random((60, 1, 9, 9)), "x_val": rng.random((30, 1, 9, 9))})
    _npz(root / "empty_val.npz", **{**good, "x_val": np.zeros((0, 1, 8, 8)), "y_val": np.zeros(0, int)})
    _npz(root / "empty_train.npz", **{**good, "x_train": np.zeros((0, 1, 8, 8)), "y_train": np.zeros(0, int)})
    _npz(root / "labels_high.npz", **{**good, "y_val": y_v + 5})
    _npz(root / "labels_1based.npz", **{**good, "y_train": y_t + 1, "y_val": y_v + 1})
    _npz(root / "labels_neg.npz", **{**good, "y_train": y_t - 1})
    _npz(root / "labels_frac.npz", **{**good, "y_val": y_v + 0.5})
    _npz(root / "labels_text.npz", **{**good, "y_val": np.array(["a"] * 30)})
    _npz(root / "labels_2d.npz", **{**good, "y_val": np.zeros((30, 3), int)})
    _npz(root / "labels_short.npz", **{**good, "y_val": y_v[:10]})
    _npz(root / "nan.npz", **{**good, "x_val": np.where(x_v > 0.5, np.nan, x_v)})
    _npz(root / "inf.npz", **{**good, "x_train": np.where(x_t > 0.9, np.inf, x_t)})
    _npz(root / "x_2d.npz", **{**good, "x_val": x_v.reshape(30, -1)})
    _npz(root / "x_5d.npz", **{**good, "x_val": x_v[:, None]})
    _npz(root / "x_text.npz", **{**good, "x_val": np.array(["pixel"] * 30)})
    _npz(root / "missing.npz", x_train=x_t)
    _npz(root / "shape_mismatch.npz", **{**good, "x_val": rng.random((30, 1, 8, 7))})
    np.savez(root / "objects.npz", **{**good, "x_val": np.array([None] * 30, dtype=object)})
    (root / "zero.npz").write_bytes(b"")
    (root / "truncated.npz").write_bytes((root / "good.npz").read_bytes()[:300])
    (root / "text.npz").write_text("x_train,y_train\n1,2\n")
    _npz(root / "one.npz", **{k: v[:1] for k, v in good.items()})
    # CIFAR folders
    for name, payload in (("cifar_evil", pickle.dumps({b"x": _Evil()}, protocol=2)),
                          ("cifar_text", b"this is not a pickle\n"),
                          ("cifar_wrong", pickle.dumps({b"data": [1, 2, 3]}, protocol=2)),
                          ("cifar_objects", pickle.dumps({b"data": np.array([object()], dtype=object),
                                                          b"labels": [1]}, protocol=2)),
                          ("cifar_shape", pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]},
                                                       protocol=2))):
        (root / name).mkdir()
        for f in ("data_batch_1", "test_batch"):
            (root / name / f).write_bytes(payload)
    (root / "cifar_nobatch").mkdir()
    (root / "cifar_nobatch" / "test_batch").write_bytes(b"")
    # image folders
    from PIL import Image

    for split in ("train", "val"):
        for c in ("a", "b"):
            (root / "images" / split / c).mkdir(parents=True)
            Image.new("L", (8, 8), 40).save(root / "images" / split / c / "x.png")
    (root / "images" / "train" / "a" / "notes.txt").write_text("not an image")
    (root / "images_empty" / "train").mkdir(parents=True)
    (root / "images_empty" / "val").mkdir()
    # MNIST IDX folders
    (root / "idx_trunc").mkdir()
    (root / "idx_trunc" / "train-images-idx3-ubyte").write_bytes(struct.pack(">HBBIII", 0, 8, 3, 10, 8, 8) + b"x" * 9)
    (root / "idx_text").mkdir()
    (root / "idx_text" / "train-images-idx3-ubyte").write_text("hello")
    (root / "a_file.txt").write_text("not data")
    (root / "plain_dir").mkdir()
    # weights
    sys.path.insert(0, str(root))
    try:
        import badmods
    finally:
        sys.path.remove(str(root))
    sd = badmods.tiny().state_dict()
    torch.save(sd, root / "tiny.pt")
    torch.save({"model": sd, "epoch": 3}, root / "ckpt_model.pt")
    torch.save({"state_dict": sd, "epoch": 3}, root / "ckpt_state.pt")
    torch.save({f"module.{k}": v for k, v in sd.items()}, root / "ckpt_dp.pt")
    torch.save({k: v for k, v in sd.items() if k != "fc.bias"}, root / "w_missing.pt")
    torch.save({**sd, "extra.weight": torch.zeros(1)}, root / "w_extra.pt")
    torch.save({**sd, "fc.weight": torch.zeros(3, 5)}, root / "w_shape.pt")
    torch.save({**sd, "conv.weight": torch.full_like(sd["conv.weight"], float("nan"))}, root / "w_nan.pt")
    torch.save({"x": _Evil()}, root / "w_evil.pt")
    torch.save({"epoch": 3, "lr": 0.1}, root / "w_nostate.pt")
    torch.save([1, 2, 3], root / "w_list.pt")
    (root / "w_zero.pt").write_bytes(b"")
    (root / "w_text.pt").write_text("weights")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript
        torch.jit.save(torch.jit.trace(badmods.tiny(), torch.zeros(1, 1, 8, 8)), root / "tiny_script.pt")
    (root / "fake_script.pt").write_text("not torchscript")
    (root / "fake.onnx").write_bytes(b"\x08\x07garbage that is no protobuf")
    # configs
    cfgs = {"cfg_syntax.json": "{", "cfg_empty.json": "", "cfg_list.json": "[1, 2]",
            "cfg_missing.json": json.dumps({"scheme": "dfp"}),
            "cfg_scheme.json": json.dumps({"scheme": "int4", "widths": {}, "layers": {"conv": {}}}),
            "cfg_widths.json": json.dumps({"scheme": "dfp", "widths": {"conv_w": "8"}, "layers": {"conv": {}}}),
            "cfg_layers.json": json.dumps({"scheme": "dfp", "widths": {}, "layers": []}),
            "cfg_badfmt.json": json.dumps({"scheme": "dfp", "widths": {}, "layers": {
                "conv": {"weight": {"kind": "dfp", "bits": 99, "frac_bits": 1}}}}),
            "cfg_badkind.json": json.dumps({"scheme": "dfp", "widths": {}, "layers": {
                "conv": {"weight": {"kind": "int", "bits": 8}}}}),
            "cfg_badgroup.json": json.dumps({"scheme": "dfp", "widths": {}, "layers": {"conv": {"weights": None}}}),
            "cfg_scheme_vs_layer.json": json.dumps({"scheme": "dfp", "widths": {}, "layers": {
                "conv": {"weight": {"kind": "minifloat", "exp_bits": 4, "man_bits": 3}}}}),
            "cfg_pow2_input.json": json.dumps({"scheme": "pow2", "widths": {}, "layers": {
                "conv": {"input": {"kind": "pow2", "bits": 4, "exp_min": -4, "exp_max": 2}}}}),
            "cfg_mx_output.json": json.dumps({"scheme": "mx", "widths": {}, "layers": {
                "conv": {"output": {"kind": "dfp", "bits": 8, "frac_bits": 4}}}}),
            "cfg_notdict.json": json.dumps({"scheme": "dfp", "widths": {}, "layers": {"conv": 8}}),
            "cfg_binary.json": None}
    dfp = {"kind": "dfp", "bits": 8, "frac_bits": 4}
    full = {"input": dfp, "weight": dfp, "bias": {"kind": "dfp", "bits": 16, "frac_bits": 8}, "output": dfp}
    cfgs["cfg_omits.json"] = json.dumps({"scheme": "dfp", "widths": {}, "layers": {"conv": full}})
    cfgs["cfg_unknown.json"] = json.dumps({"scheme": "dfp", "widths": {}, "layers": {"conv": full, "fc": full,
                                                                                     "nope": full}})
    dfp6 = {"kind": "dfp", "bits": 6, "frac_bits": 3}
    cfgs["cfg_dfp6.json"] = json.dumps({"scheme": "dfp", "widths": {}, "layers": {
        n: {"input": dfp6, "weight": dfp6, "bias": full["bias"], "output": dfp6} for n in ("conv", "fc")}})
    cfgs["cfg_good.json"] = json.dumps({"scheme": "dfp", "widths": {"conv_w": 8, "fc_w": 8, "act": 8},
                                        "layers": {"conv": full, "fc": full}})
    cfgs["cfg_nobias.json"] = json.dumps({"scheme": "dfp", "widths": {}, "layers": {
        "conv": full, "fc": {**full, "bias": None}}})
    for name, text in cfgs.items():
        if text is None:
            (root / name).write_bytes(b"\xff\xfe\x00garbage")
        else:
            (root / name).write_text(text)
    # MAC specs
    a = {"kind": "dfp", "bits": 8, "frac_bits": 4}
    mf = {"kind": "minifloat", "exp_bits": 4, "man_bits": 3}
    specs = {"spec_syntax.json": "{\"a\": ", "spec_list.json": "[]", "spec_empty.json": "",
             "spec_unknown.json": {"a": a, "w": a, "out": a, "lanez": 4},
             "spec_stages.json": {"a": a, "w": a, "out": a, "stages": 3},
             "spec_bias.json": {"a": a, "w": a, "out": a, "bias": "yes"},
             "spec_narrow.json": {"a": a, "w": a, "out": a, "acc_bits": 12},
             "spec_wide.json": {"a": a, "w": a, "out": a, "acc_bits": 80},
             "spec_noa.json": {"w": a, "out": a},
             "spec_kind.json": {"a": {"kind": "bf16"}, "w": a, "out": a},
             "spec_strfmt.json": {"a": "dfp8", "w": a, "out": a},
             "spec_overflow.json": {"a": a, "w": a, "out": a, "overflow": "clip"},
             "spec_family.json": {"family": "systolic", "a": a, "w": a, "out": a},
             "spec_mf_acc.json": {"family": "minifloat", "a": mf, "w": mf, "out": mf, "accumulator": "exact",
                                  "acc_bits": 80},
             "spec_mf_narrow.json": {"family": "minifloat", "a": mf, "w": mf, "out": mf, "accumulator": "exact",
                                     "acc_bits": 20},
             "spec_mf_kind.json": {"family": "minifloat", "a": a, "w": mf, "out": mf},
             "spec_f32.json": {"family": "float32", "a": a},
             "spec_pow2wide.json": {"a": a, "out": a,
                                    "w": {"kind": "pow2", "bits": 8, "exp_min": -120, "exp_max": 1, "zero": False}}}
    for name, content in specs.items():
        (root / name).write_text(content if isinstance(content, str) else json.dumps(content))
    (root / "spec_good.json").write_text(json.dumps({"a": a, "w": a, "out": a}))
    # liberty files
    (root / "lib_empty.lib").write_text("")
    (root / "lib_comment.lib").write_text("/* only a comment */\n")
    (root / "lib_trunc.lib").write_text("library (x) {\n  cell (INV) {\n    area : 1;\n")
    (root / "lib_text.lib").write_text("hello world\n")
    (root / "lib_nocell.lib").write_text("library (x) { time_unit : \"1ns\"; }\n")
    return root


Q = ["quantize", "--model", "badmods:tiny", "--weights", "{d}/tiny.pt", "--data", "{d}/good.npz", "--out",
     "{d}/out"]


def q(*extra, model="badmods:tiny", weights="{d}/tiny.pt", data="{d}/good.npz"):
    argv = ["quantize"]
    if model:
        argv += ["--model", model]
    if weights:
        argv += ["--weights", weights]
    if data:
        argv += ["--data", data]
    return argv + ["--out", "{d}/out", *extra]


def r(*extra, data="{d}/good.npz"):
    argv = ["report", "--model", "badmods:tiny", "--weights", "{d}/tiny.pt", "--out", "{d}/rep"]
    if data:
        argv += ["--data", data]
    return argv + list(extra)


# (case id, class, argv, a fragment the one-line message must contain)
CASES = [
    # -- data ---------------------------------------------------------------------------------------
    ("data-missing-path", "data", q(data="{d}/nope.npz"), "does not exist"),
    ("data-zero-byte-npz", "data", q(data="{d}/zero.npz"), "not a readable .npz"),
    ("data-truncated-npz", "data", q(data="{d}/truncated.npz"), "not a readable .npz"),
    ("data-text-as-npz", "data", q(data="{d}/text.npz"), "not a readable .npz"),
    ("data-object-arrays", "data", q(data="{d}/objects.npz"), "refusing to run code"),
    ("data-missing-keys", "data", q(data="{d}/missing.npz"), "lacks arrays"),
    ("data-empty-val", "data", q(data="{d}/empty_val.npz"), "x_val is empty"),
    ("data-empty-train", "data", q(data="{d}/empty_train.npz"), "x_train is empty"),
    ("data-nan", "data", q(data="{d}/nan.npz"), "non-finite"),
    ("data-inf", "data", q(data="{d}/inf.npz"), "non-finite"),
    ("data-labels-frac", "data", q(data="{d}/labels_frac.npz"), "non-integer labels"),
    ("data-labels-text", "data", q(data="{d}/labels_text.npz"), "not integer class labels"),
    ("data-labels-2d", "data", q(data="{d}/labels_2d.npz"), "1-D label array"),
    ("data-labels-short", "data", q(data="{d}/labels_short.npz"), "1-D label array as long as"),
    ("data-labels-negative", "data", q(data="{d}/labels_neg.npz"), "negative labels"),
    ("data-x-2d", "data", q(data="{d}/x_2d.npz"), "differ in shape"),
    ("data-x-5d", "data", q(data="{d}/x_5d.npz"), "expected [N, C, H, W]"),
    ("data-x-text", "data", q(data="{d}/x_text.npz"), "not numbers"),
    ("data-train-val-shapes", "data", q(data="{d}/shape_mismatch.npz"), "differ in shape"),
    ("data-plain-file", "data", q(data="{d}/a_file.txt"), "Cannot read"),
    ("data-plain-dir", "data", q(data="{d}/plain_dir"), "Cannot read"),
    ("data-cifar-malicious", "data", q(data="{d}/cifar_evil"), "nothing in it was run"),
    ("data-cifar-text", "data", q(data="{d}/cifar_text"), "not a plain data pickle"),
    ("data-cifar-wrong-dict", "data", q(data="{d}/cifar_wrong"), "b'labels'"),
    ("data-cifar-objects", "data", q(data="{d}/cifar_objects"), "not a plain data pickle"),
    ("data-cifar-shape", "data", q(data="{d}/cifar_shape"), "3x32x32"),
    ("data-cifar-no-train", "data", q(data="{d}/cifar_nobatch"), "no data_batch_"),
    ("data-image-non-image", "data", q(data="{d}/images"), "is not an image"),
    ("data-image-no-classes", "data", q(data="{d}/images_empty"), "no class folders"),
    ("data-idx-truncated", "data", q(data="{d}/idx_trunc"), "truncated"),
    ("data-idx-text", "data", q(data="{d}/idx_text"), "IDX"),
    ("report-data-missing", "data", r(data="{d}/nope.npz"), "does not exist"),
    ("report-data-nan", "data", r(data="{d}/nan.npz"), "non-finite"),
    ("report-data-zero-byte", "data", r(data="{d}/zero.npz"), "not a readable .npz"),
    # -- model and data together ---------------------------------------------------------------------
    ("fit-nhwc", "model+data", q(data="{d}/nhwc.npz"), "channels-last"),
    ("fit-wrong-channels", "model+data", q(data="{d}/rgb.npz"), "1 input channels"),
    ("fit-wrong-size", "model+data", q(data="{d}/size.npz"), "does not accept inputs of shape"),
    ("fit-labels-out-of-range", "model+data", q(data="{d}/labels_high.npz"), "could never be scored"),
    ("fit-labels-1-based", "model+data", q(data="{d}/labels_1based.npz"), "subtract 1"),
    ("fit-topk-above-classes", "model+data", q("--topk", "4"), "--topk must be in 1..3"),
    ("fit-output-index", "model+data", q("--output", "5", model="badmods:pair", weights=None), "--output must be"),
    ("fit-output-key", "model+data", q("--output", "nope", model="badmods:keyed", weights=None), "not a key"),
    ("fit-dict-no-output", "model+data", q(model="badmods:keyed", weights=None), "choose one with --output"),
    ("fit-output-1d", "model+data", q("--output", "1", model="badmods:pair", weights=None), "[batch, classes]"),
    ("fit-output-single", "model+data", q("--output", "2"), "single tensor"),
    ("report-nhwc", "model+data", r(data="{d}/nhwc.npz"), "channels-last"),
    ("report-labels-high", "model+data", r(data="{d}/labels_high.npz"), "could never be scored"),
    # -- model ---------------------------------------------------------------------------------------
    ("model-no-colon", "model", q(model="badmods", weights=None), "must look like package.module:factory"),
    ("model-two-colons", "model", q(model="a:b:c", weights=None), "must look like"),
    ("model-empty-attr", "model", q(model="badmods:", weights=None), "must look like"),
    ("model-empty-module", "model", q(model=":tiny", weights=None), "must look like"),
    ("model-no-module", "model", q(model="no_such_module_xyz:f", weights=None), "no such module"),
    ("model-syntax-error", "model", q(model="syntaxmod:f", weights=None), "SyntaxError"),
    ("model-import-raises", "model", q(model="importboom:f", weights=None), "needs a GPU driver"),
    ("model-import-zerodiv", "model", q(model="zerodiv:f", weights=None), "ZeroDivisionError"),
    ("model-no-attr", "model", q(model="badmods:nothing", weights=None), "no callable 'nothing'"),
    ("model-not-callable", "model", q(model="badmods:NOT_CALLABLE", weights=None), "no callable"),
    ("model-factory-raises", "model", q(model="badmods:raises", weights=None), "factory exploded"),
    ("model-not-module", "model", q(model="badmods:not_a_module", weights=None), "not a torch.nn.Module"),
    ("model-no-layers", "model", q(model="badmods:no_layers", weights=None), "no Conv1d, Conv2d, Linear"),
    ("model-script-missing", "model", q(model="{d}/nope.pt", weights=None), "does not exist"),
    ("model-script-fake", "model", q(model="{d}/fake_script.pt", weights=None), "not a TorchScript file"),
    ("model-state-dict-as-model", "model", q(model="{d}/tiny.pt", weights=None), "holds weights (a state_dict)"),
    ("model-weights-without-model", "model", q(model=None), "--weights needs --model"),
    ("model-weights-with-script", "model", q(model="{d}/tiny_script.pt"), "cannot be combined"),
    ("weights-missing-file", "model", q(weights="{d}/nope.pt"), "does not exist"),
    ("weights-missing-keys", "model", q(weights="{d}/w_missing.pt"), "missing keys fc.bias"),
    ("weights-extra-keys", "model", q(weights="{d}/w_extra.pt"), "unexpected keys extra.weight"),
    ("weights-mis-shaped", "model", q(weights="{d}/w_shape.pt"), "mis-shaped keys"),
    ("weights-nan", "model", q(weights="{d}/w_nan.pt"), "weights hold NaN or inf in conv.weight"),
    ("weights-malicious", "model", q(weights="{d}/w_evil.pt"), "does not load as plain tensors"),
    ("weights-no-state", "model", q(weights="{d}/w_nostate.pt"), "hold no state_dict"),
    ("weights-list", "model", q(weights="{d}/w_list.pt"), "hold no state_dict"),
    ("weights-zero-byte", "model", q(weights="{d}/w_zero.pt"), "does not load as plain tensors"),
    ("weights-text", "model", q(weights="{d}/w_text.pt"), "does not load as plain tensors"),
    ("strict-lstm", "model", q("--strict", model="badmods:lstm", weights=None), "rnn (LSTM"),
    ("strict-functional", "model", q("--strict", model="badmods:functional", weights=None), "(model) (Functional"),
    ("model-onnx-fake", "model", q(model="{d}/fake.onnx", weights=None), "is not a valid ONNX model"),
    ("model-onnx-missing", "model", q(model="{d}/nope.onnx", weights=None), "ONNX file"),
    ("model-onnx-with-weights", "model", q(model="{d}/fake.onnx"), "cannot be combined with the ONNX file"),
    ("report-model-bad", "model", ["report", "--model", "badmods:raises", "--out", "{d}/rep"], "factory exploded"),
    ("report-weights-alone", "model", ["report", "--weights", "{d}/tiny.pt", "--out", "{d}/rep"],
     "--weights needs --model"),
    # -- options -------------------------------------------------------------------------------------
    ("opt-topk-zero", "options", q("--topk", "0"), "--topk must be in 1..100000, not 0"),
    ("opt-topk-negative", "options", q("--topk", "-2"), "--topk must be in 1..100000"),
    ("opt-topk-text", "options", q("--topk", "two"), "invalid int value"),
    ("opt-finetune-negative", "options", q("--finetune-epochs", "-1"), "--finetune-epochs must be in 0..1000"),
    ("opt-finetune-huge", "options", q("--finetune-epochs", "100000"), "--finetune-epochs must be in 0..1000"),
    ("opt-margin-negative", "options", q("--error-margin", "-1"), "--error-margin must be"),
    ("opt-margin-nan", "options", q("--error-margin", "nan"), "--error-margin must be"),
    ("opt-margin-inf", "options", q("--error-margin", "inf"), "--error-margin must be"),
    ("opt-margin-above-100", "options", q("--error-margin", "150"), "--error-margin must be"),
    ("opt-margin-text", "options", q("--error-margin", "one"), "invalid float value"),
    ("opt-format-unknown", "options", q("--format", "int4"), "invalid choice"),
    ("opt-mode-unknown", "options", q("--mode", "fast"), "invalid choice"),
    ("opt-rule-unknown", "options", q("--rule", "p99"), "invalid choice"),
    ("opt-device-unknown", "options", q("--device", "tpu"), "--device must be cpu or cuda"),
    ("opt-device-cuda", "options", q("--device", "cuda") if not torch.cuda.is_available() else
     q("--device", "tpu"), "--device"),
    ("opt-unknown-option", "options", q("--bits", "8"), "unrecognized arguments"),
    ("opt-no-out", "options", ["quantize"], "--out"),
    ("opt-quantize-widths-two", "options", q("--widths", "8,8"), "takes three widths CONV_W,FC_W,ACT"),
    ("opt-quantize-widths-text", "options", q("--widths", "8,8,x"), "'x' is not one"),
    ("opt-quantize-widths-high", "options", q("--widths", "8,8,40"), "2..16, not 40"),
    ("opt-quantize-widths-and-config", "options", q("--widths", "8,8,8", "--config", "{d}/cfg_good.json"),
     "give one"),
    ("opt-acc-bits-text", "options", q("--acc-bits", "wide"), "--acc-bits must be bound, observed or an integer"),
    ("opt-acc-bits-high", "options", q("--acc-bits", "64"), "--acc-bits must be bound, observed or an integer"),
    ("opt-acc-bits-narrow", "options", q("--acc-bits", "4", "--widths", "8,8,8"), "narrower than one product"),
    ("opt-acc-guard-negative", "options", q("--acc-guard", "-1"), "--acc-guard must be in 0..16"),
    ("opt-fp8-exact-accumulator", "options", q("--format", "fp8", "--accumulator", "exact"),
     "--accumulator exact cannot sum --format fp8: float8_e4m3fn has a NaN code"),
    ("opt-fp8e5m2-exact-accumulator", "options", q("--format", "fp8e5m2", "--accumulator", "exact"),
     "--accumulator exact cannot sum --format fp8e5m2: float8_e5m2 has a NaN code"),
    ("opt-report-fp8-no-width", "options", r("--formats", "fp8", "--widths", "6"),
     "--formats fp8 needs a width of 8 in --widths, not 6"),
    ("opt-report-mx-no-width", "options", r("--formats", "dfp,mx", "--widths", "10,12"),
     "--formats mx needs a width of 4, 6, 8 in --widths, not 10, 12"),
    ("opt-report-widths-float", "options", r("--widths", "4.5"), "--widths"),
    ("opt-report-widths-low", "options", r("--widths", "1,8"), "2..16"),
    ("opt-report-widths-high", "options", r("--widths", "8,17"), "2..16"),
    ("opt-report-widths-dup", "options", r("--widths", "8,8"), "twice"),
    ("opt-report-widths-empty", "options", r("--widths", ","), "at least one integer"),
    ("opt-report-widths-text", "options", r("--widths", "eight"), "'eight' is not one"),
    ("opt-report-formats-unknown", "options", r("--formats", "dfp,int4"), "'int4' is not one"),
    ("opt-report-formats-dup", "options", r("--formats", "dfp,pow2,dfp"), "more than once"),
    ("opt-report-formats-empty", "options", r("--formats", ","), "needs at least one"),
    ("opt-report-finetune-negative", "options", r("--finetune-epochs", "-3"), "--finetune-epochs"),
    ("opt-report-vectors-zero", "options", r("--verify-vectors", "0"), "--verify-vectors"),
    ("opt-paper-empty-range", "options", ["paper", "--min-width", "9", "--max-width", "5"], "range is empty"),
    ("opt-paper-min-low", "options", ["paper", "--min-width", "1"], "--min-width must be in 2..16"),
    ("opt-paper-max-high", "options", ["paper", "--max-width", "40"], "--max-width must be in 2..16"),
    ("opt-paper-finetune-negative", "options", ["paper", "--finetune-epochs", "-1"], "--finetune-epochs"),
    ("opt-synth-clock-zero", "options", ["hw", "synth", "fixed8", "--clock-mhz", "0"], "in 0.001..10000, not 0.0"),
    ("opt-synth-clock-negative", "options", ["hw", "synth", "fixed8", "--clock-mhz", "-5"],
     "--clock-mhz must be a number in 0.001..10000"),
    ("opt-synth-clock-nan", "options", ["hw", "synth", "fixed8", "--clock-mhz", "nan"],
     "--clock-mhz must be a number in 0.001..10000"),
    ("opt-synth-clock-inf", "options", ["hw", "synth", "fixed8", "--clock-mhz", "inf"],
     "--clock-mhz must be a number in 0.001..10000"),
    ("opt-verify-random-negative", "options", ["hw", "verify", "fixed8", "--random", "-1"], "--random must be"),
    ("opt-verify-nothing", "options", ["hw", "verify", "fixed8", "--fast", "--random", "0"], "No vectors"),
    ("opt-lenet-channels-zero", "options", ["hw", "verify-lenet", "--channels", "0"], "--channels must be"),
    ("opt-lenet-format", "options", ["hw", "verify-lenet", "--format", "fixed"], "invalid choice"),
    ("opt-demo-bits", "options", ["demo", "--bits", "99"], "--bits must be in 3..16"),
    ("opt-no-command", "options", [], "COMMAND"),
    ("opt-hw-no-command", "options", ["hw"], "HW_COMMAND"),
    ("opt-unknown-command", "options", ["quantise"], "invalid choice"),
    # -- config --------------------------------------------------------------------------------------
    ("config-missing", "config", q("--config", "{d}/nope.json"), "does not exist"),
    ("config-syntax", "config", q("--config", "{d}/cfg_syntax.json"), "not valid JSON"),
    ("config-empty", "config", q("--config", "{d}/cfg_empty.json"), "is empty"),
    ("config-binary", "config", q("--config", "{d}/cfg_binary.json"), "cannot be read as UTF-8"),
    ("config-list", "config", q("--config", "{d}/cfg_list.json"), "must be a JSON object"),
    ("config-missing-keys", "config", q("--config", "{d}/cfg_missing.json"), "missing keys ['widths', 'layers']"),
    ("config-scheme", "config", q("--config", "{d}/cfg_scheme.json"), "scheme must be one of"),
    ("config-widths", "config", q("--config", "{d}/cfg_widths.json"), "widths must map"),
    ("config-layers-list", "config", q("--config", "{d}/cfg_layers.json"), "layers must be a non-empty object"),
    ("config-bad-format", "config", q("--config", "{d}/cfg_badfmt.json"), "layers.conv: Word width"),
    ("config-bad-kind", "config", q("--config", "{d}/cfg_badkind.json"), "layers.conv: Format kind"),
    ("config-bad-group", "config", q("--config", "{d}/cfg_badgroup.json"), "unknown keys ['weights']"),
    ("config-scheme-vs-layer", "config", q("--config", "{d}/cfg_scheme_vs_layer.json"),
     "layers.conv.weight is a minifloat format, but the scheme 'dfp' gives weights dfp"),
    ("config-pow2-input", "config", q("--config", "{d}/cfg_pow2_input.json"),
     "layers.conv.input is a pow2 format, but the scheme 'pow2' gives inputs dfp"),
    ("config-mx-output", "config", q("--config", "{d}/cfg_mx_output.json"),
     "layers.conv.output is a dfp format, but the scheme 'mx' gives outputs none (float32)"),
    ("config-not-dict", "config", q("--config", "{d}/cfg_notdict.json"), "layers.conv must be an object"),
    ("config-omits-layer", "config", q("--config", "{d}/cfg_omits.json"), "no formats for layers ['fc']"),
    ("config-unknown-layer", "config", q("--config", "{d}/cfg_unknown.json"), "['nope']"),
    ("config-no-bias", "config", q("--config", "{d}/cfg_nobias.json"), "gives no bias format"),
    ("config-vs-format", "config", q("--config", "{d}/cfg_good.json", "--format", "pow2"), "contradicts the config"),
    ("export-config-missing", "config", ["export", "--to", "qonnx", "--config", "{d}/nope.json", "--out",
                                         "{d}/x.onnx"], "does not exist"),
    ("export-config-omits", "config", ["export", "--to", "qonnx", "--config", "{d}/cfg_omits.json", "--model",
                                       "badmods:tiny", "--data", "{d}/good.npz", "--out", "{d}/x.onnx"],
     "no formats for layers ['fc']"),
    ("export-qdq-inexpressible", "config", ["export", "--to", "qdq", "--config", "{d}/cfg_dfp6.json", "--model",
                                            "badmods:tiny", "--data", "{d}/good.npz", "--out", "{d}/x.onnx"],
     "not expressible as ONNX QuantizeLinear"),
    ("export-to-unknown", "options", ["export", "--to", "tflite", "--config", "{d}/cfg_good.json", "--out",
                                      "{d}/x.onnx"], "invalid choice"),
    ("export-out-not-onnx", "paths", ["export", "--to", "qonnx", "--config", "{d}/cfg_good.json", "--out",
                                      "{d}/x.txt"], "must name an .onnx file"),
    ("export-samples-negative", "options", ["export", "--to", "qonnx", "--config", "{d}/cfg_good.json",
                                            "--samples", "-1", "--out", "{d}/x.onnx"], "--samples must be"),
    # -- MAC specs -----------------------------------------------------------------------------------
    ("spec-unknown-preset", "spec", ["hw", "generate", "fixed7", "--out", "{d}/hw"], "must be a preset"),
    ("spec-missing-file", "spec", ["hw", "generate", "{d}/nope.json", "--out", "{d}/hw"], "must be a preset"),
    ("spec-syntax", "spec", ["hw", "generate", "{d}/spec_syntax.json", "--out", "{d}/hw"], "not valid JSON"),
    ("spec-empty", "spec", ["hw", "generate", "{d}/spec_empty.json", "--out", "{d}/hw"], "is empty"),
    ("spec-list", "spec", ["hw", "generate", "{d}/spec_list.json", "--out", "{d}/hw"], "must be a JSON object"),
    ("spec-lanes-zero", "options", ["hw", "generate", "fixed8", "--lanes", "0", "--out", "{d}/hw"],
     "lanes must be an integer in 1..64, not 0"),
    ("spec-lanes-65", "options", ["hw", "verify", "fixed8", "--lanes", "65", "--amaranth"],
     "lanes must be an integer in 1..64, not 65"),
    ("opt-quantize-lanes", "options", ["quantize", "--lanes", "0", "--out", "{d}/q"], "--lanes must be"),
    ("opt-quantize-accumulator", "options", ["quantize", "--accumulator", "fp16", "--out", "{d}/q"],
     "--accumulator must be one of auto, exact, fp32, not 'fp16'"),
    ("spec-unknown-key", "spec", ["hw", "generate", "{d}/spec_unknown.json", "--out", "{d}/hw"],
     "unknown keys ['lanez']"),
    ("spec-stages", "spec", ["hw", "generate", "{d}/spec_stages.json", "--out", "{d}/hw"], "stages must be 0, 1 or 2"),
    ("spec-bias", "spec", ["hw", "generate", "{d}/spec_bias.json", "--out", "{d}/hw"], "bias must be true or false"),
    ("spec-acc-narrow", "spec", ["hw", "generate", "{d}/spec_narrow.json", "--out", "{d}/hw"],
     "cannot hold one product"),
    ("spec-acc-wide", "spec", ["hw", "generate", "{d}/spec_wide.json", "--out", "{d}/hw"], "[2, 53]"),
    ("spec-no-a", "spec", ["hw", "generate", "{d}/spec_noa.json", "--out", "{d}/hw"], "missing ['a']"),
    ("spec-bad-kind", "spec", ["hw", "generate", "{d}/spec_kind.json", "--out", "{d}/hw"], "Format kind"),
    ("spec-format-string", "spec", ["hw", "generate", "{d}/spec_strfmt.json", "--out", "{d}/hw"], "must be a dict"),
    ("spec-overflow", "spec", ["hw", "generate", "{d}/spec_overflow.json", "--out", "{d}/hw"], "'clip'"),
    ("spec-family", "spec", ["hw", "generate", "{d}/spec_family.json", "--out", "{d}/hw"], "'systolic'"),
    ("spec-minifloat-acc-wide", "spec", ["hw", "generate", "{d}/spec_mf_acc.json", "--out", "{d}/hw"],
     "must be an integer in [37, 53]"),
    ("spec-minifloat-acc-narrow", "spec", ["hw", "generate", "{d}/spec_mf_narrow.json", "--out", "{d}/hw"],
     "must be an integer in [37, 53]"),
    ("spec-minifloat-dfp", "spec", ["hw", "generate", "{d}/spec_mf_kind.json", "--out", "{d}/hw"],
     "must be a Minifloat"),
    ("spec-float32-params", "spec", ["hw", "generate", "{d}/spec_f32.json", "--out", "{d}/hw"],
     "takes only lanes, not ['a']"),
    ("spec-pow2-too-wide", "spec", ["hw", "generate", "{d}/spec_pow2wide.json", "--out", "{d}/hw"],
     "more than the 53-bit"),
    ("spec-verify-bad", "spec", ["hw", "verify", "{d}/spec_narrow.json", "--fast"], "cannot hold one product"),
    ("spec-synth-bad", "spec", ["hw", "synth", "{d}/spec_stages.json"], "stages must be"),
    ("formats-bad-json", "spec", ["formats", "{dfp"], "must be JSON"),
    ("formats-bad-kind", "spec", ["formats", '{"kind": "int"}'], "Format kind"),
    ("formats-bad-bits", "spec", ["formats", '{"kind": "dfp", "bits": 99, "frac_bits": 5}'], "Word width"),
    ("formats-not-object", "spec", ["formats", "[1]"], "must be a dict"),
    ("formats-mx-no-element", "spec", ["formats", '{"kind": "mx"}'], "needs 'element'"),
    ("formats-mx-bad-element", "spec", ["formats", '{"kind": "mx", "element": {"kind": "dfp", "bits": 16, '
                                                   '"frac_bits": 2}}'], "at most 8 bits"),
    ("formats-mx-block", "spec", ["formats", '{"kind": "mx", "element": {"kind": "e8m0"}, "block_size": 32}'],
     "must be a Minifloat or DynamicFixedPoint"),
    ("formats-e8m0-params", "spec", ["formats", '{"kind": "e8m0", "bits": 8}'], "Unknown parameter"),
    # -- liberty -------------------------------------------------------------------------------------
    ("liberty-folder", "liberty", ["hw", "synth", "fixed8", "--liberty", "{d}/plain_dir"], "is a folder"),
    ("liberty-missing", "liberty", ["hw", "synth", "fixed8", "--liberty", "{d}/nope.lib"], "does not exist"),
    ("liberty-empty", "liberty", ["hw", "synth", "fixed8", "--liberty", "{d}/lib_empty.lib"], "is empty"),
    ("liberty-comment", "liberty", ["hw", "synth", "fixed8", "--liberty", "{d}/lib_comment.lib"], "is empty"),
    ("liberty-truncated", "liberty", ["hw", "synth", "fixed8", "--liberty", "{d}/lib_trunc.lib"], "truncated"),
    ("liberty-text", "liberty", ["hw", "synth", "fixed8", "--liberty", "{d}/lib_text.lib"], "not a liberty file"),
    ("liberty-no-cell", "liberty", ["hw", "synth", "fixed8", "--liberty", "{d}/lib_nocell.lib"], "defines no cell"),
    # -- paths ---------------------------------------------------------------------------------------
    ("path-out-is-file", "paths", ["quantize", "--out", "{d}/a_file.txt"], "is a file, not a folder"),
    ("path-out-under-file", "paths", ["quantize", "--out", "{d}/a_file.txt/sub"], "is not writable"),
    ("path-report-out-file", "paths", ["report", "--out", "{d}/a_file.txt"], "is a file, not a folder"),
    ("path-generate-out-file", "paths", ["hw", "generate", "fixed8", "--out", "{d}/a_file.txt"], "is a file"),
]


def _argv(argv, d):
    return [a.replace("{d}", str(d)) for a in argv]


@pytest.mark.parametrize(("argv", "fragment"), [c[2:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_with_one_line(d, argv, fragment, capsys, monkeypatch):
    monkeypatch.chdir(d)
    with pytest.raises(SystemExit) as exc:
        main(_argv(argv, d))
    cap = capsys.readouterr()
    code = exc.value.code
    assert code not in (0, None)
    message = code if isinstance(code, str) else cap.err.strip()
    assert "Traceback" not in cap.err + cap.out
    lines = [ln for ln in message.splitlines() if ln.strip()]
    assert len(lines) == 1, message
    assert len(message.replace(str(d), "{d}")) <= 300, f"{len(message)} characters: {message}"
    assert fragment.replace("{d}", str(d)) in message, message
    assert not (d / "PWNED").exists()  # nothing in a data or weights file ran


def test_the_suite_covers_every_class():
    classes = {c[1] for c in CASES}
    assert classes == {"data", "model+data", "model", "options", "config", "spec", "liberty", "paths"}
    assert len(CASES) >= 175
    assert len({c[0] for c in CASES}) == len(CASES)


def test_ctrl_c_exits_130_in_one_line(monkeypatch, capsys):
    import ristretto.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_describe", interrupted)
    with pytest.raises(SystemExit) as exc:
        main(["formats", '{"kind": "dfp", "bits": 8, "frac_bits": 5}'])
    assert exc.value.code == 130
    assert capsys.readouterr().err == "ristretto formats: interrupted\n"


def test_accepted_unusual_inputs(d, monkeypatch, capsys):
    """Checkpoints in common layouts, and a one-image data set, work."""
    monkeypatch.chdir(d)
    for ckpt in ("ckpt_model.pt", "ckpt_state.pt", "ckpt_dp.pt"):
        assert main(_argv(q("--error-margin", "100", weights="{d}/" + ckpt), d)) == 0
    assert main(_argv(q("--error-margin", "100", data="{d}/one.npz"), d)) == 0
    assert main(_argv(q("--error-margin", "100", "--config", "{d}/cfg_good.json"), d)) == 0
    capsys.readouterr()
