"""Naive reference Verilog of a unit, written straight from the format definitions and the datapath contract.

Nothing here is shared with the Amaranth generators but the configuration: one
plain expression per step (lane products, their plain sum, the accumulator
under its overflow policy, the output rounding and saturation), so a reader can
check it against ``ristretto.datapath`` by eye. ``ristretto hw prove`` proves
the generated unit equal to it for every input and every state.

The port contract (``hw/mac.py``): synchronous active-high ``rst`` clears
every register; at a rising edge with ``valid`` the sum of the cycle's
products enters the accumulator, which restarts from ``bias`` (or zero) when
``clear``; with ``clear`` and no ``valid`` it becomes ``bias`` (or zero).
``stages`` 1 registers the products' sum (with valid, clear and bias), 2 also
the output.
"""

from ..datapath import IntMacConfig, MinifloatMacConfig
from ..formats.fixed import twos_complement_range

__all__ = ["NoReference", "reference_verilog"]


class NoReference(ValueError):
    """A unit family with no naive reference to prove against (float32 adders, MX): simulation only."""


def _lanes(cfg, lines):
    """Lane codes ``a0, w0, ...`` sliced from the vector ports."""
    ab, wb = cfg.a.bits, cfg.w.bits
    a_signed = "signed " if isinstance(cfg, IntMacConfig) else ""
    w_signed = "signed " if isinstance(cfg, IntMacConfig) and cfg.family == "fixed" else ""
    for i in range(cfg.lanes):
        lines.append(f"  wire {a_signed}[{ab - 1}:0] a{i} = a[{(i + 1) * ab - 1}:{i * ab}];")
        lines.append(f"  wire {w_signed}[{wb - 1}:0] w{i} = w[{(i + 1) * wb - 1}:{i * wb}];")


def _int_products(cfg, lines):
    """``p{i}``: the exact signed product at the accumulator's scale (``IntMacConfig.products``)."""
    pb = cfg.product_bits
    for i in range(cfg.lanes):
        if cfg.family == "fixed":
            lines.append(f"  wire signed [{pb - 1}:0] product{i} = a{i} * w{i};")
            continue
        mag = cfg.w.bits - 1
        z = int(cfg.w.zero)
        lines.append(f"  wire [{mag - 1}:0] k{i} = w{i}[{mag - 1}:0];")
        lines.append(f"  wire signed [{pb - 1}:0] m{i} = " +
                     (f"(k{i} == 0) ? {pb}'sd0 : " if z else "") +
                     f"($signed({{{{{pb - cfg.a.bits}{{a{i}[{cfg.a.bits - 1}]}}}}, a{i}}}) <<< (k{i} - {z}));")
        lines.append(f"  wire signed [{pb - 1}:0] product{i} = w{i}[{mag}] ? -m{i} : m{i};")


def _minifloat_products(cfg, lines):
    """``p{i}``: the exact product of two minifloats as an integer at ``2**-product_frac_bits``."""
    pb = cfg.product_bits + 1
    for i in range(cfg.lanes):
        for x, fmt in (("a", cfg.a), ("w", cfg.w)):
            mb, eb = fmt.man_bits, fmt.exp_bits
            lines.append(f"  wire [{eb - 1}:0] {x}e{i} = {x}{i}[{mb + eb - 1}:{mb}];")
            lines.append(f"  wire {x}s{i} = {x}{i}[{mb + eb}];")
            # value = sig * 2**(e - bias - man_bits); e counted from 1 for subnormals
            if fmt.subnormals:
                sig = f"{{{x}e{i} != 0, {x}{i}[{mb - 1}:0]}}" if mb else f"{{{x}e{i} != 0}}"
                lines.append(f"  wire [{mb}:0] {x}m{i} = {sig};")
                lines.append(f"  wire [{eb}:0] {x}x{i} = ({x}e{i} == 0) ? 0 : {x}e{i} - 1;")
            else:  # exponent code 0 is zero
                sig = f"{{1'b1, {x}{i}[{mb - 1}:0]}}" if mb else "1'b1"
                lines.append(f"  wire [{mb}:0] {x}m{i} = ({x}e{i} == 0) ? 0 : {sig};")
                lines.append(f"  wire [{eb}:0] {x}x{i} = ({x}e{i} == 0) ? 0 : {x}e{i} - 1;")
        # |p| = am * wm << (ax + wx): the smallest binade of each format has exponent offset 0
        lines.append(f"  wire [{pb - 1}:0] q{i} = (am{i} * wm{i}) << (ax{i} + wx{i});")
        lines.append(f"  wire signed [{pb - 1}:0] product{i} = (as{i} ^ ws{i}) ? -$signed(q{i}) : $signed(q{i});")


