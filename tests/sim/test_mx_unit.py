"""The MX dot-product unit in cocotb + Icarus, bit for bit against ristretto.datapath.mx (exact mode's model)."""

import importlib

import numpy as np
import pytest
import torch
from ristretto.hw import PRESETS
from ristretto.sim.runner import verify
from torch import nn

from ristretto.datapath.mx import MXMacConfig
from ristretto.formats import DynamicFixedPoint, MXFormat, named

pytestmark = pytest.mark.sim

ELEMENTS = {"fp4": named("float4_e2m1fn"), "fp6e2m3": named("float6_e2m3fn"), "fp6e3m2": named("float6_e3m2fn"),
            "fp8e4m3": named("float8_e4m3fn"), "int8": DynamicFixedPoint(8, 6)}


def _spec(a, w=None, lanes=4, bias=False):
    return {"family": "mx", "a": MXFormat(a, lanes).to_dict(), "w": MXFormat(w or a, lanes).to_dict(), "bias": bias}


@pytest.mark.parametrize("name", ELEMENTS)
def test_every_element_pair_in_every_lane_and_random_blocks_with_extreme_scales(name, tmp_path):
    e = ELEMENTS[name]
    result = verify(_spec(e, bias=name in ("fp6e3m2", "int8")), tmp_path, exhaustive=True, random_vectors=4000)
    assert result["passed"], result.get("first_mismatch")
    assert result["vectors"] == 4 ** e.bits + 4000


def test_mixed_elements_and_the_32_lane_preset(tmp_path):
    result = verify(_spec(ELEMENTS["fp4"], ELEMENTS["fp8e4m3"], lanes=8), tmp_path / "mixed", exhaustive=False,
                    random_vectors=3000)
    assert result["passed"], result.get("first_mismatch")
    result = verify("mxfp4", tmp_path / "mxfp4", exhaustive=True, random_vectors=2000)
    assert result["passed"] and result["vectors"] == 256 + 2000
    assert set(PRESETS) >= {"mxfp8", "mxfp4", "mxint8"}


def test_a_unit_that_truncates_instead_of_rounding_is_caught(tmp_path, monkeypatch):
    mx_mac = importlib.import_module("ristretto.hw.mx_mac")
    real = mx_mac.round_shift_right

    def truncating(m, value, width, amount, max_amount):  # the rounding bit dropped: round toward zero
        r = real(m, value, width, amount, max_amount)
        from amaranth.hdl import Signal

        t = Signal(len(r))
        m.d.comb += t.eq(value >> amount)
        return t

    monkeypatch.setattr(mx_mac, "round_shift_right", truncating)
    result = verify(_spec(ELEMENTS["fp8e4m3"]), tmp_path, exhaustive=False, random_vectors=2000)
    assert not result["passed"] and result["mismatches"] > 0


def test_real_lenet_blocks_run_on_the_unit_as_exact_mode_computes(tmp_path, lenet, mnist):
    """conv2 of the built-in LeNet in MXFP4 (blocks of 32 along its 500-long dot products): the unit fed the
    layer's real blocks ends each dot product on exact mode's output, bit for bit."""
    from ristretto.datapath import f32_bits
    from ristretto.nn import quant_layers, set_mode
    from ristretto.nn.convert import wrap_model
    from ristretto.nn.schemes import Widths, apply_formats, assign_formats

    net = wrap_model(lenet)
    apply_formats(net, assign_formats(net, {n: {} for n in quant_layers(net)}, "mx", Widths(4, 4, 4),
                                      mx_element="fp4"))
    layer = quant_layers(net)["conv2"]
    seen = {}
    layer.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0].detach(), y=out.detach()))
    set_mode(net, "exact")
    with torch.no_grad():
        net(mnist.x_val[:1])
    fmt = layer.formats.weight
    cols = nn.functional.unfold(seen["x"], 5)[0]  # [500, 64], (channel, kernel row, kernel column)
    w = layer.inner.weight.detach().reshape(50, 500)
    rng = np.random.default_rng(0)
    a_c, a_s, w_c, w_s, bias, ends, want = [], [], [], [], [], [], []
    for o, pos in zip(rng.choice(50, 6, replace=False), rng.choice(64, 6, replace=False), strict=True):
        ac, asc = fmt.encode(nn.functional.pad(cols[:, pos], (0, 12)).reshape(16, 32), axis=-1)
        wc, wsc = fmt.encode(nn.functional.pad(w[o], (0, 12)).reshape(16, 32), axis=-1)
        a_c.append(ac.numpy())
        w_c.append(wc.numpy())
        a_s.append(asc[:, 0].numpy())
        w_s.append(wsc[:, 0].numpy())
        bias += [int(f32_bits(layer.inner.bias[o:o + 1].detach().numpy())[0])] * 16
        ends.append(len(bias) - 1)
        want.append(int(f32_bits(seen["y"][0, o].reshape(-1)[pos:pos + 1].numpy())[0]))
    n = len(bias)
    stim = {"a": np.concatenate(a_c), "w": np.concatenate(w_c), "sa": np.concatenate(a_s),
            "sw": np.concatenate(w_s), "valid": np.ones(n, np.int8),
            "clear": np.tile(np.eye(1, 16, dtype=np.int8)[0], 6),
            "bias": np.array(bias, np.int64), "ends": np.array(ends), "network_out": np.array(want, np.int64)}
    result = verify({"family": "mx", "a": fmt.to_dict(), "w": fmt.to_dict(), "bias": True}, tmp_path, stimulus=stim)
    assert result["passed"] and result["network_match"], result.get("first_mismatch")


