"""The MX dot-product unit's generation and Amaranth simulation (the fast tier; Icarus: tests/sim)."""

import json

import numpy as np
from ristretto.hw import build, generate
from ristretto.sim.amaranth_sim import simulate
from ristretto.sim.stimulus import mac_stimulus

from ristretto.formats import MXFormat, named


def test_presets_emit_verilog_and_a_manifest_with_the_scale_ports(tmp_path):
    for preset, bits in (("mxfp8", 8), ("mxfp4", 4), ("mxint8", 8)):
        v, j = generate(preset, tmp_path / preset)
        man = json.loads(j.read_text())
        assert man["family"] == "mx" and man["inputs"] == ["sa", "sw"] and man["lanes"] == 32
        assert man["ports"]["a"] == 32 * bits and man["ports"]["sa"] == 8 and man["ports"]["out"] == 32
        assert "product31" in v.read_text() and man["latency"] == 1


def test_amaranth_simulation_equals_the_datapath_on_every_pair_and_random_blocks():
    spec = {"family": "mx", "a": MXFormat(named("float6_e3m2fn"), 2).to_dict(),
            "w": MXFormat(named("float4_e2m1fn"), 2).to_dict(), "bias": True}
    mac = build(spec)
    stim = mac_stimulus(mac.config, exhaustive=True, random_vectors=1500, seed=3, bias=True)
    assert np.isin(stim["sa"], [0, 254, 255]).any()  # the E8M0 limits and NaN are in the mix
    result = simulate(mac, stim)
    assert result["passed"], result.get("first_mismatch")
    assert result["vectors"] == 64 * 16 + 1500
