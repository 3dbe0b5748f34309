"""The approximation flow: analyze, quantize, search, fine-tune, report and export."""

from dataclasses import dataclass, field

import numpy as np
import torch

from ..datapath import ACCUMULATORS, MAX_LANES
from ..errors import InputError
from ..files import atomic_path, check_out_dir, write_json
from ..formats import MXFormat
from ..options import MAX_SEED, check_choice, check_int, check_margin
from ..progress import Progress
from .accumulators import accumulator_report, check_policy, size_accumulators
from .checks import chance_warning, check_model_data, degenerate_weights
from .config import check_config_layers, load_config
from .convert import quant_layers, set_mode, unquantized, wrap_model
from .data import calibration_batches
from .evaluate import accuracy
from .finetune import finetune
from .layers import GROUPS
from .modes import compare_modes
from .ranges import POW2_MAX_SPAN, RULES, calibrate, group_report
from .schemes import FP8_ELEMENTS, MX_ELEMENTS, SCHEMES, Widths, apply_formats, assign_formats, mx_element_for
from .search import refine_layers, search_widths

__all__ = ["FlowResult", "load_config", "quantize_network", "write_outputs"]


@dataclass
class FlowResult:
    net: torch.nn.Module
    scheme: str
    rule: str
    mode: str
    widths: Widths
    formats: dict
    layer_widths: dict
    baseline_top1: float
    quantized_top1: float
    before_finetune_top1: float
    passes: int
    search_log: list = field(default_factory=list)
    layers: dict = field(default_factory=dict)
    mode_disagreement: dict = field(default_factory=dict)
    margin: float = None
    met: bool = True
    finetuned_top1: float = None
    finetune_kept: str = None
    unquantized: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    validation_size: int = 0
    fold_bn: bool = False
    accumulators: dict = field(default_factory=dict)
    accumulator: str = "auto"
    lanes: int = 1


# a sign bit and enough exponent-code bits for the widest span choose_pow2 uses: wider codes add nothing
_POW2_MAX_BITS = 1 + (POW2_MAX_SPAN - 1).bit_length()


def _bounds(scheme, groups, mx_element=None):
    if scheme in FP8_ELEMENTS:  # one width: the search only checks the margin
        return dict.fromkeys(groups, (8, 8))
    if scheme == "mx":  # the element is the width: fp4, fp6, fp8 (or the one --mx-element names)
        bits = mx_element_for(8, mx_element).bits if mx_element else None
        return dict.fromkeys(groups, (bits, bits) if bits else (4, 8))
    weight = (2, _POW2_MAX_BITS) if scheme == "pow2" else (2, 16)
    return {g: (weight if g != "act" else (2, 16)) for g in groups}


def _check_options(scheme, margin, rule, finetune_epochs, mode, topk, batch_size, seed):
    check_choice("--format", scheme, SCHEMES)
    check_margin(margin)
    check_choice("--rule", rule, RULES)
    check_int("--finetune-epochs", finetune_epochs, 0, 1000)
    check_choice("--mode", mode, ("fp32", "exact"))
    check_int("--topk", topk, 1, 100_000)
    check_int("batch size", batch_size, 1, 65_536)
    check_int("--seed", seed, 0, MAX_SEED)


