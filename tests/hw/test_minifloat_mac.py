"""Minifloat MACs (float32 and exact accumulators) and the rounder through Amaranth's simulator."""

import numpy as np
import pytest
import torch
from amaranth.sim import Simulator
from ristretto.hw import MinifloatMac, MinifloatRounder, build
from ristretto.sim.amaranth_sim import simulate
from ristretto.sim.stimulus import exhaustive_pairs, mac_stimulus

from ristretto.datapath import MinifloatMacConfig
from ristretto.formats import Minifloat

M = Minifloat
CONFIGS = [
    MinifloatMacConfig(M(4, 3), M(4, 3), M(4, 3)),
    MinifloatMacConfig(M(5, 2, subnormals=True), M(4, 3, subnormals=True), M(4, 3, subnormals=True)),
    MinifloatMacConfig(M(3, 4), M(2, 1), M(4, 2, subnormals=True)),
    MinifloatMacConfig(M(4, 0), M(4, 3), M(3, 0)),
    MinifloatMacConfig(M(6, 8), M(6, 8), M(6, 8, subnormals=True)),
    MinifloatMacConfig(M(4, 3), M(4, 3), M(4, 3), accumulator="exact", acc_bits=40, overflow="saturate"),
    MinifloatMacConfig(M(5, 2, subnormals=True), M(3, 2), M(5, 3, subnormals=True), accumulator="exact",
                       acc_bits=53),
    MinifloatMacConfig(M(2, 1), M(2, 1), M(2, 1), accumulator="exact", acc_bits=12),
]


@pytest.mark.parametrize("stages", [0, 2])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.a.slug}x{c.w.slug}-{c.out.slug}-{c.accumulator}")
def test_random_accumulations_match_the_reference(cfg, stages):
    result = simulate(MinifloatMac(cfg, stages=stages), mac_stimulus(cfg, exhaustive=False, random_vectors=1200,
                                                                     seed=stages))
    assert result["passed"], result.get("first_mismatch")


def test_a_sample_of_code_pairs_of_the_preset():
    mac = build("minifloat8")
    stim = {k: v[::11] for k, v in exhaustive_pairs(mac.config).items()}
    assert simulate(mac, stim)["passed"]


@pytest.mark.parametrize("fmt", [M(4, 3), M(5, 2, subnormals=True), M(3, 0), M(2, 0), M(3, 0, subnormals=True),
                                 M(2, 0, special="fn"), M(2, 4, bias=-3)], ids=lambda f: f.slug)
def test_rounder_equals_formats_encode(fmt):
    """Float32 values, normalized as the MAC does, round exactly as fmt.encode: grid points, every tie between
    two neighbours (man_bits = 0: between two powers of two, to the even code) and random values."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(3000) * np.exp2(rng.integers(-12, 12, 3000))).astype(np.float32)
    grid = np.unique(fmt.decode(fmt.codes()).numpy())
    grid = grid[np.isfinite(grid)]
    ties = ((grid[1:].astype(np.float64) + grid[:-1]) / 2).astype(np.float32)
    x = np.concatenate([x, grid, ties, np.float32([0.0, -0.0, np.inf, -np.inf])])
    dut = MinifloatRounder(fmt, width=24, exp_bits=10)
    got = []

    async def bench(ctx):
        for v in x.tolist():
            m, e = np.frexp(np.float64(v))
            zero = v == 0
            ctx.set(dut.sign, int(np.signbit(v)))
            ctx.set(dut.zero, int(zero))
            ctx.set(dut.saturate, int(np.isinf(v)))
            ctx.set(dut.exp, 0 if zero or np.isinf(v) else int(e) - 1)
            ctx.set(dut.sig, 0 if zero or np.isinf(v) else int(abs(m) * 2**24))
            got.append(ctx.get(dut.code))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert got == fmt.encode(torch.from_numpy(x)).tolist()


def test_fn_formats_take_float32_adders_and_keep_nan():
    """OCP fn (the fp8 scheme's e4m3fn): accepted with float32 adders; a NaN sum is the output's +NaN code,
    ±inf saturates to ±448; ``auto`` resolves to fp32 and ``exact`` is refused with the reason."""
    from ristretto.datapath import QNAN, resolve_accumulator

    fn = M(4, 3, special="fn")
    cfg = MinifloatMacConfig(fn, fn, fn, "fp32")
    assert cfg.output([QNAN, 0x7F800000, 0xFF800000, 0x43E00000]).tolist() == [0x7F, 0x7E, 0xFE, 0x7E]  # 448
    assert resolve_accumulator(fn, fn, fn, "auto") == "fp32" == resolve_accumulator(fn, fn, fn, "fp32")
    with pytest.raises(ValueError, match="have a NaN code, which an exact fixed-point sum cannot hold"):
        resolve_accumulator(fn, fn, fn, "exact")


@pytest.mark.parametrize(("kwargs", "exc", "msg"), [
    ({"a": M(4, 3, inf_nan=True)}, ValueError,
     r"^a must have no inf codes \(inf_nan=False\) and no special codes but OCP 'fn' \(saturating\), not Minifloat"),
    ({"w": M(4, 3, special="fnuz")}, ValueError, r"^w must have no inf codes"),
    ({"w": M(4, 3, special="fn", saturating=False)}, ValueError, r"^w must have no inf codes"),
    ({"w": M(4, 3, special="fn"), "accumulator": "exact", "acc_bits": 40}, ValueError,
     r"^OCP 'fn' formats have a NaN code, which an exact fixed-point sum cannot hold: use accumulator 'fp32'$"),
    ({"a": M(5, 20)}, ValueError, r"^Products of mf26e5m20 and mf8e4m3 have 25 significant bits, more than"),
    ({"a": M(8, 3, bias=128)}, ValueError, r"span .* outside float32's normal range \[2\*\*-126, 2\*\*128\); choose"),
    ({"accumulator": "fp16"}, ValueError, r"^accumulator must be 'fp32' or 'exact', not 'fp16'$"),
    ({"accumulator": "exact", "acc_bits": 20}, ValueError,
     r"^Exact accumulator width must be an integer in \[37, 53\] for mf8e4m3 x mf8e4m3 \(one product takes 37 "
     r"bits\), not 20$"),
    ({"accumulator": "exact", "acc_bits": 80}, ValueError,
     r"^Exact accumulator width must be an integer in \[37, 53\]"),
    ({"a": M(6, 1), "w": M(6, 1), "accumulator": "exact", "acc_bits": 53}, ValueError,
     r"^Exact accumulation of mf8e6m1 x mf8e6m1 products needs at least \d+ bits, more than the 53 supported"),
    ({"out": "e4m3"}, TypeError, r"^out must be a Minifloat, not 'e4m3'$"),
])
def test_config_errors(kwargs, exc, msg):
    args = {"a": M(4, 3), "w": M(4, 3), "out": M(4, 3)} | kwargs
    with pytest.raises(exc, match=msg):
        MinifloatMacConfig(**args)
