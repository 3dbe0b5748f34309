"""OpenSTA: critical-path delay, highest clock frequency, and power of a mapped netlist."""

import math
import re
from pathlib import Path

from ..files import write_text
from .tools import ToolFailed, local_copy, run

__all__ = ["power", "timing_and_power"]

_PERIOD_NS = 100.0  # a loose clock for timing: the delay is period minus the worst slack


def _tcl(netlist, top, liberty, period_ns, activity):
    lines = [f"read_liberty {liberty}", f"read_verilog {netlist}",
             f"link_design {top}", f"create_clock -name clk -period {period_ns} [get_ports clk]",
             "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]",
             "set_output_delay 0 -clock clk [all_outputs]"]
    if isinstance(activity, dict):  # per input port bit: (transitions per cycle, duty), e.g. port_activity()
        lines += [f"set_power_activity -input_ports [get_ports {{{port}}}] -activity {a:.6g} -duty {d:.6g}"
                  for port, (a, d) in sorted(activity.items())]
    elif activity is not None:
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

    Power uses OpenSTA's default switching activity unless ``activity`` is given:
    toggles per cycle on every input, or a mapping ``{"a[3]": (activity, duty)}``
    per input port bit (``synth.activity.port_activity``). Energy per cycle is
    power times the period.
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
    fmax = 1000.0 / delay
    asked, clock_mhz = clock_mhz, met_clock(clock_mhz, fmax)
    period = 1000.0 / clock_mhz
    power_mw = power(netlist, top, liberty, workdir, clock_mhz=clock_mhz, activity=activity)
    return {"delay_ns": delay, "fmax_mhz": fmax, "power_mw": power_mw, "clock_mhz": clock_mhz,
            "clock_asked": asked, "clock_met": clock_mhz == asked, "energy_pj": power_mw * period,
            "activity": "data" if isinstance(activity, dict) else activity if activity is not None else "default"}


def met_clock(asked_mhz, fmax_mhz):
    """The clock power is quoted at: the one asked for, or, for a unit that cannot run that fast, its fmax
    rounded down to 0.1 MHz (power at a clock the unit misses is no figure anyone can use)."""
    return asked_mhz if fmax_mhz >= asked_mhz else max(0.1, math.floor(fmax_mhz * 10) / 10)


def power(netlist, top, liberty, workdir, *, clock_mhz=100.0, activity=None):
    """Total power (mW) of a mapped netlist at ``clock_mhz``; ``activity`` as in ``timing_and_power``."""
    workdir = Path(workdir)
    lib = local_copy(liberty, workdir, "cells.lib").name
    net = local_copy(netlist, workdir, "netlist.v").name if Path(netlist).parent.resolve() != workdir.resolve() \
        else Path(netlist).name
    name = "power_data" if isinstance(activity, dict) else "power"
    write_text(workdir / f"{name}.tcl", _tcl(net, top, lib, 1000.0 / clock_mhz, activity))
    log = run(["sta", "-no_init", "-exit", f"{name}.tcl"], workdir, f"sta_{name}.log")
    return _parse(r"^Total\s+\S+\s+\S+\s+\S+\s+(\S+)", log, "the total power", workdir) * 1e3