def quantize_network(model, data, *, scheme=None, margin=1.0, rule="mse", finetune_epochs=0, finetune_lr=0.005,
                     finetune_activations=False, mode="fp32", device="cpu", fold_bn=False, calib_batches=4,
                     batch_size=500, topk=1, output_index=None, seed=0, config=None, refine=False, strict=False,
                     widths=None, acc_bits="bound", acc_guard=1, accumulator="auto", lanes=1, mx_element=None,
                     log=print, stream=None):
    """Run Ristretto's flow on ``model`` with ``data`` (a ``Dataset``).

    Options are checked first, then the model against the data (shapes, labels,
    outputs), then the work starts. The search scores every combination in
    ``mode`` (per-group bisection runs in fp32 mode, other groups in float, as
    the original did), so the widths returned meet the margin in the mode asked;
    ``result.met`` is False when even the widest widths miss it. Fine-tuning
    keeps whichever of before/after scores higher, and says which.

    ``widths`` (a ``Widths``) skips the search and quantizes at those widths.
    ``acc_bits`` sizes each integer layer's accumulator in exact mode: ``bound``
    (never overflows), ``observed`` (the calibration data's need plus
    ``acc_guard`` bits) or a width; ``result.accumulators`` reports both widths
    per layer and the outputs that overflowed over the validation set in exact mode.
    ``accumulator`` (``auto``, ``exact``, ``fp32``) chooses how minifloat
    layers sum in exact mode (``auto``: exact fixed point for operands of at
    most 8 bits, else float32 adders); ``lanes`` (1..64) is the dot-product
    unit's lane count, whose adder tree fixes the order of float32 sums and of
    saturation (``ristretto.datapath.lanes``). ``mx_element`` (scheme ``mx``)
    fixes the MX element (``MX_ELEMENTS``); without it the search picks the
    element per group as its width (fp4, fp6e2m3, fp8e4m3).
    ``scheme`` defaults to ``dfp``, or to the scheme of ``config``. Layers and
    ops left in float are listed in ``result.unquantized``; ``strict`` refuses
    such a model.

    Returns a ``FlowResult``; the user's model is never modified.

    Raises
    ------
    InputError
        For bad options, a config that does not fit, data the model does not
        take, or (``strict``) a model with unquantized parts.
    """
    if config is not None:
        cfg_scheme, cfg_widths, cfg_formats = load_config(config)
        if scheme is not None and scheme != cfg_scheme:
            raise InputError(f"--format {scheme} contradicts the config {str(config)!r}, which holds {cfg_scheme} "
                             "formats; drop --format (the config decides) or drop --config")
        scheme = cfg_scheme
    scheme = scheme or "dfp"
    _check_options(scheme, margin, rule, finetune_epochs, mode, topk, batch_size, seed)
    if mx_element is not None:
        if scheme != "mx":
            raise InputError(f"--mx-element {mx_element} needs --format mx, not --format {scheme}")
        check_choice("--mx-element", mx_element, tuple(MX_ELEMENTS))
    acc_bits = check_policy(acc_bits)
    check_int("--acc-guard", acc_guard, 0, 16)
    check_choice("--accumulator", accumulator, ACCUMULATORS)
    if scheme in FP8_ELEMENTS and accumulator == "exact":
        raise InputError(f"--accumulator exact cannot sum --format {scheme}: {FP8_ELEMENTS[scheme]} has a NaN code, "
                         "which a fixed-point sum cannot hold; use auto or fp32 (float32 adders)")
    check_int("--lanes", lanes, 1, MAX_LANES)
    if widths is not None and config is not None:
        raise InputError("--widths and --config both fix the formats; give one")
    warns = []

    def warn(msg):
        warns.append(msg)
        log(f"warning: {msg}")

    net = wrap_model(model, fold_bn=fold_bn).to(device)
    layers = quant_layers(net)
    for layer in layers.values():
        layer.accumulator, layer.lanes = accumulator, lanes
    if config is not None:
        check_config_layers(config, cfg_formats, layers)
    data, notes = check_model_data(net, data, topk=topk, output_index=output_index, device=device,
                                   batch_size=batch_size)
    for n in notes:
        log(n)
    for w in data.warnings():
        warn(w)
    floats = unquantized(net)
    if floats:
        listing = ", ".join(f"{u['name']} ({u['type']}, {u['parameters']} values)" for u in floats)
        if strict:
            raise InputError(f"--strict: these parts would stay in float32: {listing}"
                             + ("; add --fold-bn for BatchNorm" if any("BatchNorm" in u["type"] for u in floats)
                                else ""))
        warn(f"left in float32 (not quantized, not in weights.npz): {listing}")

    def score(finite=False):
        return accuracy(net, data.x_val, data.y_val, topk=topk, batch_size=batch_size, output_index=output_index,
                        device=device, finite=finite)

    set_mode(net, "fp32")
    baseline = score(finite=True)
    log(f"baseline (float32) top-{topk}: {baseline:.4f} on {len(data.x_val)} validation samples")
    chance = chance_warning(baseline, max(data.num_classes, 2), topk)
    if chance:
        warn(chance)
    batches = [b.to(device) for b in calibration_batches(data.x_train, batches=calib_batches, batch_size=batch_size)]
    stats = calibrate(net, batches)
    groups = tuple(g for g, kind in (("conv_w", "conv"), ("fc_w", "fc"))
                   if any(layer.kind == kind for layer in layers.values())) + ("act",)

    def in_mode(formats):
        apply_formats(net, formats)
        size_accumulators(net, batches, acc_bits, guard=acc_guard, observe=False)
        set_mode(net, mode)
        try:
            return score()
        finally:
            set_mode(net, "fp32")

    fixed = config is not None or widths is not None
    if fixed:
        if config is not None:
            widths, formats = cfg_widths, cfg_formats
        else:
            formats = assign_formats(net, stats, scheme, widths, rule=rule, mx_element=mx_element)
        apply_formats(net, formats)
        passes, search_log = 0, []
        layer_widths = {n: (f.weight.bits if f.weight else None, f.input.bits if f.input else None)
                        for n, f in formats.items()}
    else:
        def score_group(w):
            apply_formats(net, assign_formats(net, stats, scheme, w, rule=rule, mx_element=mx_element))
            return score()

        log(f"searching {scheme} widths within {margin} points of the baseline ({', '.join(groups)}), "
            f"combinations scored in {mode} mode")
        with Progress(None, "  validation pass", stream=stream) as bar:
            widths, _, passes, search_log = search_widths(
                score_group, baseline, margin, groups=groups, bounds=_bounds(scheme, groups, mx_element),
                score_combined=lambda w: in_mode(assign_formats(net, stats, scheme, w, rule=rule,
                                                                mx_element=mx_element)),
                progress=lambda w, acc: bar.step(f"{w.to_dict()} -> top-{topk} {acc:.4f}"))
        layer_widths = {n: (widths.conv_w if layer.kind == "conv" else widths.fc_w, widths.act)
                        for n, layer in layers.items()}
        if refine:
            log("refining widths per layer")

            def score_layers(lw):
                return in_mode(assign_formats(net, stats, scheme, widths, rule=rule, layer_widths=lw,
                                                   mx_element=mx_element))

            with Progress(None, "  refinement pass", stream=stream) as bar:
                layer_widths, _, more = refine_layers(
                    score_layers, baseline - margin / 100.0, list(layers), layer_widths,
                    progress=lambda n, w, a: bar.step(f"{n} weight/act {w} -> top-{topk} {a:.4f}"))
            passes += more
        formats = assign_formats(net, stats, scheme, widths, rule=rule, layer_widths=layer_widths,
                                 mx_element=mx_element)
        apply_formats(net, formats)

    sizing = size_accumulators(net, batches, acc_bits, guard=acc_guard, observe=False)
    set_mode(net, mode)
    before = score()
    passes += 1
    quantized, after, kept = before, None, None
    if finetune_epochs:
        saved = {k: v.clone() for k, v in net.state_dict().items()}
        set_mode(net, "fp32")
        log(f"fine-tuning {finetune_epochs} epochs (shadow weights, straight-through gradients)")
        with Progress(finetune_epochs, "  epoch", stream=stream) as bar:
            finetune(net, data.x_train, data.y_train, epochs=finetune_epochs, lr=finetune_lr, seed=seed,
                     quantize_activations=finetune_activations, device=device, output_index=output_index,
                     on_epoch=lambda e, loss: bar.step(f"loss {loss:.4f}"))
        sizing = size_accumulators(net, batches, acc_bits, guard=acc_guard, observe=False)  # observed may move
        set_mode(net, mode)
        after = score()
        passes += 1
        if after >= before:
            quantized, kept = after, "fine-tuned"
            log(f"fine-tuning: top-{topk} {before:.4f} -> {after:.4f}; keeping the fine-tuned weights")
        else:
            net.load_state_dict(saved)
            sizing = size_accumulators(net, batches, acc_bits, guard=acc_guard, observe=False)
            kept = "before fine-tuning"
            warn(f"fine-tuning lowered top-{topk} from {before:.4f} to {after:.4f}; keeping the weights from before "
                 "fine-tuning")

    met = fixed or quantized >= baseline - margin / 100.0
    if not met:
        warn(f"no {scheme} widths the search may try keep top-{topk} within {margin} points of {baseline:.4f} in "
             f"{mode} mode: best {quantized:.4f} at {widths.to_dict()}")
    accumulators = {}
    if sizing:  # widths from the data, then overflow events over the validation set in exact mode
        sizing = size_accumulators(net, batches, acc_bits, guard=acc_guard)
        for layer in layers.values():
            layer.overflows = 0
        if mode == "exact":
            score()
        else:
            set_mode(net, "exact")
            try:
                score()
            finally:
                set_mode(net, mode)
        accumulators = accumulator_report(net, sizing)
        total = sum(a["overflows"] for a in accumulators.values())
        if total:
            warn(f"{total} outputs overflowed their accumulators over the validation set in exact mode: "
                 + ", ".join(f"{n} {a['overflows']} ({a['bits']} bits)" for n, a in accumulators.items()
                             if a["overflows"]))
    for msg in degenerate_weights(layers):
        warn(msg)
    report = {}
    for name, layer in layers.items():
        report[name] = {g: group_report(stats[name][g], getattr(layer.formats, g))
                        for g in GROUPS if getattr(layer.formats, g) is not None and g in stats[name]}
        if name in accumulators:
            report[name]["accumulator"] = {"kind": "fixed", **accumulators[name]}
        elif all(getattr(layer.formats, g) is not None for g in ("input", "weight", "output")):
            report[name]["accumulator"] = {"kind": "fp32", "lanes": lanes}  # float32 adder tree, in lanes' order
    disagreement = {}
    try:
        disagreement = compare_modes(net, data.x_val[:100].to(device))
    except (NotImplementedError, ValueError) as err:
        log(f"modes not compared: {err}")
    finally:
        set_mode(net, mode)
    return FlowResult(net, scheme, rule, mode, widths, {n: layer.formats for n, layer in layers.items()},
                      layer_widths, baseline, quantized, before, passes, search_log, report, disagreement,
                      margin=margin, met=met, finetuned_top1=after, finetune_kept=kept, unquantized=floats,
                      warnings=warns, validation_size=len(data.x_val), fold_bn=fold_bn, accumulators=accumulators,
                      accumulator=accumulator, lanes=lanes)


