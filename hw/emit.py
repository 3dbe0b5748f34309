"""Verilog an integrator can read: fixed port order, a stated reset, no initialisers, a header that documents it.

``emit(top, name, ports, ...)`` is the one place a unit becomes Verilog. The
ports come out in the order of ``port_table`` (clock, reset, inputs, outputs),
each port described once there (the header and the manifest both print it);
the clock domain's reset is synchronous or asynchronous, active high (``rst``)
or low (``rst_n``); register initialisers (``reg x = 0``, which ASIC flows
ignore) are kept only when asked for (FPGA flows).

The file is SystemVerilog-2012 in its processes: ``always_ff`` for registers
and ``always_comb`` for logic (Yosys ``write_verilog -sv``; read it with
``iverilog -g2012``, ``yosys read_verilog -sv``, Verilator or any commercial
tool). Plain Verilog ``always @*`` (Amaranth's own ``verilog.convert``) runs only
on an input event: in a testbench that holds reset from time 0 (``reg rst = 1``)
it never computed the reset values and, with no initialisers, every register of
a stream unit stayed X in Icarus; ``always_comb`` runs at time 0.
"""

import json
import re

from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Fragment, Signal
from amaranth.hdl._ir import PortDirection

from .. import __version__

__all__ = ["RESETS", "header", "emit", "port_table"]

RESETS = ("sync-high", "sync-low", "async-high", "async-low")


def _reset_port(reset):
    return "rst" if reset.endswith("high") else "rst_n"


def _reset_words(reset):
    kind, level = reset.split("-")
    return (f"{'synchronous' if kind == 'sync' else 'asynchronous'} reset, active {level}: every register "
            f"takes its reset value{' at the next rising clk edge' if kind == 'sync' else ' at once'}")


def _fmt(fmt):
    return f"{fmt.slug} ({fmt!r})"


def _lanes(unit, port):
    n = unit.lanes
    bits = unit.lane_shapes[port].width
    return f"; {n} lanes, lane i in bits [i*{bits}, (i+1)*{bits})" if n > 1 else ""


def _acc_words(unit):
    cfg = unit.config
    if cfg.family in ("float32", "mx") or getattr(cfg, "accumulator", None) == "fp32":
        return "IEEE binary32 bit pattern"
    acc = cfg.accumulator if cfg.family in ("fixed", "shift") else cfg.acc
    return f"{acc.bits}-bit two's complement integer, LSB 2**-{acc.frac_bits}, {acc.overflow} on overflow" \
        if hasattr(acc, "frac_bits") else f"{acc!r}"


def _bare_inputs(unit):
    cfg = unit.config
    rows = [("valid", 1, "this edge's a x w enters the sum"),
            ("clear", 1, "this edge restarts the sum (as this edge's product if valid" +
             (", plus bias" if unit.has_bias else "") + ")"),
            ("a", len(unit.a), f"activation code{'s' if unit.lanes > 1 else ''}, {_fmt(cfg.a)}{_lanes(unit, 'a')}"),
            ("w", len(unit.w), f"weight code{'s' if unit.lanes > 1 else ''}, {_fmt(cfg.w)}{_lanes(unit, 'w')}")]
    if "sa" in getattr(cfg, "inputs", ()):
        rows += [("sa", 8, "E8M0 scale code of the activation block, read on a block's last valid cycle"),
                 ("sw", 8, "E8M0 scale code of the weight block, read on a block's last valid cycle")]
    if unit.has_bias:
        rows.append(("bias", len(unit.bias), f"preloaded at clear, {_acc_words(unit)}"))
    return rows


def _out_words(unit):
    cfg = unit.config
    return "IEEE binary32 bit pattern" if cfg.family in ("float32", "mx") else _fmt(cfg.out)


def port_table(unit, interface="bare", reset="sync-high"):
    """``[{"name", "dir", "bits", "what"}]`` of the emitted module, in port order (clock, reset, inputs,
    outputs); ``unit`` is the bare MAC, ``interface`` ``"bare"`` or ``"stream"``."""
    rows = [("clk", "in", 1, "clock; everything samples on the rising edge"),
            (_reset_port(reset), "in", 1, _reset_words(reset))]
    if interface == "bare":
        rows += [(n, "in", b, w) for n, b, w in _bare_inputs(unit)]
        rows += [("acc", "out", len(unit.acc), f"raw running sum, {_acc_words(unit)}"),
                 ("out", "out", len(unit.out), f"the sum in the output format, {_out_words(unit)}")]
    else:
        from .stream import stream_shape

        s = stream_shape(unit)
        fields, at = [], 0
        for f in s["fields"]:
            fields.append(f"[{at + f['bits'] - 1}:{at}] {f['name']}")
            at += f["bits"]
        rows += [("s_axis_tvalid", "in", 1, "an input beat is offered"),
                 ("s_axis_tlast", "in", 1, "this beat ends the dot product"),
                 ("s_axis_tdata", "in", s["tdata_bits"], "beat fields " + ", ".join(fields) +
                  (f", zero above bit {at - 1}" if at < s["tdata_bits"] else "") +
                  " (as on the bare unit: " + "; ".join(f"{n}: {w}" for n, _, w in _bare_inputs(unit)[2:]) + ")"),
                 ("m_axis_tready", "in", 1, "the sink takes the result beat")]
        rows += [("s_axis_tready", "out", 1, "the unit takes the offered beat (depends on registers only)"),
                 ("m_axis_tvalid", "out", 1, "a result beat is offered"),
                 ("m_axis_tdata", "out", s["out_bits"],
                  f"[{len(unit.out) - 1}:0] one dot product's result, {_out_words(unit)}" +
                  (", zero above" if len(unit.out) < s["out_bits"] else ""))]
    return [{"name": n, "dir": d, "bits": b, "what": w} for n, d, b, w in rows]


