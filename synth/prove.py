"""Formal equivalence of a generated unit and its naive reference (Yosys: equiv_make, equiv_simple, equiv_induct).

The unit (``gold``: the Amaranth generator's Verilog) and the reference
(``gate``: ``hw/reference.py``) are matched port by port; ``equiv_simple -seq``
proves each output equal over a window of cycles and ``equiv_induct -seq``
closes the induction over every accumulator and pipeline state. Both designs
clear every register on ``rst``, so equal outputs for every input sequence
from any equal-output state is what is proven. Before the proof a few
thousand cycles of random co-simulation in Icarus look for a mismatch (fast
refutation, ``falsify.py``); on a failed proof a bounded model check from reset
(``sat -seq``) finds a counterexample: inputs per cycle.
"""

import json
import re
import time
from collections import Counter
from pathlib import Path

from ..files import write_text
from ..hw.generate import generate, load_spec, parse_spec
from ..hw.reference import reference_verilog
from .falsify import random_mismatch
from .tools import ToolFailed, ToolTimeout, require, run

__all__ = ["ProofResult", "prove", "prove_stream"]

# internal names are private (equiv_make must not pair same-named wires that mean other things), except the
# lane products (product0, product1, ...) and their sum (lanesum), named alike in both designs: proven equal
# first, they cut the proof of the sum (adder tree against a plain sum) off from the multipliers and the rest
_HIDE = "rename -hide w:* i:* o:* %u %d w:product* %d w:lanesum %d"
SEQ = 3  # cycles of the equivalence window and of the induction (latency <= 3)
_SUM_EQUIV = "w:lanesum %ci1 t:$equiv %i"  # the $equiv cells of the lane sum


class ProofResult(dict):
    """``proven`` (True, False, or None when undecided within the time limit), ``module``, ``engine``,
    ``seconds``, and ``counterexample`` (text) on failure."""


def _load(gold, gate, top_gold, top_gate):
    return (f"read_verilog -sv {gold}; rename {top_gold} gold; read_verilog -sv {gate}; rename {top_gate} gate; "
            f"proc; flatten; opt_clean; async2sync; wreduce; opt_clean; {_HIDE}")


# Both designs are read, their internal names hidden, and paired (equiv_make); opt_merge then shares every cell
# that is identical in both (the lane multipliers, where both write a*b). For N lanes, alumacc rewrites each
# design's lane sum into one multi-operand $macc cell; the sum is proven when the two cells add the same
# operands (``_same_sum``), and the lane sum's $equiv cells are then resolved to the unit's side
# (equiv_remove -gold) before the SAT-based passes prove everything else.
def _pair(gold, gate, top_gold, top_gate):
    return f"{_load(gold, gate, top_gold, top_gate)}; equiv_make gold gate equiv; hierarchy -top equiv; " \
           f"opt_clean; opt_merge; opt_clean"


def _prove_script(seq, sum_proven):
    cut = f"equiv_remove -gold {_SUM_EQUIV}; " if sum_proven else ""
    return f"read_rtlil equiv.il; {cut}equiv_simple -seq {seq}; equiv_induct -seq {seq}; equiv_status -assert"


def _macc_operands(cell):
    """Operands of a Yosys ``$macc`` cell (JSON netlist): a multiset of (signed, subtract, a bits, b bits)."""
    par = cell["parameters"]
    width = int(par["CONFIG_WIDTH"], 2) if isinstance(par["CONFIG_WIDTH"], str) else int(par["CONFIG_WIDTH"])
    config = [c == "1" for c in reversed(par["CONFIG"])][:width]  # least significant bit first
    a = cell["connections"]["A"]
    num_bits = sum(config[i] << i for i in range(4))
    pos, ops, at = 4, [], 0
    while at < len(a):
        signed, subtract = config[pos], config[pos + 1]
        pos += 2
        size_a = sum(config[pos + i] << i for i in range(num_bits))
        size_b = sum(config[pos + num_bits + i] << i for i in range(num_bits))
        pos += 2 * num_bits
        ops.append((signed, subtract, tuple(a[at:at + size_a]), tuple(a[at + size_a:at + size_a + size_b])))
        at += size_a + size_b
    return Counter(ops), Counter(cell["connections"]["B"])


