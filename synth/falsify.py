"""Random co-simulation of a unit against its reference in Icarus: a fast search for a mismatch before a proof.

A SAT-based equivalence proof that fails can take as long to find its
counterexample as a proof takes to close (a wrong lane in a 16-lane sum of
32-bit products runs past ten minutes). A few thousand random cycles find most
such bugs in well under a second; whatever they miss the proof still decides.
"""

import re
import shutil
import subprocess

from ..files import write_text

__all__ = ["ports", "random_mismatch"]

_PORT = re.compile(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*[,;)]?\s*$")


def ports(verilog):
    """``[(direction, name, width), ...]`` declared one per line (the reference's header, a Yosys netlist)."""
    found = []
    for line in verilog.splitlines():
        m = _PORT.match(line)
        if m:
            width = int(m.group(2)) - int(m.group(3)) + 1 if m.group(2) else 1
            found.append((m.group(1), m.group(4), width))
    return found


def _random_word(width, k):
    """A Verilog expression of ``width`` random bits; every 7th draw an extreme (0, all ones, the sign bit)."""
    words = " , ".join("$random" for _ in range((width + 31) // 32))
    return (f"(({k} % 7 == 3) ? {{{width}{{1'b1}}}} : ({k} % 7 == 5) ? {width}'d0 : "
            f"({k} % 7 == 6) ? {{1'b1, {{{width - 1}{{1'b0}}}}}} : {{{words}}})" if width > 1 else "$random")


def _testbench(top, port_list, cycles):
    inputs = [(n, w) for d, n, w in port_list if d == "input" and n not in ("clk", "rst")]
    outputs = [(n, w) for d, n, w in port_list if d == "output"]
    decl = [f"  reg [{w - 1}:0] {n};" for n, w in inputs]
    decl += [f"  wire [{w - 1}:0] gold_{n}, gate_{n};" for n, w in outputs]
    conn = ", ".join([".clk(clk)", ".rst(rst)"] + [f".{n}({n})" for n, _ in inputs])
    gold = ", ".join(f".{n}(gold_{n})" for n, _ in outputs)
    gate = ", ".join(f".{n}(gate_{n})" for n, _ in outputs)
    drive = [f"      k = $random; {n} = {_random_word(w, 'k')};" for n, w in inputs]
    differ = " || ".join(f"gold_{n} !== gate_{n}" for n, _ in outputs)
    show_in = " ".join(f"{n}=%h" for n, _ in inputs)
    show_out = " ".join(f"{n}: unit %h reference %h" for n, _ in outputs)
    args = ", ".join([n for n, _ in inputs] + [x for n, _ in outputs for x in (f"gold_{n}", f"gate_{n}")])
    return "\n".join([
        "module falsify_tb;",
        "  reg clk = 0, rst = 1;",
        "  integer cycle, k;",
        *decl,
        f"  {top} unit_i({conn}, {gold});",
        f"  reference ref_i({conn}, {gate});",
        "  initial begin",
        f"    for (cycle = 0; cycle < {cycles}; cycle = cycle + 1) begin",
        "      rst = (cycle < 4) || ($random % 97 == 0);",
        *drive,
        "      #1;",
        f"      if (cycle >= 4 && ({differ})) begin",
        f'        $display("FAIL at cycle %0d (rst=%b): {show_in} {show_out}", cycle, rst, {args});',
        "        $finish;",
        "      end",
        "      clk = 1; #1; clk = 0;",
        "    end",
        '    $display("PASS");',
        "    $finish;",
        "  end",
        "endmodule",
        ""])


def random_mismatch(workdir, unit_v, reference_v, top, reference_text, cycles=3000, timeout=120):
    """The first cycle where the unit and its reference differ on random inputs (text with ``FAIL``), or None.

    None too when Icarus is not installed or does not finish in ``timeout``
    seconds: the search is an accelerator for refutation, never a verdict of
    equality.
    """
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        return None
    write_text(workdir / "falsify_tb.v", _testbench(top, ports(reference_text), cycles))
    try:
        built = subprocess.run(["iverilog", "-g2012", "-o", "falsify.vvp", "falsify_tb.v", unit_v, reference_v],
                               cwd=workdir, capture_output=True, text=True, timeout=timeout)
        if built.returncode:
            return None
        ran = subprocess.run(["vvp", "-n", "falsify.vvp"], cwd=workdir, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    fail = [ln for ln in ran.stdout.splitlines() if ln.startswith("FAIL")]
    return f"random co-simulation in Icarus: {fail[0]}" if fail else None
