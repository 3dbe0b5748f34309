"""A report on a hostile model and data: nothing lands outside --out, user strings are inert, the cache is checked."""

import json
import textwrap

import numpy as np

from ristretto.cli import main
from ristretto.report.write import csv_safe, md_escape

MODEL = textwrap.dedent('''
    import torch
    from torch import nn

    OUTSIDE = {outside!r}


    class Hostile(nn.Module):
        """Its layers are registered under an absolute path and a name with a NUL, a slash and a space."""

        def __init__(self):
            super().__init__()
            self.add_module(OUTSIDE, nn.Conv2d(1, 2, 3))
            self.add_module("nul\\x00/x y", nn.Linear(2 * 6 * 6, 3))

        def forward(self, x):
            x = torch.relu(getattr(self, OUTSIDE)(x))
            return getattr(self, "nul\\x00/x y")(x.flatten(1))


    def hostile():
        torch.manual_seed(0)
        return Hostile()
''')


def _files(root):
    return {p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_hostile_names_write_nothing_outside_out_and_a_poisoned_cache_is_recomputed(tmp_path, monkeypatch, capsys):
    outside = tmp_path / "outside" / "x"
    (tmp_path / "hostile_mods.py").write_text(MODEL.format(outside=str(outside)))
    rng = np.random.default_rng(0)
    x = rng.random((90, 1, 8, 8), np.float32)
    y = (x[:, 0, :4].mean((1, 2)) * 3).astype(np.int64).clip(0, 2)
    data = tmp_path / "<svg onload=alert(1)> =1+1.npz"
    np.savez(data, x_train=x[:60], y_train=y[:60], x_val=x[60:], y_val=y[60:])
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    args = ["report", "--model", "hostile_mods:hostile", "--data", str(data), "--formats", "dfp", "--widths", "4",
            "--verify-vectors", "200", "--no-ice40", "--workers", "1", "--out", str(out)]
    before = _files(tmp_path)
    assert main(args) == 0
    capsys.readouterr()
    assert not (tmp_path / "outside").exists()
    assert {p for p in _files(tmp_path) - before if out not in p.parents} == set()
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "<svg" not in md and "&lt;svg onload=alert(1)&gt;" in md and "<svg" not in page
    first = json.loads((out / "report.json").read_text())["points"]

    # poison the unit cache: every entry names a system file as its netlist; the dfp point is recomputed
    for entry in (out / "cache").glob("unit-*.json"):
        unit = json.loads(entry.read_text())
        unit["netlist"] = "/etc/passwd" if unit["spec"].get("family") == "float32" else "../../../../../etc/passwd"
        entry.write_text(json.dumps(unit))
    for point in (out / "cache").glob("dfp4-*.json"):
        point.unlink()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "is corrupt; dropping it and recomputing the unit" in err
    again = json.loads((out / "report.json").read_text())["points"]
    keys = ("format", "width", "top1", "area_um2", "energy_pj_per_mac", "verified")
    assert [[p[k] for k in keys] for p in again] == [[p[k] for k in keys] for p in first]
    assert not any(b"root:x:0:0" in p.read_bytes() for p in _files(out))


def test_user_strings_are_inert_in_markdown_and_csv():
    assert md_escape("<svg onload=alert(1)> | *x* [a](b) `c` #h") == \
        r"&lt;svg onload=alert(1)&gt; \| \*x\* \[a\](b) \`c\` \#h"
    assert [csv_safe(v) for v in ("=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\tx", "dfp", -1.5, 3)] == \
        ["'=cmd|' /C calc'!A0", "'+1", "'-2+3", "'@SUM(A1)", "'\tx", "dfp", -1.5, 3]
