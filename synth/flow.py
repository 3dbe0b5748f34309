"""One call from a MAC spec to all figures: standard cells (Yosys, OpenSTA), technology-free, iCE40."""

import json
from pathlib import Path

from ..hw.generate import generate
from ..options import MAX_MHZ, check_range
from .ice40 import ICE40_IO, ice40_figures
from .sta import timing_and_power
from .tools import check_liberty, default_liberty, tool_versions
from .yosys import synthesize

__all__ = ["synth_figures"]


def synth_figures(spec, workdir, *, liberty=None, clock_mhz=100.0, activity=None, ice40=True):
    """Generate the MAC of ``spec`` and return its figures as a flat dict.

    Keys: ``area_um2``, ``cells``, ``delay_ns``, ``fmax_mhz``, ``power_mw``,
    ``energy_pj``, ``clock_mhz`` (power's clock: ``clock_asked``, or the unit's fmax rounded down to 0.1 MHz
    when it cannot run that fast; ``clock_met`` says which), ``transistors``, ``logic_depth``,
    ``ice40_luts``, ``ice40_fmax_mhz`` (worst path of any kind, pins included) and
    ``ice40_fmax_reg_mhz`` (register to register) (``None`` when ``ice40=False`` or when the unit has more pins
    than the device's I/O; ``ice40_skipped`` then says why),
    ``module``, ``liberty`` and ``tools`` (versions); ``lanes``,
    ``area_um2_per_mac`` and ``energy_pj_per_mac`` (the unit's area and energy
    per cycle divided by its lanes: one cycle does ``lanes`` MACs).

    Raises
    ------
    ToolMissing
        For a missing tool or default liberty, with how to install it.
    InputError
        For a non-positive clock or a liberty file that is empty, truncated or not liberty.
    ToolFailed
        When a tool fails, with its log tail and the command to reproduce it.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    check_range("--clock-mhz", clock_mhz, 0.001, MAX_MHZ)
    liberty = check_liberty(liberty) if liberty else default_liberty()
    v_path, j_path = generate(spec, workdir)
    manifest = json.loads(j_path.read_text())
    top, lanes = manifest["module"], manifest.get("lanes", 1)
    fig = synthesize(v_path, top, liberty, workdir)
    fig.update(timing_and_power(fig.pop("netlist"), top, liberty, workdir, clock_mhz=clock_mhz, activity=activity))
    pins = sum(manifest["ports"].values())
    if ice40 and pins <= ICE40_IO:
        fig.update(ice40_figures(v_path, top, workdir), ice40_skipped=None)
    else:
        fig.update(ice40_luts=None, ice40_fmax_mhz=None, ice40_fmax_reg_mhz=None,
                   ice40_skipped="not asked" if not ice40 else
                   f"the unit has {pins} pins, more than the {ICE40_IO} I/O of the HX8K CT256")
    fig.update(module=top, liberty=liberty.name, tools=tool_versions(), lanes=lanes,
               area_um2_per_mac=fig["area_um2"] / lanes, energy_pj_per_mac=fig["energy_pj"] / lanes)
    return fig
