"""iCE40 FPGA figures: LUTs (Yosys synth_ice40) and Fmax (nextpnr-ice40, HX8K)."""

import re
from pathlib import Path

from .tools import local_copy, run

__all__ = ["ICE40_IO", "ice40_figures", "ice40_timing"]

ICE40_IO = 206  # user I/O pins of the iCE40 HX8K in the CT256 package


def ice40_figures(verilog, top, workdir):
    """LUT4s, carries, flip-flops and the Fmax nextpnr reaches on an iCE40 HX8K (CT256, 206 I/O)."""
    workdir = Path(workdir)
    src = local_copy(verilog, workdir, "design.v").name if Path(verilog).parent.resolve() != workdir.resolve() \
        else Path(verilog).name
    run(["yosys", "-q", "-p", f"read_verilog -sv {src}; synth_ice40 -top {top} -json ice40.json; "
         "tee -o ice40_stat.txt stat"], workdir, "yosys_ice40.log")
    stat = (workdir / "ice40_stat.txt").read_text()
    count = lambda cell: sum(int(n) for n in re.findall(rf"^\s+{cell}\S*\s+(\d+)$", stat, re.M))  # noqa: E731
    # --timing-allow-fail: fmax is what we measure; nextpnr's default 12 MHz target is not a requirement
    # (an 8-lane MXFP4 unit places at 7.2 MHz register to register and nextpnr would exit 1)
    log = run(["nextpnr-ice40", "--hx8k", "--package", "ct256", "--json", "ice40.json", "--seed", "1",
               "--pcf-allow-unconstrained", "--timing-allow-fail"], workdir, "nextpnr.log")
    return {"ice40_luts": count("SB_LUT4"), "ice40_carries": count("SB_CARRY"), "ice40_dffs": count("SB_DFF"),
            **ice40_timing(log)}


def ice40_timing(log):
    """Fmax from nextpnr's final timing summary in ``log``: ``ice40_fmax_mhz`` over the worst path of any kind
    (register to register, input pin to register, register to output pin; pins through their SB_IO cells, as a
    unit whose operands come from and go to other blocks would see them) and ``ice40_fmax_reg_mhz`` over
    register-to-register paths only. None when nextpnr reported no path."""
    freqs = re.findall(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz", log)
    ins = re.findall(r"Max delay <async>\s+->\s+posedge[^:]*:\s+([\d.]+) ns", log)
    outs = re.findall(r"Max delay posedge \S+\s+->\s+<async>[^:]*:\s+([\d.]+) ns", log)
    # nextpnr prints the summary after placement and again after routing: the last of each kind is final
    periods = [1000.0 / float(f[-1]) if f is freqs else float(f[-1]) for f in (freqs, ins, outs) if f]
    return {"ice40_fmax_mhz": round(1000.0 / max(periods), 2) if periods else None,
            "ice40_fmax_reg_mhz": float(freqs[-1]) if freqs else None}