def test_mx_unit_configs_refuse_what_the_model_cannot_state():
    with pytest.raises(ValueError, match="fp4, fp6, fp8 e4m3 or int8"):
        MXMacConfig(MXFormat(named("float8_e5m2")), MXFormat(named("float8_e5m2")))
    with pytest.raises(ValueError, match="blocks of one size"):
        MXMacConfig(MXFormat(named("float4_e2m1fn"), 8), MXFormat(named("float4_e2m1fn"), 16))
    with pytest.raises(ValueError, match=r"^An MX unit's lanes divide its block size \(32\): not 12$"):
        MXMacConfig(MXFormat(named("float4_e2m1fn")), MXFormat(named("float4_e2m1fn")), 12)
    cfg = MXMacConfig.from_dict({"a": MXFormat(named("float4_e2m1fn")).to_dict(),
                                 "w": MXFormat(named("float4_e2m1fn")).to_dict(), "lanes": 8})
    assert cfg.lanes == 8 and cfg.cycles_per_block == 4 and cfg.to_dict()["lanes"] == 8
    assert "lanes" not in MXMacConfig(cfg.a, cfg.w).to_dict()  # a block per cycle: the spec as before


@pytest.mark.parametrize(("element", "block", "lanes", "bias"), [("fp4", 8, 2, True), ("int8", 16, 4, True),
                                                                  ("fp6e2m3", 4, 1, False)])
def test_fewer_lanes_than_the_block_take_a_block_over_several_cycles(tmp_path, element, block, lanes, bias):
    """A block of ``block`` pairs on ``lanes`` lanes: its exact partial sum is kept over block / lanes valid
    cycles counted from clear (idle cycles, clears mid-block), scales read at its last cycle; every element
    pair in every lane and random cycles, bit for bit against ``MXMacConfig.trace``."""
    fmt = MXFormat(ELEMENTS[element], block).to_dict()
    spec = {"family": "mx", "a": fmt, "w": fmt, "lanes": lanes, "bias": bias}
    result = verify(spec, tmp_path, exhaustive=True, random_vectors=3000)
    assert result["passed"], result.get("first_mismatch")


def test_a_unit_whose_block_count_ignores_clear_is_refuted(tmp_path, monkeypatch):
    """The mutant ends blocks by the count before ``clear`` (a clear mid-block does not restart it)."""
    from amaranth.hdl import Mux, Signal, signed

    mx = importlib.import_module("ristretto.hw.mx_mac")

    def block(self, m, lanesum, nan):
        per = self.config.cycles_per_block
        phase, part = Signal(range(per)), Signal(signed(mx.exact_bits(self.config.a, self.config.w)))
        s, at, done = Signal.like(part), Signal.like(phase), Signal()
        m.d.comb += [s.eq(Mux(self.clear, 0, part) + lanesum), at.eq(Mux(self.clear, 0, phase)),
                     done.eq(self.valid & (phase == per - 1))]  # the bug: phase, not at
        with m.If(done | (self.clear & ~self.valid)):
            m.d.sync += [phase.eq(0), part.eq(0)]
        with m.Elif(self.valid):
            m.d.sync += [phase.eq(at + 1), part.eq(s)]
        return s, nan, done

    monkeypatch.setattr(mx.MXMac, "_block", block)
    fmt = MXFormat(ELEMENTS["fp4"], 8).to_dict()
    result = verify({"family": "mx", "a": fmt, "w": fmt, "lanes": 2, "bias": True}, tmp_path, exhaustive=True,
                    random_vectors=3000)
    assert not result["passed"] and result["mismatches"] > 0
