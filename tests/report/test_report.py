"""The report on a tiny configuration: points, cache, files, Pareto front."""

import json
import re

import pytest

from ristretto.cli import main
from ristretto.report import pareto


def test_every_scheme_has_a_colour_of_its_own():
    from ristretto.report.charts import COLORS
    from ristretto.report.sweep import SCHEMES

    assert set(SCHEMES) | {"float32"} <= set(COLORS) and len(set(COLORS.values())) == len(COLORS)


def test_pareto_front():
    pts = [{"top1": 0.9, "area_um2": 10}, {"top1": 0.95, "area_um2": 20}, {"top1": 0.93, "area_um2": 30},
           {"top1": 0.97, "area_um2": 40}, {"top1": 0.8, "area_um2": 5}]
    assert [p["area_um2"] for p in pareto(pts, "area_um2")] == [5, 10, 20, 40]


def test_report_tiny_and_cached(tmp_path, capsys):
    args = ["report", "--formats", "dfp", "--widths", "4", "--verify-vectors", "300", "--no-ice40", "--workers", "1",
            "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr()
    names = {p.name for p in tmp_path.iterdir()}
    assert {"report.json", "report.csv", "report.md", "report.html", "accuracy_vs_area.png",
            "accuracy_vs_energy.png", "accuracy_vs_width.png", "layer_sqnr.png",
            "accuracy_vs_weight_memory.png"} <= names
    rep = json.loads((tmp_path / "report.json").read_text())
    assert [(p["format"], p["width"]) for p in rep["points"]] == [("float32", 32), ("dfp", 4)]
    dfp = rep["points"][1]
    assert rep["points"][0]["verified"] == "simulated" and dfp["verified"] == "proven"
    assert dfp["area_um2"] < rep["points"][0]["area_um2"] and 0.5 < dfp["top1"] <= 1
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5 and "http" not in html.replace("https://", "")
    assert "report.html" in out.out
    # a re-run with one more width computes only the new point
    assert main(args[:4] + ["4,5"] + args[5:]) == 0
    err = capsys.readouterr().err
    assert err.count("cached") == 2 and "dfp 5 bits: accuracy" in err


def test_report_with_mx_points(tmp_path, lenet):
    """``--formats mx``: a point per MX element width (5 is none: skipped), one 32-lane MX unit co-simulated and
    synthesized, powered on the layers' real blocks, weight memory with an 8-bit scale per block of 32."""
    from ristretto.nn import quant_layers
    from ristretto.nn.convert import wrap_model

    assert main(["report", "--formats", "mx", "--widths", "4,5", "--verify-vectors", "200", "--no-ice40",
                 "--workers", "1", "--out", str(tmp_path)]) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert [(p["format"], p["width"]) for p in rep["points"]] == [("float32", 32), ("mx", 4)]
    mx = rep["points"][1]
    assert mx["units"] == 1 and mx["lanes"] == 32 and mx["mac_spec"]["family"] == "mx"
    assert mx["mac_spec"]["a"]["element"]["man_bits"] == 1 and mx["verified"] == "simulated"
    assert mx["activity"] == "data" and mx["area_um2_per_mac"] == mx["area_um2"] / 32
    bits = 0
    for q in quant_layers(wrap_model(lenet)).values():
        w = q.inner.weight
        bits += w.numel() * 4 + w.shape[0] * -(-w[0].numel() // 32) * 8
    assert mx["weight_bits"] == bits == 1_722_000 + 13_480 * 8
    assert abs(mx["top1_exact"] - mx["top1_fp32"]) < 0.01 and mx["top1"] > 0.9
    assert "MX points" in rep["meta"]["note"]
    with pytest.raises(SystemExit, match=re.escape("--formats mx needs a width of 4, 6, 8 in --widths, not 10, 12")):
        main(["report", "--formats", "dfp,mx", "--widths", "10,12", "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()  # refused before any work


def test_report_with_an_fp8_point(tmp_path):
    """``--formats fp8``: one point at width 8 (6 has none), e4m3fn scaled per group on minifloat units with float32
    adders even when --accumulator exact is asked (the NaN code needs them), co-simulated, on the layers' data."""
    assert main(["report", "--formats", "fp8", "--widths", "6,8", "--accumulator", "exact", "--verify-vectors", "200",
                 "--no-ice40", "--workers", "1", "--out", str(tmp_path)]) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert [(p["format"], p["width"]) for p in rep["points"]] == [("float32", 32), ("fp8", 8)]
    fp8 = rep["points"][1]
    spec = fp8["mac_spec"]
    assert spec["family"] == "minifloat" and spec["accumulator"] == "fp32"
    assert spec["a"]["special"] == spec["w"]["special"] == spec["out"]["special"] == "fn"
    assert fp8["verified"] == "simulated" and fp8["activity"] == "data" and fp8["weight_bits"] == 1_722_000 * 2
    assert abs(fp8["top1_exact"] - rep["points"][0]["top1"]) < 0.01
    assert "fp8: OCP FP8 E4M3" in rep["meta"]["note"]


def test_report_rejects_bad_widths(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["report", "--widths", "1,40", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().endswith("argument --widths: takes integers in 2..16, not 1 "
                                                   "(see ristretto report --help)")


def _fake_points(monkeypatch, calls):
    """Replace the tool-bound work of a point with a fast, deterministic stand-in."""
    import importlib

    sw = importlib.import_module("ristretto.report.sweep")  # the package exports a function of the same name

    def point(model, data, stats_net, stats, scheme, width, **kw):
        calls.append((scheme, width))
        return {"format": scheme, "width": width, "top1": 0.5, "top1_exact": 0.5, "area_um2": 100.0 * width,
                "energy_pj": 1.0 * width, "energy_pj_per_mac": 1.0 * width, "energy_nj_per_inference": 10.0 * width,
                "units": 1, "verified": "proven", "build": str(kw["build_dir"])}

    monkeypatch.setattr(sw, "_point", point)
    monkeypatch.setattr(sw, "_baseline_point", lambda *a: {"format": "float32", "width": 32, "top1": 0.6,
                                                           "top1_exact": 0.6, "area_um2": 1e4, "energy_pj": 50.0,
                                                           "energy_pj_per_mac": 50.0, "energy_nj_per_inference": 500.0,
                                                           "units": 1, "verified": "simulated"})


def test_the_default_formats_include_mx_at_its_widths_only(tmp_path, monkeypatch):
    """Without --formats the report runs dfp, minifloat, pow2 and mx; mx only at 4, 6, 8 and, when no width
    is one, not at all (an explicit ``--formats mx`` is refused then: see test_report_with_mx_points)."""
    calls = []
    _fake_points(monkeypatch, calls)
    monkeypatch.setattr("ristretto.report.write_report", lambda report, out: [])  # fake points: nothing to chart
    assert main(["report", "--widths", "6,10", "--workers", "1", "--no-ice40", "--out", str(tmp_path / "a")]) == 0
    assert calls == [("dfp", 6), ("dfp", 10), ("minifloat", 6), ("minifloat", 10), ("pow2", 6), ("pow2", 10),
                     ("mx", 6)]
    calls.clear()
    assert main(["report", "--widths", "10", "--workers", "1", "--no-ice40", "--out", str(tmp_path / "b")]) == 0
    assert calls == [("dfp", 10), ("minifloat", 10), ("pow2", 10)]


def test_a_corrupt_cache_entry_is_named_and_recomputed(tmp_path, monkeypatch, lenet, mnist):
    from ristretto.report import sweep

    calls, logs = [], []
    _fake_points(monkeypatch, calls)
    sweep(lenet, mnist, formats=("dfp",), widths=(4, 6), out_dir=tmp_path, log=logs.append)
    assert calls == [("dfp", 4), ("dfp", 6)]
    entry = next(p for p in (tmp_path / "cache").iterdir() if p.name.startswith("dfp6-"))
    entry.write_text('{"format": "dfp", "wid')  # a torn write from an older version, or a full disk
    empty = next(p for p in (tmp_path / "cache").iterdir() if p.name.startswith("dfp4-"))
    empty.write_text("")
    calls.clear()
    points = sweep(lenet, mnist, formats=("dfp",), widths=(4, 6), out_dir=tmp_path, log=logs.append).points
    assert calls == [("dfp", 4), ("dfp", 6)] and [p["width"] for p in points] == [32, 4, 6]
    assert sum("is corrupt" in m and "recomputing it" in m for m in logs) == 2


def test_two_runs_on_one_out_both_finish(tmp_path, monkeypatch, lenet, mnist):
    import threading

    from ristretto.report import sweep

    calls = []
    _fake_points(monkeypatch, calls)
    results, errors = {}, []

    def run(k):
        try:
            results[k] = sweep(lenet, mnist, formats=("dfp", "pow2"), widths=(4, 5), out_dir=tmp_path,
                               log=lambda m: None).points
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    strip = [[{k: v for k, v in p.items() if k != "build"} for p in results[k]] for k in range(2)]
    assert strip[0] == strip[1] and len(strip[0]) == 5
    builds = {p["build"] for k in range(2) for p in results[k] if "build" in p}
    assert builds and all("/build/run-" in b for b in builds)  # each run works in a build folder of its own
    assert all(p.suffix == ".json" for p in (tmp_path / "cache").iterdir())  # no temporaries left behind


def test_report_on_an_onnx_model(tmp_path, lenet, mnist, capsys):
    import warnings

    import pytest
    import torch

    pytest.importorskip("onnx")
    path = tmp_path / "lenet.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(lenet, (mnist.x_val[:2],), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}})
    assert main(["report", "--model", str(path), "--formats", "dfp", "--widths", "6", "--verify-vectors", "200",
                 "--no-ice40", "--workers", "1", "--out", str(tmp_path / "rep")]) == 0
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [(p["format"], p["width"]) for p in rep["points"]] == [("float32", 32), ("dfp", 6)]
    assert rep["points"][1]["verified"] == "proven" and rep["points"][1]["top1"] > 0.9
    capsys.readouterr()


def test_a_killed_sweep_resumes_where_it_stopped(tmp_path, monkeypatch, lenet, mnist):
    import importlib

    import pytest

    from ristretto.report import sweep

    sw = importlib.import_module("ristretto.report.sweep")
    calls = []
    _fake_points(monkeypatch, calls)
    fake = sw._point

    def dies_on_the_third(*args, **kw):
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C, or a kill, in the middle of a point
        return fake(*args, **kw)

    monkeypatch.setattr(sw, "_point", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        sweep(lenet, mnist, formats=("dfp",), widths=(4, 5, 6, 7), out_dir=tmp_path, log=lambda m: None)
    assert calls == [("dfp", 4), ("dfp", 5)]
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()) == ["dfp4", "dfp5", "float3232"]
    monkeypatch.setattr(sw, "_point", fake)
    calls.clear()
    points = sweep(lenet, mnist, formats=("dfp",), widths=(4, 5, 6, 7), out_dir=tmp_path, log=lambda m: None).points
    assert calls == [("dfp", 6), ("dfp", 7)] and [p["width"] for p in points] == [32, 4, 5, 6, 7]


def test_wilson_interval():
    from ristretto.report.sweep import wilson

    lo, hi = wilson(970, 1000)
    assert 0.957 < lo < 0.958 and 0.978 < hi < 0.979  # Wilson, 97.0% of 1,000: 95.75-97.89%
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0 and wilson(0, 0) == (0.0, 1.0)
    for n in (6, 11, 21, 100, 1000):  # the interval always holds the proportion (charts draw k/n minus its ends)
        for k in (0, 1, n // 3, n - 1, n):
            lo, hi = wilson(k, n)
            assert lo <= k / n <= hi


def test_the_front_does_not_claim_what_the_noise_hides():
    from ristretto.report.charts import resolved

    front = [{"top1": 0.90, "top1_lo": 0.88, "top1_hi": 0.92}, {"top1": 0.91, "top1_lo": 0.89, "top1_hi": 0.93},
             {"top1": 0.97, "top1_lo": 0.95, "top1_hi": 0.98}]
    assert resolved(front) == [True, False, True]


def test_point_totals_sum_distinct_units_and_weight_energy_by_macs():
    from ristretto.report.sweep import _totals

    def unit(name, area, e, lanes=1):
        return {"spec": {"name": name}, "module": name, "area_um2": area, "energy_pj_per_mac": e, "lanes": lanes,
                "delay_ns": area / 100, "fmax_mhz": 1e5 / area, "cells": 1, "transistors": 4, "power_mw": e / 10,
                "energy_pj": e, "logic_depth": 3, "ice40_luts": None, "vectors": 10, "verified": "proven",
                "clock_mhz": 100.0, "clock_asked": 100.0, "tools": {}}

    small, big = unit("a", 1000.0, 2.0), unit("b", 3000.0, 5.0)
    t = _totals({"conv1": small, "conv2": big, "fc": small}, {"conv1": 100, "conv2": 1000, "fc": 10}, 12345)
    assert t["units"] == 2 and t["area_um2"] == 4000.0 and t["area_um2_per_mac"] == 2000.0
    assert t["energy_nj_per_inference"] == (100 * 2 + 1000 * 5 + 10 * 2) / 1000
    assert t["energy_pj_per_mac"] == (100 * 2 + 1000 * 5 + 10 * 2) / 1110 and t["weight_bits"] == 12345
    assert t["mac_layer"] == "conv2" and t["delay_ns"] == 30.0 and t["ice40_luts"] is None
    t = _totals({"conv1": small, "conv2": dict(big, verified="simulated")}, {"conv1": 1, "conv2": 1}, 1)
    assert t["verified"] == "simulated" and t["clock_met"]
    t = _totals({"conv1": small, "conv2": dict(big, clock_mhz=33.3)}, {"conv1": 1, "conv2": 1}, 1)
    assert not t["clock_met"] and t["clock_mhz"] == 33.3 and t["activity"] == "default"
    assert t["energy_nj_per_inference"] == pytest.approx((0.2 * 1e3 / 100 + 0.5 * 1e3 / 33.3) / 1000)
    t = _totals({"conv1": small, "dw": big}, {"conv1": 10, "dw": 20}, 1, {"conv1": 0.4, "dw": None})
    assert t["activity"] == "data+default" and t["power_mw_data"] is None  # dw (the heaviest) has no trace
    assert t["energy_nj_per_inference"] == pytest.approx((10 * 0.4 * 10 + 20 * 5.0) / 1000)
