"""Yosys: map a design onto a standard-cell liberty; area, cells, transistor estimate, logic depth."""

import re
from pathlib import Path

from .tools import local_copy, run

__all__ = ["synthesize"]


def _num(pattern, text, cast=float):
    m = re.search(pattern, text)
    return cast(m.group(1)) if m else None


def synthesize(verilog, top, liberty, workdir):
    """Synthesize ``top`` from ``verilog`` with ``liberty``; returns figures and the netlist path.

    Technology-free figures come from the generic gate netlist before mapping:
    ``stat -tech cmos`` (transistor estimate) and ``ltp -noff`` (logic depth in gates).
    """
    workdir = Path(workdir)
    # the script names files relative to workdir: user paths may hold spaces or non-ASCII characters
    lib = local_copy(liberty, workdir, "cells.lib").name
    src = local_copy(verilog, workdir, "design.v").name if Path(verilog).parent.resolve() != workdir.resolve() \
        else Path(verilog).name
    script = "; ".join([
        f"read_verilog {src}", f"synth -top {top} -flatten",
        "tee -o generic_cmos.txt stat -tech cmos", "tee -o ltp.txt ltp -noff",
        f"dfflibmap -liberty {lib}", f"abc -liberty {lib}", "opt_clean",
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
