"""The approximation flow: analyze, quantize, search, fine-tune, report and export."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..progress import Progress
from .convert import quant_layers, set_mode, wrap_model
from .evaluate import accuracy
from .exact import compare_modes
from .finetune import finetune
from .layers import GROUPS, LayerFormats
from .ranges import calibrate, group_report
from .schemes import SCHEMES, Widths, apply_formats, assign_formats
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


def _bounds(scheme, groups):
    weight = (2, 8) if scheme == "pow2" else (2, 16)
    return {g: (weight if g != "act" else (2, 16)) for g in groups}


def load_config(path):
    """``(scheme, widths, {layer: LayerFormats})`` from a ``config.json`` written by the flow."""
    d = json.loads(Path(path).read_text())
    return d["scheme"], Widths(**d["widths"]), {n: LayerFormats.from_dict(f) for n, f in d["layers"].items()}


def quantize_network(model, data, *, scheme="dfp", margin=1.0, rule="mse", finetune_epochs=0, finetune_lr=0.005,
                     finetune_activations=False, mode="fp32", device="cpu", fold_bn=False, calib_batches=4,
                     batch_size=500, topk=1, output_index=None, seed=0, config=None, refine=False, log=print,
                     stream=None):
    """Run Ristretto's flow on ``model`` with ``data`` (a ``Dataset``).

    Returns a ``FlowResult``; the user's model is never modified. Progress bars go to
    ``stream`` (default: stderr).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"Format must be one of {', '.join(SCHEMES)}, not {scheme!r}")
    net = wrap_model(model, fold_bn=fold_bn).to(device)
    layers = quant_layers(net)

    def score(n=None):
        return accuracy(net, data.x_val, data.y_val, topk=topk, batch_size=batch_size, output_index=output_index,
                        device=device)

    baseline = score()
    log(f"baseline (float32) top-{topk}: {baseline:.4f}")
    batches = [data.x_train[i:i + batch_size].to(device) for i in range(0, calib_batches * batch_size, batch_size)]
    stats = calibrate(net, batches)
    groups = tuple(g for g, kind in (("conv_w", "conv"), ("fc_w", "fc"))
                   if any(layer.kind == kind for layer in layers.values())) + ("act",)

    if config is not None:
        scheme, widths, formats = load_config(config)
        apply_formats(net, formats)
        passes, search_log = 0, []
        layer_widths = {n: (f.weight.bits if f.weight else None, f.input.bits if f.input else None)
                        for n, f in formats.items()}
    else:
        def score_widths(w):
            apply_formats(net, assign_formats(net, stats, scheme, w, rule=rule))
            return score()

        log(f"searching {scheme} widths within {margin} points of the baseline ({', '.join(groups)})")
        with Progress(None, "  validation pass", stream=stream) as bar:
            widths, _, passes, search_log = search_widths(
                score_widths, baseline, margin, groups=groups, bounds=_bounds(scheme, groups),
                progress=lambda w, acc: bar.step(f"{w.to_dict()} -> top-{topk} {acc:.4f}"))
        layer_widths = {n: (widths.conv_w if layer.kind == "conv" else widths.fc_w, widths.act)
                        for n, layer in layers.items()}
        if refine:
            log("refining widths per layer")

            def score_layers(lw):
                apply_formats(net, assign_formats(net, stats, scheme, widths, rule=rule, layer_widths=lw))
                return score()

            with Progress(None, "  refinement pass", stream=stream) as bar:
                layer_widths, _, more = refine_layers(
                    score_layers, baseline - margin / 100.0, list(layers), layer_widths,
                    progress=lambda n, w, a: bar.step(f"{n} weight/act {w} -> top-{topk} {a:.4f}"))
            passes += more
        formats = assign_formats(net, stats, scheme, widths, rule=rule, layer_widths=layer_widths)
        apply_formats(net, formats)

    set_mode(net, mode)
    before = score()
    passes += 1
    quantized = before
    if finetune_epochs:
        set_mode(net, "fp32")
        log(f"fine-tuning {finetune_epochs} epochs (shadow weights, straight-through gradients)")
        with Progress(finetune_epochs, "  epoch", stream=stream) as bar:
            finetune(net, data.x_train, data.y_train, epochs=finetune_epochs, lr=finetune_lr, seed=seed,
                     quantize_activations=finetune_activations, device=device,
                     on_epoch=lambda e, loss: bar.step(f"loss {loss:.4f}"))
        set_mode(net, mode)
        quantized = score()
        passes += 1

    report = {}
    for name, layer in layers.items():
        report[name] = {g: group_report(stats[name][g], getattr(layer.formats, g))
                        for g in GROUPS if getattr(layer.formats, g) is not None and g in stats[name]}
    disagreement = {}
    try:
        disagreement = compare_modes(net, data.x_val[:100].to(device))
    except (NotImplementedError, ValueError) as err:
        log(f"modes not compared: {err}")
    finally:
        set_mode(net, mode)
    return FlowResult(net, scheme, rule, mode, widths, {n: layer.formats for n, layer in layers.items()},
                      layer_widths, baseline, quantized, before, passes, search_log, report, disagreement)


def _state_dict(net):
    """The user's parameter names: the QuantLayer wrappers' ``.inner`` removed."""
    return {k.replace(".inner.", ".").removeprefix("inner."): v.detach().cpu() for k, v in net.state_dict().items()}


def write_outputs(result, out_dir):
    """Write ``config.json``, ``summary.json``, ``weights.npz`` and ``model.pt`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = {"scheme": result.scheme, "rule": result.rule, "widths": result.widths.to_dict(),
              "layers": {n: f.to_dict() for n, f in result.formats.items()}}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    codes = {}
    for name, layer in quant_layers(result.net).items():
        for g in ("weight", "bias"):
            fmt, p = getattr(layer.formats, g), getattr(layer.inner, g)
            if fmt is not None and p is not None:
                codes[f"{name}.{g}"] = fmt.encode(p.detach().cpu()).numpy()
    np.savez(out / "weights.npz", **codes)
    torch.save(_state_dict(result.net), out / "model.pt")
    summary = {"scheme": result.scheme, "rule": result.rule, "mode": result.mode,
               "baseline_top1": result.baseline_top1, "quantized_top1": result.quantized_top1,
               "before_finetune_top1": result.before_finetune_top1, "widths": result.widths.to_dict(),
               "layer_widths": {n: {"weight": w, "act": a} for n, (w, a) in result.layer_widths.items()},
               "validation_passes": result.passes, "search": result.search_log, "layers": result.layers,
               "mode_disagreement": result.mode_disagreement}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return [out / n for n in ("config.json", "summary.json", "weights.npz", "model.pt")]