def reference_verilog(cfg, *, stages=0, bias=False, module="reference"):
    """Verilog text of the naive reference of a fixed-point, barrel-shifter or exact-minifloat unit.

    Raises
    ------
    ValueError
        For a unit with float32 adders (no naive fixed-point reference: those
        parts rest on simulation) or a float32 unit.
    """
    if isinstance(cfg, MinifloatMacConfig):
        if cfg.accumulator != "exact":
            raise NoReference("no naive reference for float32 adders: their units are verified by simulation only")
        acc_bits, frac, out_kind = cfg.acc_bits, cfg.product_frac_bits, "minifloat"
        product_bits = cfg.product_bits + 1
    elif isinstance(cfg, IntMacConfig):
        acc_bits, frac, out_kind = cfg.acc_bits, cfg.accumulator.frac_bits, "dfp"
        product_bits = cfg.product_bits
    else:
        raise NoReference(f"no naive reference for the {cfg.family} unit: it is verified by simulation only")
    n = cfg.lanes
    sum_bits = product_bits + max(0, (n - 1).bit_length())
    wide = max(acc_bits, sum_bits) + 1
    lo, hi = twos_complement_range(acc_bits)
    ports = [f"input [{n * cfg.a.bits - 1}:0] a", f"input [{n * cfg.w.bits - 1}:0] w", "input valid",
             "input clear", "input clk", "input rst", f"output signed [{acc_bits - 1}:0] acc",
             f"output [{cfg.out.bits - 1}:0] out"]
    if bias:
        ports.insert(4, f"input signed [{acc_bits - 1}:0] bias")
    lines = [f"module {module}(", ",\n".join(f"  {p}" for p in ports), ");"]
    _lanes(cfg, lines)
    (_minifloat_products if out_kind == "minifloat" else _int_products)(cfg, lines)
    terms = " + ".join(f"$signed({{{{{sum_bits - product_bits}{{product{i}[{product_bits - 1}]}}}}, product{i}}})"
                       if sum_bits > product_bits else f"product{i}" for i in range(n))
    lines.append(f"  wire signed [{sum_bits - 1}:0] lanesum = {terms};")
    lines.append(f"  reg signed [{acc_bits - 1}:0] acc_r;")
    if stages >= 1:
        lines += [f"  reg signed [{sum_bits - 1}:0] s1;", "  reg v1, c1;"]
        if bias:
            lines.append(f"  reg signed [{acc_bits - 1}:0] b1;")
        lines.append("  always @(posedge clk) if (rst) begin s1 <= 0; v1 <= 0; c1 <= 0;" +
                     (" b1 <= 0;" if bias else "") + " end else begin s1 <= lanesum; v1 <= valid; c1 <= clear;" +
                     (" b1 <= bias;" if bias else "") + " end")
        sv, vv, cv, bv = "s1", "v1", "c1", "b1"
    else:
        sv, vv, cv, bv = "lanesum", "valid", "clear", "bias"
    start = bv if bias else f"{acc_bits}'sd0"
    lines.append(f"  wire signed [{acc_bits - 1}:0] base = {cv} ? {start} : acc_r;")
    lines.append(f"  wire signed [{wide - 1}:0] total = base + {sv};")
    if cfg.overflow == "saturate":
        lines.append(f"  wire signed [{acc_bits - 1}:0] fitted = (total > {hi}) ? {acc_bits}'sd{hi} : "
                     f"(total < -{-lo}) ? -{acc_bits}'sd{-lo} : total[{acc_bits - 1}:0];")
    else:  # wrap: keep the low bits
        lines.append(f"  wire signed [{acc_bits - 1}:0] fitted = total[{acc_bits - 1}:0];")
    lines.append(f"  always @(posedge clk) if (rst) acc_r <= 0; else if ({vv}) acc_r <= fitted; "
                 f"else if ({cv}) acc_r <= {start};")
    lines.append("  assign acc = acc_r;")
    lines += (_dfp_output(cfg, acc_bits, frac) if out_kind == "dfp" else _minifloat_output(cfg, acc_bits))
    if stages >= 2:
        lines.append(f"  reg [{cfg.out.bits - 1}:0] out_r;")
        lines.append("  always @(posedge clk) if (rst) out_r <= 0; else out_r <= o;")
        lines.append("  assign out = out_r;")
    else:
        lines.append("  assign out = o;")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def _dfp_output(cfg, acc_bits, frac):
    """``o = saturate(round_half_even(acc / 2**shift))`` (``DynamicFixedPoint.requantize_codes``)."""
    shift = frac - cfg.out.frac_bits
    ob = cfg.out.bits
    lo, hi = twos_complement_range(ob)
    w = acc_bits + max(0, -shift) + 1
    if shift >= acc_bits:
        r = f"{w}'sd0"
        lines = []
    elif shift > 0:
        sticky = f"|acc_r[{shift - 2}:0]" if shift >= 2 else "1'b0"
        lines = [f"  wire signed [{w - 1}:0] q = acc_r >>> {shift};",
                 f"  wire up = acc_r[{shift - 1}] & ({sticky} | q[0]);"]
        r = "q + $signed({1'b0, up})"
    else:
        lines = []
        r = f"$signed({{{{{w - acc_bits}{{acc_r[{acc_bits - 1}]}}}}, acc_r}}) <<< {-shift}"
    lines.append(f"  wire signed [{w}:0] r = {r};")
    lines.append(f"  wire signed [{ob - 1}:0] o = (r > {hi}) ? {ob}'sd{hi} : (r < -{-lo}) ? -{ob}'sd{-lo} : "
                 f"r[{ob - 1}:0];")
    return lines


