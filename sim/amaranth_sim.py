"""The fast tier: the same stimulus and checks through Amaranth's own simulator (no Icarus)."""

import time

from amaranth.sim import Simulator

from .check import verdict
from .stimulus import pack_lanes

__all__ = ["simulate"]


def simulate(mac, stim):
    """Run ``stim`` through component ``mac`` in Amaranth's simulator; return the verdict dict."""
    cfg, n = mac.config, len(stim["a"])
    shapes = mac.lane_shapes
    a, w = pack_lanes(stim["a"], shapes["a"].width), pack_lanes(stim["w"], shapes["w"].width)
    if mac.lanes == 1:  # one lane: the ports keep their signedness
        a, w = stim["a"].tolist(), stim["w"].tolist()
    valid, clear = stim["valid"].tolist(), stim["clear"].tolist()
    bias = stim["bias"].tolist() if mac.has_bias else None
    inputs = {k: (stim[k] & 0xFF).tolist() for k in getattr(cfg, "inputs", ())}  # an MX unit's scale codes
    acc_reads, out_reads = [], []

    async def bench(ctx):
        for i in range(n + mac.latency):
            if i < n:
                ctx.set(mac.a, a[i])
                ctx.set(mac.w, w[i])
                ctx.set(mac.valid, valid[i])
                ctx.set(mac.clear, clear[i])
                if bias is not None:
                    ctx.set(mac.bias, bias[i])
                for k, values in inputs.items():
                    ctx.set(getattr(mac, k), values[i])
            else:
                ctx.set(mac.valid, 0)
                ctx.set(mac.clear, 0)
            await ctx.tick()
            acc_reads.append(ctx.get(mac.acc))
            out_reads.append(ctx.get(mac.out))

    sim = Simulator(mac)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    t0 = time.perf_counter()
    sim.run()
    return verdict(cfg, stim, acc_reads, out_reads, stages=mac.stages, seconds=time.perf_counter() - t0)
