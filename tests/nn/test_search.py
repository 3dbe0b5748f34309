"""The width search: per-group bisection, combined back-off, memoized passes."""

from ristretto.nn.schemes import Widths
from ristretto.nn.search import search_widths


def test_bisection_and_back_off_on_a_synthetic_score():
    # each group alone needs 5 (conv), 3 (fc), 6 (act) bits; together one more bit of act
    need = {"conv_w": 5, "fc_w": 3, "act": 6}
    calls = []

    def score(w):
        calls.append(w)
        ok = all(getattr(w, g) is None or getattr(w, g) >= n for g, n in need.items())
        together = sum(getattr(w, g) is not None for g in need) == 3
        return 0.99 if ok and (not together or w.act >= 7) else 0.5

    widths, acc, passes, log = search_widths(score, 0.99, 0.5)
    assert widths == Widths(5, 3, 7) and acc == 0.99
    assert passes == len(calls) == len(set(calls)) == len(log)  # nothing scored twice


def test_a_group_that_never_meets_the_margin_keeps_the_widest():
    widths, acc, _, _ = search_widths(lambda w: 0.0 if w.act else 1.0, 1.0, 1.0, groups=("act",))
    assert widths.act == 16 and acc == 0.0


def test_refine_layers_narrows_each_layer_while_the_target_holds():
    from ristretto.nn.search import refine_layers

    need = {"a": (3, 5), "b": (6, 2)}  # smallest widths each layer tolerates

    def score(lw):
        return 1.0 if all(lw[n][0] >= need[n][0] and lw[n][1] >= need[n][1] for n in lw) else 0.0

    widths, acc, passes = refine_layers(score, 1.0, ["a", "b"], {"a": (8, 8), "b": (8, 8)})
    assert widths == {"a": (3, 5), "b": (6, 2)} and acc == 1.0
    assert passes == (8 - 3 + 1) + (8 - 5 + 1) + (8 - 6 + 1) + (8 - 2)  # each ends on one failing try, or at lo
