"""Self-describing Verilog: port order, reset styles, initialisers, the header, manifests that regenerate the unit."""

import json
import re

import pytest
from ristretto.hw import PRESETS, generate
from ristretto.hw.emit import RESETS
from ristretto.hw.generate import SpecError, load_spec, normalized_spec, parse_spec

# every family, lanes 1/4/16, stages, bias, both interfaces, every reset style, initialisers on and off
SWEEP = [(p, {}) for p in sorted(PRESETS)] + [
    ("fixed8", {"lanes": 4, "stages": 1, "bias": True, "interface": "stream", "reset": "async-low"}),
    ("fixed8", {"lanes": 16, "stages": 2, "interface": "stream", "reset": "sync-low", "initial_values": True}),
    ("shift8w4", {"lanes": 4, "bias": True, "reset": "async-high"}),
    ("minifloat8", {"stages": 2, "bias": True, "interface": "stream"}),
    ("minifloat8", {"accumulator": "exact", "acc_bits": 40, "lanes": 4, "reset": "sync-low"}),
    ("float32", {"lanes": 4, "interface": "stream", "initial_values": True}),
    ("mxfp8", {"lanes": 4, "bias": True, "interface": "stream", "reset": "async-low"}),
    ("mxint8", {"lanes": 16, "interface": "stream"}),
    ("mxfp4", {"lanes": 1, "bias": True}),
]


def _spec(preset, extra):
    return {**load_spec(preset), **extra}


def _module_ports(text, name):
    return re.search(rf"^module {re.escape(name)}\((.*?)\);", text, re.M)[1].split(", ")


@pytest.mark.parametrize("preset,extra", SWEEP, ids=[f"{p}-{i}" for i, (p, _) in enumerate(SWEEP)])
def test_ports_in_fixed_order_with_the_header_and_manifest_table(preset, extra, tmp_path):
    v, j = generate(_spec(preset, extra), tmp_path)
    m, text = json.loads(j.read_text()), v.read_text()
    table = m["port_table"]
    names = [p["name"] for p in table]
    assert _module_ports(text, m["module"]) == names
    reset = extra.get("reset", "sync-high")
    assert names[:2] == ["clk", "rst" if reset.endswith("high") else "rst_n"]
    dirs = [p["dir"] for p in table[2:]]
    assert dirs == sorted(dirs, key=lambda d: d != "in")  # inputs, then outputs
    for p in table:  # the header documents every port with its width
        assert re.search(rf"^//   {re.escape(p['name'])}\s+{p['dir']}\s+{p['bits']}  ", text, re.M), p
        kind = "input" if p["dir"] == "in" else "output"
        width = "" if p["bits"] == 1 else rf"\[{p['bits'] - 1}:0\] "
        assert re.search(rf"^\s*{kind} {width}{re.escape(p['name'])};", text, re.M), p
    spec_line = re.search(r"^// Spec: (.*)$", text, re.M)[1]
    assert json.loads(spec_line) == m["spec"] == normalized_spec(_spec(preset, extra))
    assert "Timing:" in text and all(t in text for t in m["timing"])
    assert m["ports"] == {p["name"]: p["bits"] for p in table}


@pytest.mark.parametrize("reset", RESETS)
def test_reset_styles(reset, tmp_path):
    text = generate(_spec("fixed8", {"reset": reset}), tmp_path)[0].read_text()
    port = "rst" if reset.endswith("high") else "rst_n"
    edges = set(re.findall(r"always_ff @\((posedge clk(?:, \w+ \w+)?)\)", text))
    if reset.startswith("async"):
        assert edges == {f"posedge clk, {'posedge' if port == 'rst' else 'negedge'} {port}"}
    else:
        assert edges == {"posedge clk"}
    assert re.search(rf"^\s*input {port};", text, re.M)
    assert (port == "rst_n") == bool(re.search(r"~\s*rst_n|negedge rst_n", text))


@pytest.mark.parametrize("initial", [False, True])
def test_initialisers_only_when_asked(initial, tmp_path):
    text = generate(_spec("minifloat8", {"initial_values": initial, "interface": "stream"}), tmp_path)[0].read_text()
    inits = [ln for ln in text.splitlines() if re.match(r"\s*reg .*=", ln)]
    assert bool(inits) == initial


@pytest.mark.parametrize("preset,extra", SWEEP, ids=[f"{p}-{i}" for i, (p, _) in enumerate(SWEEP)])
def test_manifest_regenerates_byte_identical_verilog(preset, extra, tmp_path):
    v1, j1 = generate(_spec(preset, extra), tmp_path / "one")
    v2, j2 = generate(str(j1), tmp_path / "two")
    assert v1.name == v2.name and v1.read_bytes() == v2.read_bytes() and j1.read_bytes() == j2.read_bytes()
    # the configuration in full: options such as the bias port are not lost
    assert json.loads(j1.read_text())["spec"]["bias"] == extra.get("bias", False)


def test_default_bare_units_keep_their_names_and_interface(tmp_path):
    for preset in PRESETS:
        m = json.loads(generate(preset, tmp_path)[1].read_text())
        assert not m["module"].endswith(("_stream", "_init", "low", "asynchigh"))
        assert m["interface"] == "bare" and m["reset"] == "sync-high" and m["initial_values"] is False


def test_mx_manifest_states_the_block_cadence(tmp_path):
    m = json.loads(generate(_spec("mxfp8", {"lanes": 8}), tmp_path)[1].read_text())
    assert m["cycles_per_block"] == 4 and m["latency"] == 1
    assert "takes 4 valid cycle(s)" in m["timing"][0] and "sa and sw are read on its last valid cycle" in m["timing"][0]
    s = json.loads(generate(_spec("mxfp8", {"lanes": 8, "interface": "stream", "bias": True}), tmp_path)[1].read_text())
    assert "takes 4 beat(s)" in s["timing"][0] and "bias is read on a packet's first beat" in s["timing"][0]
    assert [f["name"] for f in s["stream"]["fields"]] == ["a", "w", "sa", "sw", "bias"]
    assert s["stream"]["tdata_bits"] % 8 == 0 and s["stream"]["tdata_bits"] >= 64 + 64 + 16 + 32


@pytest.mark.parametrize("key,value,words", [
    ("interface", "axi", "interface must be one of bare, stream"),
    ("reset", "low", "reset must be one of sync-high"),
    ("initial_values", "yes", "initial_values must be true or false"),
])
def test_bad_options_are_refused_by_name(key, value, words):
    with pytest.raises(SpecError, match=words):
        parse_spec(_spec("fixed8", {key: value}))


def test_a_manifest_without_its_spec_is_refused(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"module": "m", "verilog": "m.v", "config": {}}))
    with pytest.raises(SpecError, match="has no 'spec' object"):
        load_spec(str(path))
