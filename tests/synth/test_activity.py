"""Switching activity of input ports from real stimulus, and OpenSTA power that follows it."""

import numpy as np
import pytest
from ristretto.synth.activity import netlist_ports, port_activity


def test_ports_and_bits_of_two_lanes():
    ports = netlist_ports("module m(a, w, clk);\n  input [7:0] a;\n  input clk;\n  input [3:0] w;\n  output y;\n")
    assert ports == {"a": 8, "clk": 1, "w": 4}
    # lane 0 in bits 0..3, lane 1 in bits 4..7; -1 is all ones in a 4-bit lane
    act = port_activity({"a": np.array([[0, 0], [-1, 0], [-1, 1], [0, 1]]), "w": np.array([1, 1, 1, 1])}, ports)
    assert act["a[0]"] == (pytest.approx(2 / 3), 0.5) and act["a[4]"] == (pytest.approx(1 / 3), 0.5)
    assert act["a[5]"] == (0.0, 0.0) and act["w[0]"] == (0.0, 1.0) and "clk" not in act


def test_power_follows_the_data(tmp_path):
    from ristretto.hw import PRESETS
    from ristretto.synth import default_liberty, synth_figures
    from ristretto.synth.sta import power

    fig = synth_figures(PRESETS["fixed8"], tmp_path, ice40=False)
    netlist = tmp_path / "netlist.v"
    ports = netlist_ports(netlist.read_text())
    rng = np.random.default_rng(0)
    n = 2000
    uniform = {"a": rng.integers(-128, 128, n), "w": rng.integers(-128, 128, n), "valid": np.ones(n, int),
               "clear": (np.arange(n) % 25 == 0).astype(int)}
    sparse = dict(uniform, a=np.where(rng.random(n) < 0.9, 0, rng.integers(0, 128, n)))  # ReLU outputs, 90% zero
    p_uniform = power(netlist, fig["module"], default_liberty(), tmp_path, activity=port_activity(uniform, ports))
    p_sparse = power(netlist, fig["module"], default_liberty(), tmp_path, activity=port_activity(sparse, ports))
    assert p_sparse < 0.8 * p_uniform
    assert abs(p_uniform - fig["power_mw"]) > 0.1 * fig["power_mw"]  # not the default activity's figure
