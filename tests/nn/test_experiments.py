"""The paper's Table I and Fig. 3 on the built-in LeNet (small configurations)."""

from ristretto.cli import main
from ristretto.nn.experiments import paper_table, width_sweep


def test_paper_table_targets(lenet, mnist):
    rows = paper_table(lenet, mnist, finetune_epochs=1)
    assert [r["name"] for r in rows] == ["float32", "dynamic fixed point", "minifloat", "multiplier-free"]
    base = rows[0]["top1"]
    dfp, mf, pow2 = rows[1:]
    # in points, rounded: 3 images of 1,000 is 0.3 points, not 0.30000000000000027
    assert round(100 * (base - dfp["top1"]), 9) <= 0.3
    assert round(100 * (base - mf["top1"]), 9) <= 1.0
    assert round(100 * (base - pow2["finetuned_top1"]), 9) <= 1.0
    assert pow2["widths"] == {"conv_w": 4, "fc_w": 4, "act": 8}


def test_static_fixed_point_collapses_where_dynamic_holds(lenet, mnist):
    sweep = width_sweep(lenet, mnist, widths=(6, 16))
    assert sweep["fixed"][6] < 0.5 < 0.9 < sweep["dfp"][6]
    assert abs(sweep["fixed"][16] - sweep["dfp"][16]) < 0.01


def test_cli_paper(capsys):
    assert main(["paper", "--finetune-epochs", "0", "--min-width", "7", "--max-width", "8"]) == 0
    out = capsys.readouterr().out
    assert "Table I" in out and "multiplier-free" in out and "Fig. 3" in out
