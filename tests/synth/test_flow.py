"""Synthesis figures of generated MACs: sanity, the paper's Table III ordering, errors."""

import json

import pytest
from ristretto.synth import ToolFailed, ToolMissing, synth_figures
from ristretto.synth.tools import run

from ristretto.cli import main

TINY = {"a": {"kind": "dfp", "bits": 4, "frac_bits": 2}, "w": {"kind": "dfp", "bits": 4, "frac_bits": 3},
        "out": {"kind": "dfp", "bits": 4, "frac_bits": 1}, "acc_bits": 10, "overflow": "wrap", "stages": 0}


def test_tiny_mac_figures(tmp_path):
    fig = synth_figures(TINY, tmp_path)
    for key in ("area_um2", "delay_ns", "fmax_mhz", "power_mw", "energy_pj"):
        assert fig[key] > 0, key
    assert fig["cells"] > 10 and fig["transistors"] > 50 and fig["logic_depth"] > 3
    assert fig["ice40_luts"] > 5 and 10 < fig["ice40_fmax_mhz"] <= fig["ice40_fmax_reg_mhz"]
    assert fig["energy_pj"] == pytest.approx(fig["power_mw"] * 10)  # at 100 MHz
    assert abs(fig["fmax_mhz"] * fig["delay_ns"] - 1000) < 1e-6
    assert set(fig["tools"]) == {"yosys", "sta", "nextpnr-ice40"}
    # a wider MAC is bigger: the figures respond to the design
    wider = synth_figures(dict(TINY, a={"kind": "dfp", "bits": 8, "frac_bits": 2}, acc_bits=16), tmp_path / "w",
                          ice40=False)
    assert wider["area_um2"] > fig["area_um2"] and wider["ice40_luts"] is None


def test_table_iii_ordering(tmp_path):
    figs = {p: synth_figures(p, tmp_path / p, ice40=False) for p in ("float32", "minifloat8", "fixed8", "shift8w4")}
    for key in ("area_um2", "delay_ns", "power_mw"):
        assert figs["float32"][key] > figs["minifloat8"][key] > figs["fixed8"][key] > figs["shift8w4"][key], key
        assert figs["float32"][key] > 3 * figs["fixed8"][key], key


def test_cli_json(tmp_path, capsys):
    assert main(["hw", "synth", "shift8w4", "--no-ice40", "--json", "--build-dir", str(tmp_path)]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("area_um2", "cells", "delay_ns", "fmax_mhz", "power_mw", "energy_pj", "transistors", "logic_depth",
                "ice40_luts", "tools"):
        assert key in d


def test_errors(tmp_path):
    from ristretto.errors import InputError

    with pytest.raises(InputError, match=r"^Liberty file '/nope.lib' does not exist; pass an existing .lib"):
        synth_figures(TINY, tmp_path, liberty="/nope.lib")
    with pytest.raises(ToolMissing, match=r"^no-such-tool not found: install it \(Debian: apt-get install"):
        run(["no-such-tool"], tmp_path, "x.log")
    with pytest.raises(ToolFailed, match=r"(?s)^yosys failed \(exit 1\); log tail:.*reproduce: cd "):
        run(["yosys", "-p", "read_verilog /nonexistent.v"], tmp_path, "y.log")


def test_paths_with_spaces_and_non_ascii(tmp_path, capsys):
    """Yosys and OpenSTA scripts must not split a user's path."""
    import shutil

    from ristretto.synth import default_liberty

    odd = tmp_path / "my lib é"
    odd.mkdir()
    lib = odd / "cells lib é.lib"
    shutil.copyfile(default_liberty(), lib)
    build = tmp_path / "build dir ü"
    assert main(["hw", "synth", "fixed8", "--liberty", str(lib), "--build-dir", str(build), "--json"]) == 0
    fig = json.loads(capsys.readouterr().out)
    assert fig["area_um2"] > 1000 and fig["ice40_luts"] > 10 and fig["power_mw"] > 0


def test_ice40_fmax_is_the_worst_path_of_any_kind():
    from ristretto.synth.ice40 import ice40_timing

    log = ("Info: Max frequency for clock 'clk': 150.00 MHz (PASS at 12.00 MHz)\n"
           "Info: Max delay <async>  -> posedge clk: 20.00 ns\n"
           "Info: Max delay posedge clk -> <async>  : 9.00 ns\n"  # after placement; the routed summary follows
           "Info: Max frequency for clock 'clk': 137.00 MHz (PASS at 12.00 MHz)\n"
           "Info: Max delay <async>  -> posedge clk: 16.30 ns\n"
           "Info: Max delay posedge clk -> <async>  : 8.10 ns\n")
    assert ice40_timing(log) == {"ice40_fmax_mhz": round(1000 / 16.3, 2), "ice40_fmax_reg_mhz": 137.0}
    reg_only = ice40_timing("Info: Max frequency for clock 'clk': 137.00 MHz (PASS at 12.00 MHz)\n")
    assert reg_only == {"ice40_fmax_mhz": 137.0, "ice40_fmax_reg_mhz": 137.0}
    assert ice40_timing("") == {"ice40_fmax_mhz": None, "ice40_fmax_reg_mhz": None}


def test_a_tool_past_its_time_limit_is_named_not_a_traceback(tmp_path):
    import time
    from pathlib import Path

    from ristretto.synth import ToolFailed
    from ristretto.synth.tools import run

    with pytest.raises(ToolFailed, match=r"^sh ran past 1 s and was stopped .*reproduce: cd "):
        run(["sh", "-c", "sleep 30 & echo $! > child.pid; wait"], tmp_path, "slow.log", timeout=1)
    time.sleep(0.2)
    child = (tmp_path / "child.pid").read_text().strip()
    # the tool's own children are stopped too (Yosys runs ABC as a child): gone, or a zombie left to reap
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split(")")[-1].split()[0] in ("Z", "X")


def test_an_mx_unit_synthesizes_and_is_not_placed_on_an_ice40_it_cannot_fit(tmp_path):
    """A 16-lane MXFP4 unit (212 pins): Yosys's SAT-based sharing ran out of memory on MX units and ABC's
    unbounded SAT sweeping ran past 10 min on 32 lanes (``synth.yosys.FLOW``); the HX8K CT256 has 206 I/O."""
    from ristretto.formats import MXFormat, named

    fmt = MXFormat(named("float4_e2m1fn"), 16).to_dict()
    fig = synth_figures({"family": "mx", "a": fmt, "w": fmt}, tmp_path)
    assert fig["lanes"] == 16 and fig["area_um2"] > 0 and fig["area_um2_per_mac"] == fig["area_um2"] / 16
    assert fig["ice40_luts"] is None and fig["ice40_skipped"] == ("the unit has 212 pins, more than the 206 I/O "
                                                                  "of the HX8K CT256")
