"""Bit-width search under an accuracy margin (the original's per-group search, then a back-off)."""

from dataclasses import replace

from .schemes import Widths

__all__ = ["refine_layers", "search_widths"]


def search_widths(score, baseline, margin, *, groups=("conv_w", "fc_w", "act"), bounds=None, progress=None,
                  score_combined=None):
    """Smallest widths per group whose combined network stays within ``margin`` of ``baseline``.

    ``score(widths)`` returns top-1 in [0, 1]; ``margin`` is in percentage points.
    ``score_combined`` (default ``score``) scores the combinations, every group
    quantized: it must score what the caller returns (e.g. in exact mode).
    Each group is searched alone (others in float) by bisection over
    ``bounds[group]`` (default ``(2, 16)``),
    as the original searched each group independently. The combination is then
    scored, and while it misses the margin the group whose one-bit widening
    helps most is widened (the original never checked the combination).
    Results are memoized: no width vector is scored twice.

    Returns ``(widths, accuracy, passes, log)``; ``accuracy`` is the combined
    network's, and below the target only when even the widest widths miss it.
    """
    target = baseline - margin / 100.0
    memo, log = {}, []
    score_combined = score_combined or score

    def run(w, combined=False):
        key = (w, combined)
        if key not in memo:
            memo[key] = (score_combined if combined else score)(w)
            log.append({"widths": w.to_dict(), "top1": memo[key], "scored": "combined" if combined else "group"})
            if progress:
                progress(w, memo[key])
        return memo[key]

    bounds = {g: (bounds or {}).get(g, (2, 16)) for g in groups}
    best = {}
    for g in groups:
        lo, hi = bounds[g]

        def at(bits, g=g):
            return run(replace(Widths(), **{g: bits}))

        if at(hi) < target:
            best[g] = hi  # even the widest candidate misses: keep the widest
            continue
        a, b = lo, hi  # invariant: b passes
        while a < b:
            mid = (a + b) // 2
            if at(mid) >= target:
                b = mid
            else:
                a = mid + 1
        best[g] = b
    widths = replace(Widths(), **best)
    acc = run(widths, True)
    top = (acc, widths)
    while acc < target:
        tries = [replace(widths, **{g: getattr(widths, g) + 1}) for g in groups if getattr(widths, g) < bounds[g][1]]
        if not tries:
            acc, widths = top  # even the widest misses: return the best combination scored
            break
        widths = max(tries, key=lambda w: run(w, True))
        acc = run(widths, True)
        top = max(top, (acc, widths), key=lambda t: t[0])
    return widths, acc, len(memo), log


def refine_layers(score, target, layers, start, *, lo=2, progress=None):
    """Narrow each layer's widths one bit at a time while ``score`` stays at or above ``target``.

    ``start`` maps layer name to ``(weight bits, activation bits)``; ``score(layer_widths)``
    returns top-1. Layers are visited in order, the weight width before the
    activation width, each lowered until the next step would miss the target.
    Returns ``(layer_widths, accuracy, passes)``.
    """
    current = dict(start)
    acc, passes = None, 0
    for name in layers:
        for i in (0, 1):
            while current[name][i] is not None and current[name][i] > lo:
                trial = dict(current)
                pair = list(current[name])
                pair[i] -= 1
                trial[name] = tuple(pair)
                a = score(trial)
                passes += 1
                if progress:
                    progress(name, trial[name], a)
                if a < target:
                    break
                current, acc = trial, a
    return current, acc, passes
