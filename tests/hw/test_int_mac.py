"""Fixed-point and barrel-shifter MACs through Amaranth's simulator (the fast tier)."""

import pytest
from amaranth.hdl import Fragment
from hw_helpers import truncating_requantizer
from ristretto.hw import FixedMac, ShiftMac, build
from ristretto.sim.amaranth_sim import simulate
from ristretto.sim.stimulus import exhaustive_pairs, mac_stimulus

from ristretto.datapath import IntMacConfig
from ristretto.formats import DynamicFixedPoint, PowerOfTwo

D = DynamicFixedPoint

CONFIGS = [
    IntMacConfig(D(8, 4), D(8, 7), D(8, 4)),
    IntMacConfig(D(6, 2), D(5, 3), D(7, 1), acc_bits=12, overflow="saturate"),
    IntMacConfig(D(4, 0), D(8, 9), D(8, 12), acc_bits=14),  # out keeps more fraction: left shift
    IntMacConfig(D(8, 4), PowerOfTwo(4, -8, -1, zero=False), D(8, 4)),
    IntMacConfig(D(7, 3), PowerOfTwo(5, -6, 6), D(6, -1), acc_bits=21, overflow="saturate"),
]


@pytest.mark.parametrize("stages", [0, 1, 2])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.family}-{c.w.slug}-{c.overflow}{c.acc_bits}")
def test_random_accumulations_match_the_reference(cfg, stages):
    mac = (FixedMac if cfg.family == "fixed" else ShiftMac)(cfg, stages=stages)
    stim = mac_stimulus(cfg, exhaustive=False, random_vectors=1500, seed=stages)
    result = simulate(mac, stim)
    assert result["passed"], result.get("first_mismatch")


def test_a_sample_of_code_pairs_of_the_shift_preset():
    mac = build("shift8w4")
    stim = {k: v[::7] for k, v in exhaustive_pairs(mac.config).items()}
    assert simulate(mac, stim)["passed"]


def test_a_broken_requantizer_is_caught(monkeypatch):
    truncating_requantizer(monkeypatch)
    mac = build("fixed8")
    result = simulate(mac, mac_stimulus(mac.config, exhaustive=False, random_vectors=500, seed=0))
    assert not result["passed"] and result["mismatches"] > 0
    mm = result["first_mismatch"]
    assert mm["acc_expected"] == mm["acc_got"] and mm["out_expected"] != mm["out_got"]


def test_latency_and_errors():
    cfg = CONFIGS[0]
    macs = [FixedMac(cfg, stages=s) for s in (0, 1, 2)]
    assert [m.latency for m in macs] == [1, 2, 3]
    for m in macs:
        Fragment.get(m, None)  # elaborates (and marks as used)
    with pytest.raises(ValueError, match=r"^stages must be 0, 1 or 2, not 3$"):
        FixedMac(cfg, stages=3)
    with pytest.raises(ValueError, match=r"^ShiftMac needs 'shift' weights, not DynamicFixedPoint"):
        ShiftMac(cfg)
    with pytest.raises(TypeError, match=r"^FixedMac takes a config of type IntMacConfig, not 'fixed8'$"):
        FixedMac("fixed8")


@pytest.mark.parametrize("stages", [0, 2])
def test_bias_preload(stages):
    cfg = CONFIGS[1]  # saturating 12-bit accumulator
    mac = FixedMac(cfg, stages=stages, bias=True)
    result = simulate(mac, mac_stimulus(cfg, exhaustive=False, random_vectors=1500, seed=5, bias=True))
    assert result["passed"], result.get("first_mismatch")