def _state_dict(net):
    """The user's parameter names: the QuantLayer wrappers' ``.inner`` removed."""
    return {k.replace(".inner.", ".").removeprefix("inner."): v.detach().cpu() for k, v in net.state_dict().items()}


def write_outputs(result, out_dir):
    """Write ``config.json``, ``summary.json``, ``weights.npz`` and ``model.pt`` into ``out_dir``, each atomically."""
    out = check_out_dir(out_dir)
    config = {"scheme": result.scheme, "rule": result.rule, "widths": result.widths.to_dict(),
              "fold_bn": result.fold_bn, "layers": {n: f.to_dict() for n, f in result.formats.items()}}
    write_json(out / "config.json", config)
    codes = {}
    for name, layer in quant_layers(result.net).items():
        for g in ("weight", "bias"):
            fmt, p = getattr(layer.formats, g), getattr(layer.inner, g)
            if isinstance(fmt, MXFormat):  # rows in the unit's order [O, K], blocks along K, and their scales
                from .exact import _geometry, _kernel

                c, sc = fmt.encode(_kernel(_geometry(layer.inner), p.detach().cpu()), axis=-1)
                codes[f"{name}.{g}"], codes[f"{name}.{g}_scale"] = c.numpy(), sc.numpy()
            elif fmt is not None and p is not None:
                codes[f"{name}.{g}"] = fmt.encode(p.detach().cpu()).numpy()
    with atomic_path(out / "weights.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **codes)
    with atomic_path(out / "model.pt") as tmp:
        torch.save(_state_dict(result.net), tmp)
    summary = {"scheme": result.scheme, "rule": result.rule, "mode": result.mode,
               "baseline_top1": result.baseline_top1, "quantized_top1": result.quantized_top1,
               "margin_points": result.margin, "margin_met": result.met, "validation_size": result.validation_size,
               "before_finetune_top1": result.before_finetune_top1, "after_finetune_top1": result.finetuned_top1,
               "finetune_kept": result.finetune_kept, "widths": result.widths.to_dict(),
               "layer_widths": {n: {"weight": w, "act": a} for n, (w, a) in result.layer_widths.items()},
               "validation_passes": result.passes, "search": result.search_log, "layers": result.layers,
               "accumulator_option": result.accumulator, "lanes": result.lanes,
               "mode_disagreement": result.mode_disagreement, "unquantized": result.unquantized,
               "warnings": result.warnings}
    write_json(out / "summary.json", summary)
    return [out / n for n in ("config.json", "summary.json", "weights.npz", "model.pt")]
