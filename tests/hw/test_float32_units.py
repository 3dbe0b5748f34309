"""The float32 adder and multiplier against numpy binary32 and the FTZ reference (Amaranth simulator)."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from ristretto.hw import Float32Adder, Float32Multiplier

from ristretto.datapath import f32_bits, f32_from_bits, f32_multiply

SPECIALS = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001, 1, 0x807FFFFF, 0x00800000,
                     0x80800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0x00400000], np.uint32)


def _operands(n, seed):
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 5, (2, n))
    bits = rng.integers(0, 2**32, (2, n), dtype=np.uint64).astype(np.uint32)
    bits = np.where(kind == 0, SPECIALS[rng.integers(0, len(SPECIALS), (2, n))], bits)
    tiny = (bits & 0x807FFFFF) | (rng.integers(0, 3, (2, n)).astype(np.uint32) << 23)
    bits = np.where(kind == 1, tiny, bits)
    a, b = bits
    # near cancellation and close exponents stress normalization and rounding
    i = rng.integers(0, n, n // 4)
    b[i] = (a[i] ^ 0x80000000) + rng.integers(-3, 4, len(i)).astype(np.uint32)
    j = rng.integers(0, n, n // 4)
    b[j] = (a[j] & 0xFF800000) | (b[j] & 0x807FFFFF)
    return a.astype(np.int64), b.astype(np.int64)


def _run(dut, a, b):
    got = []

    async def bench(ctx):
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            ctx.set(dut.a, x)
            ctx.set(dut.b, y)
            got.append(ctx.get(dut.o))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return np.array(got, dtype=np.int64)


@pytest.mark.parametrize("seed", [0, 1])
def test_adder_equals_numpy_binary32(seed):
    a, b = _operands(6000, seed)
    with np.errstate(over="ignore", invalid="ignore"):
        want = f32_bits(f32_from_bits(a) + f32_from_bits(b))
    assert np.array_equal(_run(Float32Adder(), a, b), want)


def test_multiplier_equals_the_ftz_reference():
    a, b = _operands(6000, 2)
    assert np.array_equal(_run(Float32Multiplier(), a, b), f32_bits(f32_multiply(f32_from_bits(a), f32_from_bits(b))))


def test_ftz_reference_semantics():
    x = np.array([1.5, 2.0**-126, 2.0**-127, 3.0e38, np.inf, np.inf, 2.0**-63], np.float32)
    y = np.array([1.5, 0.5, 4.0, 10.0, 0.0, -2.0, 2.0**-63], np.float32)
    got = f32_multiply(x, y)
    assert got[0] == 2.25
    assert got[1] == 0.0  # 2**-127 is below the normal range: flushed
    assert got[2] == 0.0  # a subnormal input counts as zero
    assert np.isinf(got[3]) and np.isnan(got[4]) and got[5] == -np.inf
    assert got[6] == 2.0**-126
    # (1 - 2**-24) * 2**-126 is exact at 24 bits with an unbounded exponent, below 2**-126: flushed
    below_one = np.uint32(0x3F7FFFFF).view(np.float32)
    tiny = f32_multiply(np.array([-below_one]), np.array([np.float32(2.0**-126)]))[0]
    assert tiny == 0.0 and np.signbit(tiny)
