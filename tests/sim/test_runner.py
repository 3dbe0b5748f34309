"""cocotb + Icarus co-simulation of the generated Verilog against the reference datapath."""

from dataclasses import replace

import pytest
from hw_helpers import truncating_requantizer
from ristretto.hw import PRESETS
from ristretto.sim.runner import verify

from ristretto.formats import Minifloat, named

FN = named("float8_e4m3fn")  # OCP fn: S.1111.111 is NaN, largest 448, saturating (the fp8 scheme's formats)

pytestmark = pytest.mark.sim


@pytest.mark.parametrize(("preset", "pairs"), [("fixed8", 256 * 256), ("shift8w4", 256 * 16),
                                               ("minifloat8", 242 * 242), ("float32", 0)])
def test_presets_exhaustive_and_long_accumulations(preset, pairs, tmp_path):
    result = verify(preset, tmp_path, exhaustive=True, random_vectors=65536)
    assert result["passed"], result.get("first_mismatch")
    assert result["vectors"] == pairs + 65536


SWEEP = [
    {"a": {"kind": "dfp", "bits": 6, "frac_bits": 2}, "w": {"kind": "dfp", "bits": 5, "frac_bits": 3},
     "out": {"kind": "dfp", "bits": 7, "frac_bits": 1}, "acc_bits": 12, "overflow": "saturate", "stages": 1},
    {"a": {"kind": "dfp", "bits": 4, "frac_bits": 0}, "w": {"kind": "dfp", "bits": 8, "frac_bits": 9},
     "out": {"kind": "dfp", "bits": 8, "frac_bits": 12}, "acc_bits": 14, "overflow": "wrap", "stages": 2},
    {"a": {"kind": "dfp", "bits": 7, "frac_bits": 3},
     "w": {"kind": "pow2", "bits": 5, "exp_min": -6, "exp_max": 6, "zero": True},
     "out": {"kind": "dfp", "bits": 6, "frac_bits": -1}, "acc_bits": 21, "overflow": "saturate", "stages": 2},
    {"a": {"kind": "dfp", "bits": 12, "frac_bits": 6}, "w": {"kind": "dfp", "bits": 10, "frac_bits": 9},
     "out": {"kind": "dfp", "bits": 16, "frac_bits": 8}, "acc_bits": 24, "overflow": "wrap", "stages": 0},
    {"family": "minifloat", "a": Minifloat(5, 2, subnormals=True).to_dict(), "w": Minifloat(4, 3).to_dict(),
     "out": Minifloat(4, 3, subnormals=True).to_dict(), "accumulator": "fp32", "stages": 1},
    {"family": "minifloat", "a": Minifloat(4, 3).to_dict(), "w": Minifloat(3, 2).to_dict(),
     "out": Minifloat(5, 2).to_dict(), "accumulator": "exact", "acc_bits": 36, "overflow": "saturate", "stages": 2},
    {"family": "float32", "stages": 2},
    {"family": "minifloat", "a": FN.to_dict(), "w": replace(FN, bias=10).to_dict(),
     "out": replace(FN, bias=4).to_dict(), "accumulator": "fp32", "lanes": 4, "bias": True},
    # no mantissa bit: a tie between two powers of two goes to the even code (e2m0: -3 -> -2, code 6)
    {"family": "minifloat", "a": Minifloat(2, 0).to_dict(), "w": Minifloat(2, 0).to_dict(),
     "out": Minifloat(2, 0).to_dict(), "accumulator": "exact", "acc_bits": 10},
    {"family": "minifloat", "a": Minifloat(3, 1).to_dict(), "w": Minifloat(3, 0, subnormals=True).to_dict(),
     "out": Minifloat(3, 0, subnormals=True).to_dict(), "accumulator": "fp32", "bias": True},
]


@pytest.mark.parametrize("spec", SWEEP, ids=["fixed6x5-sat12-st1", "fixed4x8-wrap14-st2", "shift7x5z-sat13-st2",
                                             "fixed12x10-wrap24", "mf-e5m2s-x-e4m3-fp32-st1",
                                             "mf-e4m3-x-e3m2-exact36s-st2", "float32-st2",
                                             "e4m3fn-scaled-4lanes-bias", "mf-e2m0-exact10",
                                             "mf-e3m1-x-e3m0s-fp32-bias"])
def test_swept_configurations(spec, tmp_path):
    # exhaustive pairs where the operands have <= 16 bits together, then random accumulations
    result = verify(spec, tmp_path, exhaustive=True, random_vectors=20000, seed=3)
    assert result["passed"], result.get("first_mismatch")


def test_a_broken_requantizer_is_caught_by_icarus(monkeypatch, tmp_path):
    truncating_requantizer(monkeypatch)
    result = verify(PRESETS["fixed8"], tmp_path, exhaustive=False, random_vectors=300)
    assert not result["passed"] and result["mismatches"] > 0
    assert result["first_mismatch"]["out_expected"] != result["first_mismatch"]["out_got"]


def test_an_fn_unit_that_ignores_nan_codes_is_caught_by_icarus(monkeypatch, tmp_path):
    """e4m3fn operands: a unit that reads S.1111.111 as 480 instead of NaN differs from the reference."""
    import importlib

    from amaranth.hdl import Const

    mac = importlib.import_module("ristretto.hw.minifloat_mac")
    monkeypatch.setattr(mac, "minifloat_nan", lambda code, fmt: Const(0, 1))
    spec = {"family": "minifloat", "a": FN.to_dict(), "w": FN.to_dict(), "out": FN.to_dict(), "accumulator": "fp32"}
    result = verify(spec, tmp_path, exhaustive=True, random_vectors=100)
    assert not result["passed"] and result["mismatches"] > 0


@pytest.mark.parametrize("scheme", ["dfp", "pow2", "minifloat", "fp8"])
def test_real_lenet_traces_equal_the_network_exact_mode(scheme, tmp_path):
    from ristretto.sim.traces import verify_lenet

    results = verify_lenet(scheme, tmp_path, channels=1, images=1)
    assert list(results) == ["conv1", "conv2", "fc1", "fc2"]
    for layer, r in results.items():
        assert r["passed"] and r["network_match"], (layer, r.get("first_mismatch"))


def test_bias_preload_in_every_family(tmp_path):
    for preset in ("fixed8", "minifloat8", "float32"):
        spec = dict(PRESETS[preset], bias=True, stages=1)
        result = verify(spec, tmp_path / preset, exhaustive=False, random_vectors=3000)
        assert result["passed"], (preset, result.get("first_mismatch"))


@pytest.mark.parametrize("reset", ["sync-low", "async-high", "async-low"])
def test_bare_units_with_every_reset_style(reset, tmp_path):
    from ristretto.hw.generate import load_spec

    for preset in ("fixed8", "mxfp8"):
        spec = {**load_spec(preset), "reset": reset, "bias": True, "lanes": 4 if preset == "mxfp8" else 1}
        r = verify(spec, tmp_path / preset, exhaustive=False, random_vectors=2000)
        assert r["passed"], r
