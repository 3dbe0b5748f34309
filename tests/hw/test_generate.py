"""Verilog emission: reproducible bytes, manifest contents, spec errors."""

import json

import pytest
from ristretto.hw import PRESETS, generate
from ristretto.hw.generate import load_spec


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_verilog_is_reproducible_and_has_no_paths(preset, tmp_path):
    v1, j1 = generate(preset, tmp_path / "one")
    v2, _ = generate(preset, tmp_path / "two")
    assert v1.read_bytes() == v2.read_bytes()
    text = v1.read_text()
    assert "/" + "work" not in text and str(tmp_path) not in text and ".py:" not in text
    assert f"module {json.loads(j1.read_text())['module']}(" in text


def test_float_manifests(tmp_path):
    m = json.loads(generate("minifloat8", tmp_path)[1].read_text())
    assert m["accumulator"] == {"kind": "fp32"} and m["ports"]["acc"] == 32 and m["signed_ports"] == []
    assert m["a"] == {"kind": "minifloat", "exp_bits": 4, "man_bits": 3, "bias": 7, "subnormals": False,
                      "inf_nan": False}
    m = json.loads(generate("float32", tmp_path)[1].read_text())
    assert m["module"] == "mac_float32_st0" and m["a"]["exp_bits"] == 8 and m["a"]["man_bits"] == 23
    exact = dict(PRESETS["minifloat8"], accumulator="exact", acc_bits=40)
    m = json.loads(generate(exact, tmp_path)[1].read_text())
    assert m["accumulator"] == {"kind": "int", "bits": 40, "frac_bits": 18, "overflow": "wrap"}


def test_manifest_describes_ports_formats_and_accumulator(tmp_path):
    _, j = generate("shift8w4", tmp_path)
    m = json.loads(j.read_text())
    assert m["module"] == "mac_shift_dfp8f4_pow4em8em1nz_dfp8f4_acc32w_st0"
    assert m["verilog"] == m["module"] + ".v"
    assert m["w"] == {"kind": "pow2", "bits": 4, "exp_min": -8, "exp_max": -1, "zero": False}
    assert m["accumulator"] == {"kind": "int", "bits": 32, "frac_bits": 12, "overflow": "wrap"}
    assert m["latency"] == 1 and m["ports"] == {"clk": 1, "rst": 1, "a": 8, "w": 4, "acc": 32, "out": 8,
                                                 "valid": 1, "clear": 1}
    assert m["signed_ports"] == ["a", "acc", "out"]


def test_json_spec_file(tmp_path):
    spec = dict(PRESETS["fixed8"], stages=2, overflow="saturate", acc_bits=20)
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(spec))
    _, j = generate(str(path), tmp_path / "out")
    m = json.loads(j.read_text())
    assert (m["latency"], m["accumulator"]["bits"], m["accumulator"]["overflow"]) == (3, 20, "saturate")


def test_bad_specs():
    with pytest.raises(ValueError, match=r"^MAC spec must be a preset \(fixed8, shift8w4, minifloat8, float32, "
                                         r"mxfp8, mxfp4, mxint8\) or"):
        load_spec("fixed9")
    with pytest.raises(ValueError, match=r"^stages must be 0, 1 or 2, not 5$"):
        generate(dict(PRESETS["fixed8"], stages=5), "unused")
