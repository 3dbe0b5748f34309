"""cocotb testbench of a stream-interface unit through an independent AXI4-Stream model (cocotbext-axi).

Environment: ``RISTRETTO_MANIFEST`` (the unit's manifest), ``RISTRETTO_STIMULUS``
(``.npz``: per-beat ``a``, ``w``, the MX scales ``sa``/``sw`` and ``bias`` where
the unit has them, and ``last``), ``RISTRETTO_STALLS`` (``"p_in,p_out,seed"``:
the probability that the source holds back a beat and that the sink is not
ready in a cycle), ``RISTRETTO_RESULT`` (JSON out: the result beats in arrival
order, the cycles taken, seconds). Like ``mac_tb``, it drives and reads only;
the verdict is the calling process's (``ristretto.sim.stream``).
"""

import json
import os
import random
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource
from ristretto.sim.stimulus import pack_beats

from ristretto.files import write_json


def _pauses(p, rng):
    while True:
        yield rng.random() < p


@cocotb.test()
async def stream_run(dut):
    with open(os.environ["RISTRETTO_MANIFEST"]) as f:
        manifest = json.load(f)
    stim = dict(np.load(os.environ["RISTRETTO_STIMULUS"]))
    p_in, p_out, seed = os.environ.get("RISTRETTO_STALLS", "0,0,0").split(",")
    fields = [(f["name"], f["bits"]) for f in manifest["stream"]["fields"]]
    beats = pack_beats(stim, fields, manifest["lane_bits"])

    low = manifest["reset"].endswith("low")
    reset = dut.rst_n if low else dut.rst
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, reset,
                             reset_active_level=not low, byte_lanes=1)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, reset,
                         reset_active_level=not low, byte_lanes=1)
    rng = random.Random(int(seed))
    if float(p_in):
        source.set_pause_generator(_pauses(float(p_in), rng))
    if float(p_out):
        sink.set_pause_generator(_pauses(float(p_out), rng))
    reset.value = 0 if low else 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    reset.value = 1 if low else 0
    await RisingEdge(dut.clk)

    ends = np.flatnonzero(stim["last"]).tolist()
    t0, cycles, held = time.perf_counter(), 0, 0

    async def count():  # cycles, and cycles where the unit held back an offered beat (backpressure reached it)
        nonlocal cycles, held
        while True:
            await RisingEdge(dut.clk)
            cycles += 1
            held += int(dut.s_axis_tvalid.value) & (1 - int(dut.s_axis_tready.value))

    counter = cocotb.start_soon(count())
    start = 0
    for end in ends:
        await source.send(AxiStreamFrame(beats[start:end + 1]))
        start = end + 1
    results, idle = [], 0
    while len(results) < len(ends) and idle < 2000:  # a lost result ends the run instead of hanging it
        await RisingEdge(dut.clk)
        idle += 1
        while not sink.empty():
            results += list(sink.recv_nowait().tdata)
            idle = 0
    counter.cancel()
    # a sink that keeps reading sees no extra beats
    for _ in range(2 * manifest["stream"]["latency"] + 4):
        await RisingEdge(dut.clk)
    extra = []
    while not sink.empty():
        extra += list(sink.recv_nowait().tdata)
    write_json(os.environ["RISTRETTO_RESULT"], {"results": results, "extra": extra, "cycles": cycles, "held": held,
                                                "beats": len(beats), "seconds": time.perf_counter() - t0})
