"""N-lane dot-product units under cocotb + Icarus: every family at 1, 4 and 16 lanes, and real LeNet channels."""

import numpy as np
import pytest
from ristretto.hw import PRESETS
from ristretto.hw.generate import parse_spec
from ristretto.sim.check import expected
from ristretto.sim.runner import verify
from ristretto.sim.stimulus import mac_stimulus

from ristretto.formats import DynamicFixedPoint, Minifloat

pytestmark = pytest.mark.sim

E3M2 = Minifloat(3, 2).to_dict()
SPECS = {
    # narrow accumulators, so long random dot products overflow (wrap) or saturate
    "fixed8-sat20": dict(PRESETS["fixed8"], acc_bits=20, overflow="saturate"),
    "fixed6-wrap16": {"a": DynamicFixedPoint(6, 2).to_dict(), "w": DynamicFixedPoint(6, 5).to_dict(),
                      "out": DynamicFixedPoint(8, 1).to_dict(), "acc_bits": 16, "overflow": "wrap"},
    "shift8w4-wrap19": dict(PRESETS["shift8w4"], acc_bits=19),
    "mf-e3m2-exact-sat": {"family": "minifloat", "a": E3M2, "w": E3M2, "out": Minifloat(4, 3).to_dict(),
                          "accumulator": "exact", "acc_bits": 20, "overflow": "saturate"},
    "mf-e3m2-fp32": {"family": "minifloat", "a": E3M2, "w": E3M2, "out": Minifloat(4, 3).to_dict(),
                     "accumulator": "fp32"},
    "float32": dict(PRESETS["float32"]),
}


@pytest.mark.parametrize("lanes", [1, 4, 16])
@pytest.mark.parametrize("name", list(SPECS))
def test_every_family_at_several_lane_counts(name, lanes, tmp_path):
    """Every code pair in every lane (operands of <= 8 bits), then long random dot products with a bias."""
    spec = dict(SPECS[name], lanes=lanes, bias=True, stages=1)
    cfg, _ = parse_spec(spec)
    stim = mac_stimulus(cfg, exhaustive=True, random_vectors=3000, seed=lanes, bias=True)
    if cfg.family in ("fixed", "shift") or getattr(cfg, "accumulator", "") == "exact":
        acc, _ = expected(cfg, stim)
        acc_fmt = cfg.accumulator if cfg.family in ("fixed", "shift") else cfg.acc
        exact = np.asarray(cfg.trace(stim["a"], stim["w"], stim["valid"], stim["clear"], stim["bias"]))
        assert np.array_equal(acc, exact)
        edge = (acc == acc_fmt.max_code) | (acc == acc_fmt.min_code) if cfg.overflow == "saturate" else \
            np.diff(np.sign(acc)) != 0
        assert edge.any(), "the stimulus must reach saturation (or wrap)"
    result = verify(spec, tmp_path, stimulus=stim)
    assert result["passed"], result.get("first_mismatch")
    pairs = cfg.a.codes().numel() * cfg.w.codes().numel() if cfg.a.bits + cfg.w.bits <= 16 else 0
    assert result["vectors"] == pairs + 3000


@pytest.mark.parametrize(("scheme", "accumulator"), [("dfp", "auto"), ("pow2", "auto"), ("minifloat", "exact"),
                                                     ("minifloat", "fp32")])
def test_whole_lenet_channels_on_16_lanes_equal_exact_mode(scheme, accumulator, tmp_path):
    from ristretto.sim.traces import verify_lenet

    results = verify_lenet(scheme, tmp_path, lanes=16, accumulator=accumulator, channels=1, images=1)
    assert list(results) == ["conv1", "conv2", "fc1", "fc2"]
    for layer, r in results.items():
        assert r["passed"] and r["network_match"], (layer, r.get("first_mismatch"))