def _same_sum(netlist):
    """True when the unit's and the reference's lane sums are driven by ``$macc`` cells of equal width that
    add the same multiset of operands (addition is commutative and exact modulo the width), or by one cell."""
    mod = netlist["modules"]["equiv"]
    gold = mod["netnames"].get("lanesum_gold", {}).get("bits")
    gate = mod["netnames"].get("lanesum_gate", {}).get("bits")
    if gold is None or gate is None:
        return False
    if gold == gate:
        return True
    drivers = {}
    for cell in mod["cells"].values():
        if cell["type"] == "$macc":
            drivers[tuple(cell["connections"]["Y"])] = cell
    cg, ct = drivers.get(tuple(gold)), drivers.get(tuple(gate))
    return cg is not None and ct is not None and _macc_operands(cg) == _macc_operands(ct)


def _counterexample(workdir, gold, gate, top_gold, top_gate, seq):
    script = (f"{_load(gold, gate, top_gold, top_gate)}; "
              f"miter -equiv -flatten -make_outputs -ignore_gold_x gold gate miter; "
              f"hierarchy -top miter; sat -seq {seq + 3} -set-init-zero -prove trigger 0 "
              f"-show-inputs -show-outputs -show-ports miter")
    try:
        log = run(["yosys", "-p", script], workdir, "counterexample.log")
    except ToolFailed as err:
        log = str(err)
    keep = [ln for ln in log.splitlines() if ln.strip().startswith(("\\in_", "\\gold_", "\\gate_", "Time"))
            or "SAT proof finished" in ln or "FAIL" in ln]
    return "\n".join(keep[:80]) or log[-3000:]


def prove(spec, workdir, *, reference=None, timeout=600):
    """Prove the unit of ``spec`` equal to its naive reference for every input; return a ``ProofResult``.

    ``reference`` (Verilog text) replaces the generated reference (tests use it
    to show that a wrong reference is refuted). After ``timeout`` seconds the
    proof stops undecided: ``proven`` is None.

    Raises
    ------
    ValueError
        For a unit with no naive reference (float32 adders).
    ToolMissing
        When yosys is not installed.
    """
    require("yosys")
    # the datapath is proven on the bare unit with the reference's port contract (synchronous active-high rst):
    # another reset style changes the registers' reset wiring only, the stream interface adds control around
    # the same unit (checked under backpressure by ``sim.stream``)
    spec = {**load_spec(spec), "interface": "bare", "reset": "sync-high", "initial_values": False}
    cfg, options = parse_spec(spec)
    ref = reference if reference is not None else reference_verilog(
        cfg, module="reference", stages=options["stages"], bias=options["bias"])
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    v_path, j_path = generate(spec, workdir)
    top = json.loads(j_path.read_text())["module"]
    ref_path = workdir / "reference.v"
    write_text(ref_path, ref)
    t0 = time.perf_counter()
    mismatch = random_mismatch(workdir, v_path.name, ref_path.name, top, ref, timeout=timeout)
    if mismatch is not None:
        return ProofResult(proven=False, module=top, seconds=time.perf_counter() - t0, counterexample=mismatch,
                           engine="random co-simulation (Icarus)")
    lanes = json.loads(j_path.read_text()).get("lanes", 1)
    pair = _pair(v_path.name, ref_path.name, top, "reference")
    sum_proven = False
    try:
        if lanes > 1:
            run(["yosys", "-q", "-p", f"{pair}; alumacc; opt_merge; opt_clean; write_json sums.json; "
                 "write_rtlil equiv.il"], workdir, "pair.log", timeout=timeout)
            sum_proven = _same_sum(json.loads((workdir / "sums.json").read_text()))
        else:
            run(["yosys", "-q", "-p", f"{pair}; write_rtlil equiv.il"], workdir, "pair.log", timeout=timeout)
        left = max(1.0, timeout - (time.perf_counter() - t0))
        run(["yosys", "-q", "-p", _prove_script(SEQ, sum_proven)], workdir, "prove.log", timeout=left)
        proven, cex = True, None
    except ToolTimeout:  # undecided within the time limit
        proven, cex = None, None
    except ToolFailed as err:
        if "Found" not in str(err) and "unproven" not in str(err):
            raise
        proven, cex = False, _counterexample(workdir, v_path.name, ref_path.name, top, "reference", SEQ)
    seconds = time.perf_counter() - t0
    return ProofResult(proven=proven, module=top, seconds=seconds, counterexample=cex,
                       engine=f"yosys equiv_simple -seq {SEQ} + equiv_induct -seq {SEQ}"
                       + ("; lane sum: alumacc, equal $macc operands" if sum_proven else ""))


