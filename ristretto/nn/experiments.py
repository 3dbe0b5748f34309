"""The paper's experiments on a model: Table I (8-bit formats after fine-tuning) and the Fig. 3 width sweep."""

from .convert import set_mode, wrap_model
from .data import calibration_batches
from .evaluate import accuracy
from .finetune import finetune
from .ranges import calibrate
from .schemes import Widths, apply_formats, assign_formats

__all__ = ["PAPER_ROWS", "paper_table", "width_sweep"]

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
