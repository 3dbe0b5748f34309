"""Formal equivalence of generated units against their naive references (Yosys), and refutation of broken ones."""

import json

import pytest
from ristretto.hw import PRESETS, generate
from ristretto.hw.generate import parse_spec
from ristretto.hw.reference import reference_verilog
from ristretto.synth.prove import prove

from ristretto.cli import main
from ristretto.formats import DynamicFixedPoint as D
from ristretto.formats import Minifloat as M
from ristretto.formats import PowerOfTwo as P


def _mf(a, out, **kw):
    return {"family": "minifloat", "a": a.to_dict(), "w": a.to_dict(), "out": out.to_dict(), "accumulator": "exact",
            **kw}


SWEEP = {
    "fixed8": PRESETS["fixed8"],
    "shift8w4": PRESETS["shift8w4"],
    "fixed4-sat-bias-st1": {"a": D(4, 2).to_dict(), "w": D(4, 3).to_dict(), "out": D(4, 1).to_dict(), "acc_bits": 10,
                            "overflow": "saturate", "bias": True, "stages": 1},
    "fixed12x10-wrap-st2": {"a": D(12, 6).to_dict(), "w": D(10, 9).to_dict(), "out": D(8, -2).to_dict(),
                            "acc_bits": 30, "stages": 2, "bias": True},
    "fixed16-acc40": {"a": D(16, 8).to_dict(), "w": D(16, 14).to_dict(), "out": D(16, 8).to_dict(), "acc_bits": 40},
    "fixed6-leftshift": {"a": D(6, 0).to_dict(), "w": D(6, 1).to_dict(), "out": D(12, 4).to_dict(), "acc_bits": 14},
    "shift5z-sat": {"a": D(7, 3).to_dict(), "w": P(5, -6, 6).to_dict(), "out": D(6, -1).to_dict(), "acc_bits": 21,
                    "overflow": "saturate", "bias": True},
    "fixed8-l4-sat": dict(PRESETS["fixed8"], lanes=4, acc_bits=20, overflow="saturate", bias=True),
    "shift8w4-l4": dict(PRESETS["shift8w4"], lanes=4, stages=1),
    "fixed6-l5": {"a": D(6, 2).to_dict(), "w": D(6, 5).to_dict(), "out": D(8, 1).to_dict(), "acc_bits": 16,
                  "lanes": 5},
    "mf-e2m1-exact": _mf(M(2, 1), M(3, 2), acc_bits=12, bias=True),
    "mf-e3m2s-exact-sat": _mf(M(3, 2, subnormals=True), M(4, 3), acc_bits=24, overflow="saturate", stages=2),
    "mf-e4m3-exact": _mf(M(4, 3), M(4, 3), acc_bits=40, bias=True),
    "mf-e2m1-exact-l4": _mf(M(2, 1), M(3, 2), acc_bits=14, lanes=4),
    # no mantissa bit: ties between two powers of two go to the even code (3.0 -> 2.0 in e2m0, not 4.0)
    "mf-e2m0-exact": _mf(M(2, 0), M(2, 0), acc_bits=10),
    "mf-e3m0s-exact-bias": _mf(M(3, 0, subnormals=True), M(3, 0, subnormals=True), acc_bits=16, bias=True),
    "mf-e2m1-to-e3m0-exact": {**_mf(M(2, 1), M(3, 0)), "acc_bits": 12},
    # 16 lanes: the adder tree against the plain sum is discharged at the word level (alumacc, equal operands)
    "fixed16-l16": {"a": D(16, 8).to_dict(), "w": D(16, 14).to_dict(), "out": D(16, 8).to_dict(), "acc_bits": 40,
                    "lanes": 16},
    "shift8w4-l16-sat": dict(PRESETS["shift8w4"], lanes=16, acc_bits=24, overflow="saturate", bias=True, stages=2),
    "mf-e4m3-exact-l16": _mf(M(4, 3), M(4, 3), acc_bits=40, lanes=16, stages=1),
}


@pytest.mark.parametrize("name", list(SWEEP))
def test_units_are_proven(name, tmp_path):
    r = prove(SWEEP[name], tmp_path)
    assert r["proven"], r["counterexample"]


MUTATIONS = {  # a one-line change of the reference that the prover must refute, one per family
    "fixed8": ("wire up = ", "wire up = 1'b0 & "),  # truncate instead of rounding
    "shift5z-sat": ("(k0 == 0) ?", "(k0 == 1) ?"),  # the zero code at the wrong place
    "mf-e3m2s-exact-sat": ("wire neg = ", "wire neg = 1'b0 & "),  # drop the sign of the output
    "fixed8-l4-sat": ("product3[", "product2["),  # a lane summed twice
    "fixed16-l16": ("product15[", "product14["),  # the same, where the sum is proven at the word level
}


