"""The paper's experiments on a model: Table I (8-bit formats after fine-tuning) and the Fig. 3 width sweep."""

from .convert import set_mode, wrap_model
from .data import calibration_batches
from .evaluate import accuracy
from .finetune import finetune
from .ranges import calibrate
from .schemes import Widths, apply_formats, assign_formats

__all__ = ["MX_ROWS", "PAPER_ROWS", "mx_vs_dfp", "paper_table", "width_sweep"]

# (row name, scheme, weight bits, activation bits): the paper's Table I columns
PAPER_ROWS = (("dynamic fixed point", "dfp", 8, 8), ("minifloat", "minifloat", 8, 8),
              ("multiplier-free", "pow2", 4, 8))


def _prepared(model, data, calib_batches=4, batch_size=500):
    net = wrap_model(model)
    stats = calibrate(net, calibration_batches(data.x_train, batches=calib_batches, batch_size=batch_size))
    return net, stats


def paper_table(model, data, *, finetune_epochs=2, rule="mse", mode="fp32", seed=0, log=None):
    """Top-1 of the float model and of each 8-bit format before and after fine-tuning.

    Returns ``[{"name", "scheme", "widths", "top1", "finetuned_top1"}]``, the first row float32.
    """
    net, stats = _prepared(model, data)
    rows = [{"name": "float32", "scheme": None, "widths": None, "top1": accuracy(net, data.x_val, data.y_val),
             "finetuned_top1": None}]
    for name, scheme, wb, ab in PAPER_ROWS:
        net, _ = _prepared(model, data)
        widths = Widths(wb, wb, ab)
        apply_formats(net, assign_formats(net, stats, scheme, widths, rule=rule))
        set_mode(net, mode)
        before = accuracy(net, data.x_val, data.y_val)
        after = None
        if finetune_epochs:
            set_mode(net, "fp32")
            finetune(net, data.x_train, data.y_train, epochs=finetune_epochs, seed=seed)
            set_mode(net, mode)
            after = accuracy(net, data.x_val, data.y_val)
        rows.append({"name": name, "scheme": scheme, "widths": widths.to_dict(), "top1": before,
                     "finetuned_top1": after})
        if log:
            log(f"  {name}: {before:.4f}" + (f" -> {after:.4f} fine-tuned" if after is not None else ""))
    return rows


def width_sweep(model, data, *, schemes=("fixed", "dfp", "minifloat"), widths=range(4, 17), rule="mse", log=None):
    """Top-1 per scheme and word width, weights and activations alike (the paper's Fig. 3).

    Returns ``{scheme: {width: top1}}``.
    """
    net, stats = _prepared(model, data)
    out = {}
    for scheme in schemes:
        out[scheme] = {}
        for b in widths:
            apply_formats(net, assign_formats(net, stats, scheme, Widths(b, b, b), rule=rule))
            out[scheme][b] = accuracy(net, data.x_val, data.y_val)
            if log:
                log(f"  {scheme} {b} bits: top-1 {out[scheme][b]:.4f}")
    return out


# (element, bits) of the MX comparison: OCP MX v1.0's elements, against per-layer DFP at the same width
MX_ROWS = (("fp4", 4), ("fp6e2m3", 6), ("fp6e3m2", 6), ("fp8e4m3", 8), ("int8", 8))


def mx_vs_dfp(model, data, *, rule="mse", log=None):
    """Per-block MX against per-layer DFP at the same element width (the paper's Fig. 3 idea one step on:
    a scale per block of 32 instead of one per layer), top-1 in fp32 and exact mode, no fine-tuning.

    Returns ``[{"scheme", "element", "bits", "top1_fp32", "top1_exact"}]``: DFP at 4, 6 and 8 bits, then
    each MX element.
    """
    net, stats = _prepared(model, data)
    jobs = [("dfp", None, b) for b in (4, 6, 8)] + [("mx", e, b) for e, b in MX_ROWS]
    rows = []
    for scheme, element, bits in jobs:
        apply_formats(net, assign_formats(net, stats, scheme, Widths(bits, bits, bits), rule=rule,
                                          mx_element=element))
        top1 = {}
        for mode in ("fp32", "exact"):
            set_mode(net, mode)
            top1[mode] = accuracy(net, data.x_val, data.y_val)
        set_mode(net, "fp32")
        rows.append({"scheme": scheme, "element": element or f"dfp{bits}", "bits": bits,
                     "top1_fp32": top1["fp32"], "top1_exact": top1["exact"]})
        if log:
            log(f"  {scheme} {element or bits}: top-1 {top1['fp32']:.4f} fp32, {top1['exact']:.4f} exact")
    return rows
