"""iCE40 FPGA figures: LUTs (Yosys synth_ice40) and Fmax (nextpnr-ice40, HX8K)."""

import re
from pathlib import Path

from .tools import local_copy, run

__all__ = ["ice40_figures"]


def ice40_figures(verilog, top, workdir):
    """LUT4s, carries, flip-flops and the Fmax nextpnr reaches on an iCE40 HX8K (CT256, 206 I/O)."""
    workdir = Path(workdir)
    src = local_copy(verilog, workdir, "design.v").name if Path(verilog).parent.resolve() != workdir.resolve() \
        else Path(verilog).name
    run(["yosys", "-q", "-p", f"read_verilog {src}; synth_ice40 -top {top} -json ice40.json; "
         "tee -o ice40_stat.txt stat"], workdir, "yosys_ice40.log")
    stat = (workdir / "ice40_stat.txt").read_text()
    count = lambda cell: sum(int(n) for n in re.findall(rf"^\s+{cell}\S*\s+(\d+)$", stat, re.M))  # noqa: E731
    log = run(["nextpnr-ice40", "--hx8k", "--package", "ct256", "--json", "ice40.json", "--seed", "1",
               "--pcf-allow-unconstrained"], workdir, "nextpnr.log")
    freqs = [float(f) for f in re.findall(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz", log)]
    return {"ice40_luts": count("SB_LUT4"), "ice40_carries": count("SB_CARRY"), "ice40_dffs": count("SB_DFF"),
            "ice40_fmax_mhz": freqs[-1] if freqs else None}
