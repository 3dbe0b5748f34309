"""Generic cocotb testbench of every MAC family, driven by the generated manifest.

Environment: ``RISTRETTO_MANIFEST`` (manifest path), ``RISTRETTO_STIMULUS``
(``.npz`` with ``a``, ``w``, ``valid``, ``clear``), ``RISTRETTO_RESULT`` (where
the reads are written as JSON: ``acc`` and ``out`` after each edge, ``seconds``).
Widths come from the manifest. The testbench only drives and reads: the verdict
(expected values from ``ristretto.datapath`` through ``ristretto.sim.check``)
is computed by ``ristretto.sim.runner.verify`` in the calling process, so the
simulator's embedded Python never imports torch (5 s of start-up per run there).
"""

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge
from ristretto.sim.stimulus import pack_lanes

from ristretto.files import write_json


@cocotb.test()
async def mac_run(dut):
    with open(os.environ["RISTRETTO_MANIFEST"]) as f:
        manifest = json.load(f)
    signed = set(manifest["signed_ports"])
    stim = dict(np.load(os.environ["RISTRETTO_STIMULUS"]))
    lane_bits = manifest.get("lane_bits", {"a": manifest["ports"]["a"], "w": manifest["ports"]["w"]})
    bias = (stim["bias"] & ((1 << manifest["ports"]["bias"]) - 1)).tolist() if manifest["bias"] else None

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    low = manifest.get("reset", "sync-high").endswith("low")
    reset = dut.rst_n if low else dut.rst
    reset.value = 0 if low else 1
    dut.valid.value, dut.clear.value, dut.a.value, dut.w.value = 0, 0, 0, 0
    if manifest["bias"]:
        dut.bias.value = 0
    inputs = {k: (stim[k] & 0xFF).tolist() for k in manifest.get("inputs", [])}  # an MX unit's scale codes
    for k in inputs:
        getattr(dut, k).value = 0
    for _ in range(2):
        await FallingEdge(dut.clk)
    reset.value = 1 if low else 0

    # Inputs change at falling edges; each read follows the rising edge before it.
    a, w = pack_lanes(stim["a"], lane_bits["a"]), pack_lanes(stim["w"], lane_bits["w"])
    valid, clear = stim["valid"].tolist(), stim["clear"].tolist()
    n = len(a)
    acc_reads, out_reads = [], []
    t0 = time.perf_counter()
    for i in range(n + manifest["latency"]):
        if i < n:
            dut.a.value, dut.w.value, dut.valid.value, dut.clear.value = a[i], w[i], valid[i], clear[i]
            if bias is not None:
                dut.bias.value = bias[i]
            for k, values in inputs.items():
                getattr(dut, k).value = values[i]
        else:
            dut.valid.value, dut.clear.value = 0, 0
        await FallingEdge(dut.clk)
        acc, out = dut.acc.value, dut.out.value
        acc_reads.append(acc.to_signed() if "acc" in signed else acc.to_unsigned())
        out_reads.append(out.to_signed() if "out" in signed else out.to_unsigned())
    # atomic: the runner never reads half a record
    write_json(os.environ["RISTRETTO_RESULT"], {"acc": acc_reads, "out": out_reads,
                                                "seconds": time.perf_counter() - t0})
