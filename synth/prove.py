"""Formal equivalence of a generated unit and its naive reference (Yosys: equiv_make, equiv_simple, equiv_induct).

The unit (``gold``: the Amaranth generator's Verilog) and the reference
(``gate``: ``hw/reference.py``) are matched port by port; ``equiv_simple -seq``
proves each output equal over a window of cycles and ``equiv_induct -seq``
closes the induction over every accumulator and pipeline state. Both designs
clear every register on ``rst``, so equal outputs for every input sequence
from any equal-output state is what is proven. On failure a bounded model
check from reset (``sat -seq``) finds a counterexample: inputs per cycle.
"""

import json
import subprocess
import time
from pathlib import Path

from ..files import write_text
from ..hw.generate import generate, parse_spec
from ..hw.reference import reference_verilog
from .tools import ToolFailed, require, run

__all__ = ["ProofResult", "prove"]

# internal names are private (equiv_make must not pair same-named wires that mean other things), except the
# lane products, which both designs name product0, product1, ...: proven equal first, they cut the proof of
# the sum (adder tree against a plain sum) off from the multipliers
_HIDE = "rename -hide w:* i:* o:* %u %d w:product* %d"
SEQ = 3  # cycles of the equivalence window and of the induction (latency <= 3)


class ProofResult(dict):
    """``proven`` (True, False, or None when undecided within the time limit), ``module``, ``engine``,
    ``seconds``, and ``counterexample`` (text) on failure."""


def _script(gold, gate, top_gold, top_gate, seq):
    return (f"read_verilog {gold}; rename {top_gold} gold; read_verilog {gate}; rename {top_gate} gate; "
            f"proc; flatten; opt_clean; async2sync; {_HIDE}; "
            f"equiv_make gold gate equiv; hierarchy -top equiv; equiv_simple -seq {seq}; "
            f"equiv_induct -seq {seq}; equiv_status -assert")


def _counterexample(workdir, gold, gate, top_gold, top_gate, seq):
    script = (f"read_verilog {gold}; rename {top_gold} gold; read_verilog {gate}; rename {top_gate} gate; "
              f"proc; flatten; opt_clean; async2sync; {_HIDE}; "
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
    cfg, options = parse_spec(spec)
    ref = reference if reference is not None else reference_verilog(cfg, module="reference", **options)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    v_path, j_path = generate(spec, workdir)
    top = json.loads(j_path.read_text())["module"]
    ref_path = workdir / "reference.v"
    write_text(ref_path, ref)
    t0 = time.perf_counter()
    try:
        run(["yosys", "-q", "-p", _script(v_path.name, ref_path.name, top, "reference", SEQ)], workdir, "prove.log",
            timeout=timeout)
        proven, cex = True, None
    except subprocess.TimeoutExpired:
        proven, cex = None, None
    except ToolFailed as err:
        if "Found" not in str(err) and "unproven" not in str(err):
            raise
        proven, cex = False, _counterexample(workdir, v_path.name, ref_path.name, top, "reference", SEQ)
    seconds = time.perf_counter() - t0
    return ProofResult(proven=proven, module=top, seconds=seconds, counterexample=cex,
                       engine=f"yosys equiv_simple -seq {SEQ} + equiv_induct -seq {SEQ}")