STREAM_DEPTH = 12  # the longest induction tried for the stream control proof (it closes at latency + 2 or so)


def _stream_harness(manifest):
    """A checker around the stream unit: ``bad`` when a result offered and not taken is gone or changed in the
    next cycle (the AXI4-Stream rule for a source); the unit's own ``dropped`` says a result met a full queue."""
    s, module = manifest["stream"], manifest["module"]
    low = manifest["reset"].endswith("low")
    rst = ".rst_n(~rst)" if low else ".rst(rst)"
    o = s["out_bits"]
    return f"""module stream_check(input clk, input rst, input s_axis_tvalid, input s_axis_tlast,
    input [{s['tdata_bits'] - 1}:0] s_axis_tdata, input m_axis_tready, output bad);
  wire s_ready, m_valid;
  wire [{o - 1}:0] m_data;
  {module} dut(.clk(clk), {rst}, .s_axis_tvalid(s_axis_tvalid), .s_axis_tlast(s_axis_tlast),
    .s_axis_tdata(s_axis_tdata), .m_axis_tready(m_axis_tready), .s_axis_tready(s_ready), .m_axis_tvalid(m_valid),
    .m_axis_tdata(m_data));
  reg held;
  reg [{o - 1}:0] held_data;
  always @(posedge clk) begin
    held <= !rst && m_valid && !m_axis_tready;
    held_data <= m_data;
  end
  assign bad = held && !rst && !(m_valid && m_data == held_data);  // a reset empties the queue
endmodule
"""


def prove_stream(spec, workdir, *, timeout=600, _credit=None):
    """Prove the stream wrapper's control for every input sequence from reset (k-induction, Yosys ``sat
    -tempinduct``): no result is ever dropped (a result never reaches a full queue) and a result offered on
    ``m_axis`` stays, unchanged, until taken (and, to make the induction close, the queue's fill never exceeds
    its depth). The datapath inside is the bare unit ``prove`` proves; the
    wrapper drives it with ``valid`` = an accepted beat and ``clear`` = a packet's first beat.

    ``_credit`` (tests) builds the wrapper that owes more results than its queue holds: refuted.
    Returns a ``ProofResult`` (``counterexample``: the failing trace from reset).
    """
    require("yosys")
    spec = {**load_spec(spec), "interface": "stream"}
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    v_path, j_path = generate(spec, workdir, _credit=_credit)
    manifest = json.loads(j_path.read_text())
    write_text(workdir / "stream_check.v", _stream_harness(manifest))
    # the unit inside is cut (its outputs free, ``cutpoint``): the control is proven for any datapath, and the
    # solver never sees a float32 adder
    script = (f"read_verilog -sv {v_path.name} stream_check.v; hierarchy -top stream_check; proc; "
              f"cutpoint {manifest['module']}.unit; flatten; async2sync; "
              "sat -tempinduct -prove bad 0 -prove dut.dropped 0 -prove dut.overfull 0 -set-at 1 rst 1 -seq 1 "
              f"-maxsteps {STREAM_DEPTH} -show-inputs -show dut.dropped,bad")
    t0 = time.perf_counter()
    try:
        log = run(["yosys", "-p", script], workdir, "stream_prove.log", timeout=timeout)
    except ToolTimeout:
        return ProofResult(proven=None, module=manifest["module"], seconds=time.perf_counter() - t0,
                           counterexample=None, engine="yosys sat -tempinduct")
    except ToolFailed as err:
        log = str(err)
    proven = "Induction step proven: SUCCESS!" in log
    cex = None
    if not proven:
        keep = [ln for ln in log.splitlines() if re.match(r"\s+(\d+|init)\s+\\", ln) or "FAIL" in ln]
        cex = "\n".join(keep[:120]) or log[-3000:]
        proven = False if "model found" in log or "FAIL" in log else None
    return ProofResult(proven=proven, module=manifest["module"], seconds=time.perf_counter() - t0,
                       counterexample=cex, engine=f"yosys sat -tempinduct (k <= {STREAM_DEPTH})")
