"""The report on a tiny configuration: points, cache, files, Pareto front."""

import json

from ristretto.cli import main
from ristretto.report import pareto


def test_pareto_front():
    pts = [{"top1": 0.9, "area_um2": 10}, {"top1": 0.95, "area_um2": 20}, {"top1": 0.93, "area_um2": 30},
           {"top1": 0.97, "area_um2": 40}, {"top1": 0.8, "area_um2": 5}]
    assert [p["area_um2"] for p in pareto(pts, "area_um2")] == [5, 10, 20, 40]


def test_report_tiny_and_cached(tmp_path, capsys):
    args = ["report", "--formats", "dfp", "--widths", "4", "--verify-vectors", "300", "--no-ice40",
            "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr()
    names = {p.name for p in tmp_path.iterdir()}
    assert {"report.json", "report.csv", "report.md", "report.html", "accuracy_vs_area.png",
            "accuracy_vs_energy.png", "accuracy_vs_width.png", "layer_sqnr.png"} <= names
    rep = json.loads((tmp_path / "report.json").read_text())
    assert [(p["format"], p["width"]) for p in rep["points"]] == [("float32", 32), ("dfp", 4)]
    dfp = rep["points"][1]
    assert dfp["verified"] and dfp["area_um2"] < rep["points"][0]["area_um2"] and 0.5 < dfp["top1"] <= 1
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "http" not in html.replace("https://", "")
    assert "report.html" in out.out
    # a re-run with one more width computes only the new point
    assert main(args[:4] + ["4,5"] + args[5:]) == 0
    err = capsys.readouterr().err
    assert err.count("cached") == 2 and "dfp 5 bits: accuracy" in err


def test_report_rejects_bad_widths(tmp_path):
    import pytest

    with pytest.raises(SystemExit, match=r"^ristretto report: --formats takes dfp, fixed, minifloat, pow2"):
        main(["report", "--widths", "1,40", "--out", str(tmp_path)])
