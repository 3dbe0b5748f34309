"""The requantizer equals DynamicFixedPoint.requantize_codes for every input (Amaranth simulator)."""

import pytest
import torch
from amaranth.sim import Simulator
from ristretto.hw import Requantizer

from ristretto.formats import DynamicFixedPoint


@pytest.mark.parametrize(("in_bits", "shift", "out_bits"),
                         [(10, 3, 6), (10, 1, 4), (9, 0, 5), (8, -2, 8), (12, 11, 3), (8, 8, 4), (6, 30, 4)])
def test_every_input(in_bits, shift, out_bits):
    dut = Requantizer(in_bits=in_bits, shift=shift, out_bits=out_bits)
    inputs = list(range(-(1 << (in_bits - 1)), 1 << (in_bits - 1)))
    got = []

    async def bench(ctx):
        for v in inputs:
            ctx.set(dut.i, v)
            got.append(ctx.get(dut.o))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    want = DynamicFixedPoint(out_bits, 0).requantize_codes(torch.tensor(inputs), shift)
    assert got == want.tolist()


@pytest.mark.parametrize(("kwargs", "msg"), [
    ({"in_bits": 0, "shift": 1, "out_bits": 4}, r"^in_bits must be a positive integer, not 0$"),
    ({"in_bits": 8, "shift": 1.5, "out_bits": 4}, r"^shift must be an integer, not 1.5$"),
])
def test_bad_parameters(kwargs, msg):
    with pytest.raises(TypeError, match=msg):
        Requantizer(**kwargs)
