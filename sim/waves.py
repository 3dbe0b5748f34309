"""Timing diagrams from a real simulation: the unit itself (bare or stream) run in Amaranth's simulator,
every port sampled each cycle and written as WaveDrom (WaveJSON, and SVG through the ``wavedrom`` package).

The scenario, after reset: two dot products, the first of three blocks of
beats and the second of one (MX: a block is ``cycles_per_block`` beats), with
an idle cycle between them; on the stream interface the sink is not ready for
the first result for two cycles, so the diagram shows a result held on
``m_axis`` and ``s_axis_tready`` (the queue) staying high. Codes come from the
stimulus generator with a fixed seed: the file is the same on every run.
"""

import json

from amaranth.sim import Simulator

from ..files import write_text
from ..hw.generate import build, parse_spec
from ..hw.stream import StreamMac, input_fields
from .stimulus import beat_fields, mac_stimulus

__all__ = ["timing_diagram", "write_timing_diagram"]


def _beats(mac, n, seed=3):
    stim = mac_stimulus(mac.config, exhaustive=False, random_vectors=n, seed=seed, bias=mac.has_bias)
    return beat_fields(stim, input_fields(mac), {k: v.width for k, v in mac.lane_shapes.items()})


def _label(v):
    h = f"{v:x}"
    return h if len(h) <= 12 else f"{h[:4]}..{h[-4:]}"


def _wave(samples, beats):
    """WaveDrom wave string and data labels of one port's per-cycle values (``beats``: a new box every sample;
    a value ``(k, v)`` draws ``v``, a new box where ``k`` changes)."""
    wave, data, prev = "", [], None
    for i, v in enumerate(samples):
        if v is None:
            wave += "x" if (prev is not None or i == 0) else "."
        elif v == prev and not beats:
            wave += "."
        else:
            wave += "="
            data.append(_label(v[1] if isinstance(v, tuple) else v))
        prev = v
    return wave, data


def _bit(samples):
    return "".join("." if i and v == samples[i - 1] else str(v) for i, v in enumerate(samples))


def timing_diagram(spec):
    """WaveJSON (a dict) of the unit of ``spec`` (its ``interface`` decides which ports are drawn)."""
    cfg, options = parse_spec(spec)
    mac = build(spec)
    per = getattr(cfg, "cycles_per_block", 1)
    lengths = [3 * per, per]
    fields = _beats(mac, sum(lengths))
    stream = options["interface"] == "stream"
    top = StreamMac(mac) if stream else mac
    # per cycle: None (idle) or the beat index, and whether it is a packet's last
    plan = []
    at = 0
    for k, n in enumerate(lengths):
        plan += [(at + i, i == n - 1) for i in range(n)]
        at += n
        if k == 0:
            plan.append(None)
    plan += [None] * (mac.latency + 5)  # the results drain (the stream sink holds the first for two cycles)
    names = [n for n, _ in input_fields(mac)]
    rows = {}

    async def bench(ctx):
        sink_stall, popped = 0, 0
        first_result_seen = False
        cycle = 0
        while cycle < len(plan):
            p = plan[cycle] if cycle < len(plan) else None
            if stream:
                offer = p is not None
                ctx.set(top.s_axis_tvalid, int(offer))
                ctx.set(top.s_axis_tlast, int(bool(p and p[1])))
                data, at = 0, 0
                for name, bits in input_fields(mac):
                    if offer:
                        data |= fields[name][p[0]] << at
                    at += bits
                ctx.set(top.s_axis_tdata, data)
                valid_out = ctx.get(top.m_axis_tvalid)
                if valid_out and not first_result_seen and sink_stall < 2:
                    ready = 0
                    sink_stall += 1
                else:
                    ready = 1
                    first_result_seen = first_result_seen or bool(valid_out)
                ctx.set(top.m_axis_tready, ready)
                sample = {"s_axis_tvalid": int(offer), "s_axis_tready": ctx.get(top.s_axis_tready),
                          "s_axis_tlast": int(bool(p and p[1])), "s_axis_tdata": data if offer else None,
                          "m_axis_tvalid": valid_out, "m_axis_tready": ready,
                          "m_axis_tdata": (popped, ctx.get(top.m_axis_tdata)) if valid_out else None}
                popped += int(bool(valid_out and ready))
                if p is not None and not sample["s_axis_tready"]:  # held back: offer the same beat again
                    plan.insert(cycle + 1, p)
            else:
                first = p is not None and (p[0] == 0 or plan[cycle - 1] is None or plan[cycle - 1][1])
                ctx.set(mac.valid, int(p is not None))
                ctx.set(mac.clear, int(first))
                for name in names:
                    port = getattr(mac, name)
                    v = fields[name][p[0]] if p is not None else 0
                    ctx.set(port, v - (1 << len(port)) if port.shape().signed and v >> (len(port) - 1) else v)
                sample = {"valid": int(p is not None), "clear": int(first)}
                sample.update({n: (fields[n][p[0]] if p is not None else None) for n in names})
                sample["acc"] = ctx.get(mac.acc) & ((1 << len(mac.acc)) - 1)
                sample["out"] = ctx.get(mac.out) & ((1 << len(mac.out)) - 1)
            for k, v in sample.items():
                rows.setdefault(k, []).append(v)
            await ctx.tick()
            cycle += 1

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    n = len(next(iter(rows.values())))
    signal = [{"name": "clk", "wave": "p" + "." * (n - 1)}]
    for name, samples in rows.items():
        if all(v in (0, 1) for v in samples) and name not in names + ["acc", "out", "s_axis_tdata", "m_axis_tdata"]:
            signal.append({"name": name, "wave": _bit(samples)})
        else:
            wave, data = _wave(samples, beats=name not in ("acc", "out", "m_axis_tdata"))
            signal.append({"name": name, "wave": wave, "data": data})
    kind = "stream" if stream else "bare"
    return {"signal": signal, "head": {"text": f"{kind} interface, simulated (Amaranth); values in hex", "tick": 0},
            "config": {"hscale": 1}}


def write_timing_diagram(spec, json_path, svg_path=None):
    """Write the diagram's WaveJSON (and its SVG, rendered by ``wavedrom``) atomically; return the paths."""
    src = timing_diagram(spec)
    text = json.dumps(src, indent=1) + "\n"
    write_text(json_path, text)
    if svg_path is None:
        return (json_path,)
    import wavedrom

    write_text(svg_path, wavedrom.render(json.dumps(src)).tostring())
    return json_path, svg_path
