"""Yosys: map a design onto a standard-cell liberty; area, cells, transistor estimate, logic depth."""

import re
from pathlib import Path

from .tools import local_copy, require_abc, run

__all__ = ["ABC_SCRIPT", "FLOW", "synthesize"]

# Yosys 0.23's default liberty script with a bound on SAT sweeping: ``&fraig -x`` at its default of 10**6
# conflicts per node ran more than 10 min on a 32-lane MXFP4 unit (19,195 AND nodes; -C 10**4: 191 s, -C 10**3:
# 12 s, 0.3% more area than 10**4). A conflict bound, unlike a time limit, gives the same netlist on every machine.
ABC_SCRIPT = "strash; &get -n; &fraig -x -C 1000; &put; scorr; dc2; dretime; strash; &get -n; &dch -f; &nf; &put"
# ``share`` (SAT-based resource sharing) is skipped: on MX units it ran out of memory (23.6 GB on 8 lanes) and
# more than 5 min on 2; on every other preset the netlist's area is the same with and without it.
FLOW = f"synth -flatten -noshare; dfflibmap; abc -script {{{ABC_SCRIPT}}}"


def _inline(script):
    """An ABC script as Yosys's ``abc -script +...`` takes it inline (no file: ABC cannot source a path with spaces;
    commas stand for blanks)."""
    return "+" + script.replace("; ", ";").replace(" ", ",")


def _num(pattern, text, cast=float):
    m = re.search(pattern, text)
    return cast(m.group(1)) if m else None


def synthesize(verilog, top, liberty, workdir, *, blackbox=()):
    """Synthesize ``top`` from ``verilog`` with ``liberty``; returns figures and the netlist path.

    ``blackbox``: modules kept as empty boxes, their area not counted (how the stream wrapper's own
    control is measured apart from the unit inside it).

    Technology-free figures come from the generic gate netlist before mapping:
    ``stat -tech cmos`` (transistor estimate) and ``ltp -noff`` (logic depth in gates). The flow is ``FLOW``.
    """
    workdir = Path(workdir)
    require_abc()  # else Yosys fails deep in its log
    # the script names files relative to workdir: user paths may hold spaces or non-ASCII characters
    lib = local_copy(liberty, workdir, "cells.lib").name
    src = local_copy(verilog, workdir, "design.v").name if Path(verilog).parent.resolve() != workdir.resolve() \
        else Path(verilog).name
    script = "; ".join([
        f"read_verilog -sv {src}", *[f"blackbox {b}" for b in blackbox], f"synth -top {top} -flatten -noshare",
        "tee -o generic_cmos.txt stat -tech cmos", "tee -o ltp.txt ltp -noff",
        f"dfflibmap -liberty {lib}", f"abc -liberty {lib} -script {_inline(ABC_SCRIPT)}", "opt_clean",
        f"tee -o mapped_stat.txt stat -liberty {lib}", "write_verilog -noattr netlist.v"])
    run(["yosys", "-q", "-p", script], workdir, "yosys.log")
    stat = (workdir / "mapped_stat.txt").read_text()
    cells = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\S+)\s+(\d+)$", stat, re.M)}
    return {
        "area_um2": _num(r"Chip area for module .*: ([\d.]+)", stat),
        "cells": _num(r"Number of cells:\s+(\d+)", stat, int),
        "cell_types": cells,
        "transistors": _num(r"Estimated number of transistors:\s+(\d+)", (workdir / "generic_cmos.txt").read_text(),
                            int),
        "logic_depth": _num(r"\(length=(\d+)\)", (workdir / "ltp.txt").read_text(), int),
        "netlist": workdir / "netlist.v",
    }
