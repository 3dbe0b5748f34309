"""cocotb + Icarus co-simulation of the generated Verilog against the reference datapath."""

import pytest
from hw_helpers import truncating_requantizer
from ristretto.hw import PRESETS
from ristretto.sim.runner import verify

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("preset", ["fixed8", "shift8w4"])
def test_presets_exhaustive_and_long_accumulations(preset, tmp_path):
    result = verify(preset, tmp_path, exhaustive=True, random_vectors=65536)
    assert result["passed"], result.get("first_mismatch")
    pairs = 256 * 256 if preset == "fixed8" else 256 * 16
    assert result["vectors"] == pairs + 65536


SWEEP = [
    {"a": {"kind": "dfp", "bits": 6, "frac_bits": 2}, "w": {"kind": "dfp", "bits": 5, "frac_bits": 3},
     "out": {"kind": "dfp", "bits": 7, "frac_bits": 1}, "acc_bits": 12, "overflow": "saturate", "stages": 1},
    {"a": {"kind": "dfp", "bits": 4, "frac_bits": 0}, "w": {"kind": "dfp", "bits": 8, "frac_bits": 9},
     "out": {"kind": "dfp", "bits": 8, "frac_bits": 12}, "acc_bits": 14, "overflow": "wrap", "stages": 2},
    {"a": {"kind": "dfp", "bits": 7, "frac_bits": 3},
     "w": {"kind": "pow2", "bits": 5, "exp_min": -6, "exp_max": 6, "zero": True},
     "out": {"kind": "dfp", "bits": 6, "frac_bits": -1}, "acc_bits": 13, "overflow": "saturate", "stages": 2},
    {"a": {"kind": "dfp", "bits": 12, "frac_bits": 6}, "w": {"kind": "dfp", "bits": 10, "frac_bits": 9},
     "out": {"kind": "dfp", "bits": 16, "frac_bits": 8}, "acc_bits": 24, "overflow": "wrap", "stages": 0},
]


@pytest.mark.parametrize("spec", SWEEP, ids=["fixed6x5-sat12-st1", "fixed4x8-wrap14-st2", "shift7x5z-sat13-st2",
                                             "fixed12x10-wrap24"])
def test_swept_configurations(spec, tmp_path):
    exhaustive = spec["a"]["bits"] + spec["w"]["bits"] <= 16
    result = verify(spec, tmp_path, exhaustive=exhaustive, random_vectors=20000, seed=3)
    assert result["passed"], result.get("first_mismatch")


def test_a_broken_requantizer_is_caught_by_icarus(monkeypatch, tmp_path):
    truncating_requantizer(monkeypatch)
    result = verify(PRESETS["fixed8"], tmp_path, exhaustive=False, random_vectors=300)
    assert not result["passed"] and result["mismatches"] > 0
    assert result["first_mismatch"]["out_expected"] != result["first_mismatch"]["out_got"]
