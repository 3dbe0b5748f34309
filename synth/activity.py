"""Switching activity of a unit's input ports on real data, for OpenSTA's power analysis.

The stimulus a layer's unit sees (its operand codes, lanes per cycle, in the
order the dot products enter it; ``ristretto.sim.traces``) fixes every input
port bit's value each cycle. Per bit, the activity is its transitions per clock
cycle and the duty its fraction of cycles at 1: exactly what a VCD of those
ports records. OpenSTA (``set_power_activity -input_ports``) propagates them
through the mapped netlist, so internal nets follow the data rather than the
default 0.1 transitions per cycle on every input.
"""

import numpy as np

from .falsify import ports

__all__ = ["netlist_ports", "port_activity"]

def netlist_ports(verilog):
    """``{name: width}`` of the input ports of a netlist declared one per line (``input [7:0] a;``)."""
    return {name: width for direction, name, width in ports(verilog) if direction == "input"}


def _bits(values, width):
    """``[cycles, width]`` 0/1 of the two's-complement (or unsigned) codes packed lane by lane."""
    v = np.asarray(values, dtype=np.int64)
    if v.ndim == 1:
        v = v[:, None]
    lane_bits = width // v.shape[1]
    shifts = np.arange(lane_bits, dtype=np.int64)
    bits = (v[:, :, None] >> shifts) & 1  # [cycles, lanes, lane_bits], lane 0 in the low bits
    return bits.reshape(len(v), -1)[:, :width]


def port_activity(stimulus, ports):
    """``{"a[3]": (transitions per cycle, duty), ...}`` for every bit of each stimulated input port.

    ``stimulus`` holds per-cycle values (``a``, ``w`` as ``[cycles]`` or
    ``[cycles, lanes]`` codes; ``valid``, ``clear``, ``bias``); ``ports`` the
    netlist's input widths. ``rst`` is held low; the clock is not an input here.
    """
    out = {}
    for name, width in ports.items():
        if name == "clk":
            continue
        if name == "rst":
            bits = np.zeros((2, width), np.int64)
        elif name in stimulus:
            bits = _bits(stimulus[name], width)
        else:
            continue
        toggles = np.abs(np.diff(bits, axis=0)).sum(axis=0) / max(1, len(bits) - 1)
        duty = bits.mean(axis=0)
        for i in range(width):
            key = f"{name}[{i}]" if width > 1 else name
            out[key] = (float(toggles[i]), float(duty[i]))
    return out
