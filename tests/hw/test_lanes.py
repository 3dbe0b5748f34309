"""N-lane dot-product units in Amaranth's simulator: every family on samples, the manifest, the port layout."""

import json

import numpy as np
import pytest
from hw_helpers import truncating_requantizer
from ristretto.hw import PRESETS, build, generate
from ristretto.hw.generate import parse_spec
from ristretto.sim.amaranth_sim import simulate
from ristretto.sim.stimulus import exhaustive_pairs, mac_stimulus, pack_lanes

from ristretto.formats import Minifloat

E2M1 = Minifloat(2, 1).to_dict()
SPECS = {
    "fixed8-sat18": dict(PRESETS["fixed8"], acc_bits=18, overflow="saturate"),
    "shift8w4-wrap18": dict(PRESETS["shift8w4"], acc_bits=18),
    "mf-e2m1-exact-sat": {"family": "minifloat", "a": E2M1, "w": E2M1, "out": Minifloat(3, 2).to_dict(),
                          "accumulator": "exact", "acc_bits": 10, "overflow": "saturate"},
    "minifloat8-fp32": dict(PRESETS["minifloat8"]),
    "float32": dict(PRESETS["float32"]),
}


@pytest.mark.parametrize("stages", [0, 1, 2])
@pytest.mark.parametrize("lanes", [4, 16, 5])
@pytest.mark.parametrize("name", list(SPECS))
def test_random_dot_products_match_the_reference(name, lanes, stages):
    spec = dict(SPECS[name], lanes=lanes, stages=stages, bias=True)
    cfg, _ = parse_spec(spec)
    stim = mac_stimulus(cfg, exhaustive=False, random_vectors=300, seed=lanes + stages, bias=True)
    result = simulate(build(spec), stim)
    assert result["passed"], result.get("first_mismatch")


def test_a_sample_of_pairs_in_every_lane():
    spec = dict(PRESETS["fixed8"], lanes=16)
    cfg, _ = parse_spec(spec)
    stim = exhaustive_pairs(cfg)
    assert stim["a"].shape == (65536, 16)
    for lane in range(16):  # each lane sees every pair
        pairs = set(zip(stim["a"][:, lane].tolist(), stim["w"][:, lane].tolist(), strict=True))
        assert len(pairs) == 65536
    sample = {k: v[::97] for k, v in stim.items()}
    assert simulate(build(spec), sample)["passed"]


def test_a_broken_requantizer_is_caught_at_16_lanes(monkeypatch):
    truncating_requantizer(monkeypatch)
    spec = dict(PRESETS["fixed8"], lanes=16)
    cfg, _ = parse_spec(spec)
    result = simulate(build(spec), mac_stimulus(cfg, exhaustive=False, random_vectors=200))
    assert not result["passed"]


def test_manifest_and_port_layout(tmp_path):
    v, j = generate(dict(PRESETS["fixed8"], lanes=4, acc_bits=20), tmp_path)
    m = json.loads(j.read_text())
    assert m["module"].endswith("_l4_st0") and m["lanes"] == 4 and m["tree"]["depth"] == 2
    assert m["ports"]["a"] == m["ports"]["w"] == 32 and m["lane_bits"] == {"a": 8, "w": 8}
    assert m["lane_signed"] == ["a", "w"] and "a" not in m["signed_ports"]
    assert pack_lanes(np.array([[-1, 2, 0, -128]]), 8) == [0xFF | 2 << 8 | 0x80 << 24]
    one = json.loads(generate(PRESETS["fixed8"], tmp_path / "one")[1].read_text())
    assert one["lanes"] == 1 and one["ports"]["a"] == 8 and "a" in one["signed_ports"]
