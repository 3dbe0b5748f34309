"""Timing diagrams simulated from the unit itself (Amaranth), for every family and both interfaces."""

import json

import numpy as np
import pytest
from ristretto.hw import PRESETS
from ristretto.hw.generate import load_spec, parse_spec
from ristretto.sim.stream import expected_results
from ristretto.sim.waves import timing_diagram, write_timing_diagram

CASES = [(p, i) for p in sorted(PRESETS) for i in ("bare", "stream")]


def _signals(src):
    return {s["name"]: s for s in src["signal"]}


@pytest.mark.parametrize("preset,interface", CASES)
def test_diagram_shows_the_protocol_and_the_reference_results(preset, interface):
    spec = {**load_spec(preset), "interface": interface, "lanes": 4 if preset.startswith("mx") else 1, "bias": True}
    src = timing_diagram(spec)
    sig = _signals(src)
    n = len(sig["clk"]["wave"])
    assert all(len(s["wave"]) == n for s in src["signal"])
    if interface == "bare":
        assert {"valid", "clear", "a", "w", "acc", "out", "bias"} <= set(sig)
        return
    assert {"s_axis_tvalid", "s_axis_tready", "s_axis_tlast", "s_axis_tdata", "m_axis_tvalid", "m_axis_tready",
            "m_axis_tdata"} <= set(sig)
    assert "0" in sig["m_axis_tready"]["wave"]  # the sink stalls on the first result: it is held, not lost
    # the two results drawn are the reference datapath's for the diagram's two packets
    cfg, _ = parse_spec(spec)
    per = getattr(cfg, "cycles_per_block", 1)
    from ristretto.sim.stimulus import mac_stimulus

    stim = mac_stimulus(cfg, exhaustive=False, random_vectors=4 * per, seed=3, bias=True)
    stim = {k: np.asarray(v) for k, v in stim.items() if k not in ("valid", "clear")}
    stim["last"] = np.zeros(4 * per, np.int8)
    stim["last"][[3 * per - 1, 4 * per - 1]] = 1
    want = [f"{v:x}" for v in expected_results(cfg, stim)]
    assert sig["m_axis_tdata"]["data"] == [w if len(w) <= 12 else f"{w[:4]}..{w[-4:]}" for w in want]


def test_written_files_are_reproducible(tmp_path):
    spec = {**load_spec("fixed8"), "interface": "stream", "lanes": 4}
    a = write_timing_diagram(spec, tmp_path / "a.wave.json", tmp_path / "a.svg")
    b = write_timing_diagram(spec, tmp_path / "b.wave.json", tmp_path / "b.svg")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert json.loads(a[0].read_text())["signal"][0]["name"] == "clk"
    assert a[1].read_text().startswith("<svg")


def test_the_readme_diagrams_are_current(tmp_path):
    # docs/waves/ is what the README shows: regenerated here, it must be byte-identical (make waves rewrites it)
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("waves_tool", root / "tools" / "waves.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main(str(tmp_path))
    for path in sorted(tmp_path.iterdir()):
        assert path.read_bytes() == (root / "docs" / "waves" / path.name).read_bytes(), f"{path.name}: run make waves"
