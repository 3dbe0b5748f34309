"""OpenSTA: critical-path delay, highest clock frequency, and power of a mapped netlist."""

import re
from pathlib import Path

from ..files import write_text
from .tools import ToolFailed, local_copy, run

__all__ = ["timing_and_power"]

_PERIOD_NS = 100.0  # a loose clock for timing: the delay is period minus the worst slack


def _tcl(netlist, top, liberty, period_ns, activity):
    lines = [f"read_liberty {liberty}", f"read_verilog {netlist}",
             f"link_design {top}", f"create_clock -name clk -period {period_ns} [get_ports clk]",
             "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]",
             "set_output_delay 0 -clock clk [all_outputs]"]
    if activity is not None:
        lines.append(f"set_power_activity -input -activity {activity}")
    lines += ['puts "WORST_SLACK [sta::worst_slack -max]"', "report_power -digits 8", "exit"]
    return "\n".join(lines) + "\n"


def _parse(pattern, log, what, workdir):
    m = re.search(pattern, log, re.M)
    try:
        return float(m.group(1))
    except (AttributeError, ValueError):
        tail = "\n".join(log.strip().splitlines()[-10:])
        raise ToolFailed(f"OpenSTA printed no {what} (files in {workdir}); log tail:\n{tail}") from None


def timing_and_power(netlist, top, liberty, workdir, *, clock_mhz=100.0, activity=None):
    """Delay (ns) of the slowest register-to-register or port path, Fmax (MHz), and power at ``clock_mhz``.

    Power uses OpenSTA's default switching activity unless ``activity`` (toggles
    per cycle on the inputs) is given. Energy per MAC is power times the period.
    """
    workdir = Path(workdir)
    # file names relative to workdir (the Tcl script would split user paths with spaces)
    lib = local_copy(liberty, workdir, "cells.lib").name
    net = local_copy(netlist, workdir, "netlist.v").name if Path(netlist).parent.resolve() != workdir.resolve() \
        else Path(netlist).name
    write_text(workdir / "timing.tcl", _tcl(net, top, lib, _PERIOD_NS, None))
    log = run(["sta", "-no_init", "-exit", "timing.tcl"], workdir, "sta_timing.log")
    slack = _parse(r"WORST_SLACK (\S+)", log, "the worst slack", workdir)
    delay = _PERIOD_NS - slack
    period = 1000.0 / clock_mhz
    write_text(workdir / "power.tcl", _tcl(net, top, lib, period, activity))
    log = run(["sta", "-no_init", "-exit", "power.tcl"], workdir, "sta_power.log")
    total_w = _parse(r"^Total\s+\S+\s+\S+\s+\S+\s+(\S+)", log, "the total power", workdir)
    power_mw = total_w * 1e3
    return {"delay_ns": delay, "fmax_mhz": 1000.0 / delay, "power_mw": power_mw, "clock_mhz": clock_mhz,
            "energy_pj": power_mw * period, "activity": activity if activity is not None else "default"}