def _minifloat_output(cfg, acc_bits):
    """``o``: the exact sum rounded to the output minifloat, nearest even, saturating (``Minifloat.encode``).

    Written as a table: every non-negative value of the output format, and
    for each gap between neighbours the midpoint, compared on integers at the
    finer of the accumulator's and the output's scales. Ties go to the even
    code. Plain, not small.
    """
    out = cfg.out
    frac = cfg.product_frac_bits
    values = out.decode(out.codes()).double().tolist()
    codes = {}
    for c, v in zip(out.codes().tolist(), values, strict=True):
        if v >= 0 and not (v == 0 and c & (1 << (out.bits - 1))):
            codes.setdefault(v, c)  # the lowest code of each value (+0 before other zero codes)
    scale = max(frac, -out.lsb_exp)  # the output's quantum in its lowest binade is 2**(emin - man_bits)
    mags = sorted(codes)
    ints = [int(v * 2.0**scale) for v in mags]
    if any(i != v * 2.0**scale for i, v in zip(ints, mags, strict=True)):
        raise ValueError(f"output values of {out!r} are not integers at 2**-{scale}")
    shift = scale - frac
    width = acc_bits + shift + 2
    lines = [f"  wire neg = acc_r[{acc_bits - 1}];",
             f"  wire [{acc_bits}:0] amag = neg ? -$signed({{acc_r[{acc_bits - 1}], acc_r}}) : {{1'b0, acc_r}};",
             f"  wire [{width - 1}:0] mag = amag << {shift};  // |sum| * 2**{scale}"]
    ob = out.bits
    expr = f"{ob}'d{codes[mags[-1]]}"  # at or above the largest value: saturate
    for k in range(len(mags) - 2, -1, -1):  # the gap [mags[k], mags[k+1]), from the top down
        lo_c, hi_c = codes[mags[k]], codes[mags[k + 1]]
        mid2 = ints[k] + ints[k + 1]  # compare 2*mag with lo + hi: exact
        tie = lo_c if lo_c % 2 == 0 else hi_c
        expr = (f"(mag < {ints[k + 1]}) ? ((2*mag < {mid2}) ? {ob}'d{lo_c} : (2*mag > {mid2}) ? {ob}'d{hi_c} : "
                f"{ob}'d{tie}) : {expr}")
    lines.append(f"  wire [{ob - 1}:0] om = {expr};")
    lines.append(f"  wire [{ob - 1}:0] o = neg ? (om | {ob}'d{1 << (ob - 1)}) : om;")  # a negative sum keeps its sign
    return lines