def _broken(name):
    cfg, options = parse_spec(SWEEP[name])
    old, new = MUTATIONS[name]
    text = reference_verilog(cfg, module="reference", stages=options["stages"], bias=options["bias"])
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_broken_reference_is_refuted(name, tmp_path):
    r = prove(SWEEP[name], tmp_path, reference=_broken(name))
    assert r["proven"] is False and "FAIL" in r["counterexample"]


# the proof itself refutes, with the random search switched off (for a 16-lane sum the SAT counterexample takes
# longer than ten minutes: the random search is what refutes those quickly)
@pytest.mark.parametrize("name", [n for n in MUTATIONS if n != "fixed16-l16"])
def test_the_proof_refutes_what_random_simulation_misses(name, tmp_path, monkeypatch):
    import importlib

    monkeypatch.setattr(importlib.import_module("ristretto.synth.prove"), "random_mismatch", lambda *a, **k: None)
    r = prove(SWEEP[name], tmp_path, reference=_broken(name))
    assert r["proven"] is False and "FAIL" in r["counterexample"] and "equiv_simple" in r["engine"]


def test_a_one_input_bug_is_refuted_by_the_proof(tmp_path):
    # wrong for one operand pair of 2**32: random vectors miss it, the proof does not
    cfg, options = parse_spec(SWEEP["fixed16-acc40"])
    text = reference_verilog(cfg, module="reference", stages=options["stages"], bias=options["bias"])
    old = "product0 = a0 * w0;"
    assert old in text
    r = prove(SWEEP["fixed16-acc40"], tmp_path,
              reference=text.replace(old, "product0 = (a0 == 16'sd12345 && w0 == -16'sd777) ? 0 : a0 * w0;"))
    assert r["proven"] is False and "FAIL" in r["counterexample"] and "equiv_simple" in r["engine"]


def test_the_cli(tmp_path, capsys):
    assert main(["hw", "prove", "fixed8", "--lanes", "4", "--build-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("PROVEN mac_fixed_dfp8f4_dfp8f7_dfp8f4_acc32w_l4_st0")
    assert main(["hw", "prove", "minifloat8", "--build-dir", str(tmp_path)]) == 4  # not refuted (1), undecided (3)
    assert capsys.readouterr().out.startswith("NOT APPLICABLE: no naive reference for float32 adders")


def test_an_undecided_proof_says_so(tmp_path):
    # without the word-level cut (the reference's sum under another name) the 16-lane sum of 32-bit products
    # is a bit-level SAT problem that runs for many minutes
    cfg, options = parse_spec(SWEEP["fixed16-l16"])
    text = reference_verilog(cfg, module="reference", stages=options["stages"], bias=options["bias"])
    text = text.replace("lanesum", "plainsum")
    r = prove(SWEEP["fixed16-l16"], tmp_path, reference=text, timeout=5)
    assert r["proven"] is None and "lane sum" not in r["engine"]


STREAM_SPECS = [(p, extra) for p in sorted(PRESETS) for extra in (
    {}, {"lanes": 4, "bias": True, "reset": "sync-low"},
    {"lanes": 16, "reset": "async-high", **({} if p.startswith("mx") else {"stages": 2})})]


@pytest.mark.parametrize("preset,extra", STREAM_SPECS, ids=[f"{p}-{i % 3}" for i, (p, _) in enumerate(STREAM_SPECS)])
def test_stream_control_is_proven_for_every_family(preset, extra, tmp_path):
    from ristretto.hw.generate import load_spec
    from ristretto.synth.prove import prove_stream

    r = prove_stream({**load_spec(preset), **extra}, tmp_path)
    assert r["proven"] is True, r


@pytest.mark.parametrize("preset,extra", [("fixed8", {}), ("float32", {"lanes": 4, "stages": 1}),
                                          ("mxfp8", {"lanes": 8, "reset": "async-low"})])
def test_stream_wrapper_that_overruns_its_queue_is_refuted(preset, extra, tmp_path):
    from ristretto.hw.generate import load_spec
    from ristretto.synth.prove import prove_stream

    spec = {**load_spec(preset), **extra}
    depth = json.loads(generate({**spec, "interface": "stream"}, tmp_path / "right")[1].read_text())["stream"]["depth"]
    r = prove_stream(spec, tmp_path, _credit=depth + 1)
    assert r["proven"] is False and "dropped" in r["counterexample"]


def test_hw_prove_of_a_stream_unit_proves_control_then_datapath(tmp_path, capsys):
    assert main(["hw", "prove", "fixed8", "--interface", "stream", "--lanes", "4", "--build-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "(stream control): no result is ever dropped" in out and "equal to its naive reference" in out
    assert "the datapath is proven on the bare unit with the synchronous active-high reset" in out