def header(name, spec, ports, timing):
    """The comment block at the top of the Verilog file."""
    lines = [f"{name}: generated by ristretto {__version__} (ristretto hw generate); do not edit.",
             f"Regenerate: ristretto hw generate {name}.json  (the manifest beside this file)",
             "Spec: " + json.dumps(spec, sort_keys=True, separators=(",", ":")), "", "Ports:"]
    width = max(len(p["name"]) for p in ports)
    for p in ports:
        lines.append(f"  {p['name']:<{width}}  {p['dir']:<3} {p['bits']:>4}  {p['what']}")
    lines += ["", "Timing:"] + [f"  {t}" for t in timing]
    lines += ["", "Language: Verilog with SystemVerilog-2012 processes (always_ff, always_comb): iverilog -g2012, "
              "yosys read_verilog -sv, Verilator."]
    return "".join(f"// {ln}".rstrip() + "\n" for ln in lines)


def _yosys(rtlil_text, *, initial_values):
    # amaranth.back.verilog's own script (0.5), written as SystemVerilog processes (module docstring), plus the
    # removal of initialisers
    from amaranth._toolchain.yosys import find_yosys

    yosys = find_yosys(lambda ver: ver >= (0, 40))
    attrs = "-remove generator -remove top -remove src -remove amaranth.hierarchy -remove amaranth.decoding"
    script = [f"read_rtlil <<rtlil\n{rtlil_text}\nrtlil", "proc -nomux -norom", "memory_collect",
              f"attrmap {attrs}", f"attrmap -modattr {attrs}"]
    if not initial_values:
        script.append("attrmap -remove init")
    script.append("write_verilog -sv -norename")
    return yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True)


def emit(top, name, ports, *, reset="sync-high", initial_values=False):
    """Verilog text of component ``top`` (the bare unit or its stream wrapper) as module ``name``.

    ``ports`` is ``port_table``'s list: the module's ports in that order, the
    first two the clock and the reset of the ``sync`` domain (``reset`` style).
    """
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {', '.join(RESETS)}, not {reset!r}")
    frag = Fragment.get(top, None)
    cd = ClockDomain("sync", async_reset=reset.startswith("async"))
    frag.add_domains(cd)
    port_map = {"clk": (cd.clk, PortDirection.Input)}
    if reset.endswith("low"):
        rst_n = Signal(name="rst_n")
        frag.add_statements("comb", cd.rst.eq(~rst_n))
        port_map["rst_n"] = (rst_n, PortDirection.Input)
    else:
        port_map["rst"] = (cd.rst, PortDirection.Input)
    for p in ports[2:]:
        port_map[p["name"]] = (getattr(top, p["name"]),
                               PortDirection.Input if p["dir"] == "in" else PortDirection.Output)
    text, _ = rtlil.convert_fragment(frag, port_map, name=name, emit_src=False)
    return _yosys(_order_ports(text, name, list(port_map)), initial_values=initial_values)


_PORT = re.compile(r"^(\s*wire width \d+ (?:input|output) )(\d+)(.*\\)(\S+)$")


def _order_ports(text, name, order):
    """RTLIL ``text`` with module ``name``'s port numbers following ``order`` (Yosys writes ports by number)."""
    lines, inside, seen = text.split("\n"), False, []
    rank = {p: i + 1 for i, p in enumerate(order)}  # Yosys numbers ports from 1 (0: not a port)
    for i, ln in enumerate(lines):
        if ln.startswith("module "):
            inside = ln == f"module \\{name}"
        elif inside and (hit := _PORT.match(ln)):
            lines[i] = f"{hit[1]}{rank[hit[4]]}{hit[3]}{hit[4]}"
            seen.append(hit[4])
    if sorted(seen) != sorted(order):
        raise RuntimeError(f"module {name} has ports {seen}, expected {order}")
    return "\n".join(lines)
