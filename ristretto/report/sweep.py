"""The accuracy-vs-hardware sweep: for each format and width, accuracy, verification and synthesis.

Every point is cached by content (model weights, data, point parameters, tool
and package versions), written as soon as it is computed, so a re-run with one
more width computes only that point and a crash loses nothing done.
"""

import hashlib
import json
from pathlib import Path

import torch

from .. import __version__
from ..files import write_json
from ..progress import Progress

__all__ = ["POINT_FIELDS", "fingerprint", "sweep"]

POINT_FIELDS = ("format", "width", "a_bits", "w_bits", "top1", "finetuned", "area_um2", "cells", "delay_ns",
                "fmax_mhz", "power_mw", "energy_pj", "transistors", "logic_depth", "ice40_luts", "ice40_fmax_mhz",
                "verified", "vectors", "module", "lanes", "area_um2_per_mac", "energy_pj_per_mac")


def fingerprint(model, data):
    """A hash of the model's weights and the data."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    for t in (data.x_train, data.y_train, data.x_val, data.y_val):
        h.update(str(tuple(t.shape)).encode())
        h.update(t[:: max(1, len(t) // 256)].contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _unit_spec(layer):
    """The spec of the unit computing ``layer`` (``ristretto.datapath.layer_unit`` via its options), or None."""
    from ..nn.exact import unit_of

    cfg = unit_of(layer)
    return None if cfg is None else {"family": cfg.family, **cfg.to_dict(), "stages": 0}


def _heaviest_layer(net, x):
    """Name of the layer doing the most multiply-accumulates on one input."""
    from ..nn.convert import quant_layers

    macs = {}
    hooks = [layer.register_forward_hook(
        lambda mod, inp, out, n=n: macs.__setitem__(n, out.numel() * mod.inner.weight[0].numel()))
        for n, layer in quant_layers(net).items()]
    with torch.no_grad():
        net(x[:1])
    for h in hooks:
        h.remove()
    return max(macs, key=macs.get)


def _point(model, data, stats_net, stats, scheme, width, *, finetune_epochs, build_dir, verify_vectors, ice40, log,
           unit_options):
    from ..nn import Widths, accuracy, apply_formats, assign_formats, quant_layers
    from ..nn.accumulators import size_accumulators
    from ..nn.convert import wrap_model
    from ..nn.data import calibration_batches
    from ..nn.finetune import finetune
    from ..sim.runner import verify
    from ..synth import synth_figures

    # power-of-two codes beyond 5 bits (16 exponents) buy no accuracy, only a wider shifter
    w_bits = min(width, 5) if scheme == "pow2" else width
    net = wrap_model(model)
    formats = assign_formats(stats_net, stats, scheme, Widths(w_bits, w_bits, width))
    apply_formats(net, formats)
    top1 = accuracy(net, data.x_val, data.y_val)
    if finetune_epochs:
        finetune(net, data.x_train, data.y_train, epochs=finetune_epochs)
        top1 = accuracy(net, data.x_val, data.y_val)
    layer = _heaviest_layer(net, data.x_val)
    acc_bits = unit_options["acc_bits"]
    for q in quant_layers(net).values():
        q.accumulator, q.lanes = unit_options["accumulator"], unit_options["lanes"]
    size_accumulators(net, calibration_batches(data.x_train), acc_bits, observe=acc_bits == "observed")
    spec = _unit_spec(quant_layers(net)[layer])
    if spec is None:
        log(f"    no unit is generated for the formats of {scheme}{width}")
        return None
    try:
        ver = verify(spec, build_dir / "verify", exhaustive=False, random_vectors=verify_vectors)
    except ValueError as err:  # a format combination the MAC generator refuses
        log(f"    no MAC for {scheme}{width}: {err}")
        return None
    fig = synth_figures(spec, build_dir / "synth", ice40=ice40)
    point = {"format": scheme, "width": width, "a_bits": width, "w_bits": w_bits, "top1": top1,
             "finetuned": bool(finetune_epochs), "verified": _verified(spec, ver, build_dir / "prove", log),
             "vectors": ver["vectors"],
             "mac_layer": layer, "mac_spec": spec, "layers": _layer_sqnr(net, stats, formats)}
    point.update({k: fig[k] for k in POINT_FIELDS if k in fig})
    point["tools"] = fig["tools"]
    return point


PROOF_TIMEOUT = 300  # seconds; an undecided proof leaves the unit "simulated"


def _verified(spec, ver, build_dir, log):
    """``proven`` (equal to its naive reference for every input, ``hw prove``), ``simulated`` (co-simulation
    passed; no reference for float32 adders, or the proof was undecided) or ``FAILED``."""
    from ..synth.prove import prove

    if not ver["passed"]:
        return "FAILED"
    try:
        result = prove(spec, build_dir, timeout=PROOF_TIMEOUT)
    except ValueError:  # float32 adders: no naive reference
        return "simulated"
    if result["proven"] is False:
        log(f"    the unit differs from its naive reference:\n{result['counterexample']}")
        return "FAILED"
    return "proven" if result["proven"] else "simulated"


def _layer_sqnr(net, stats, formats):
    from ..nn.ranges import group_report

    return {name: group_report(stats[name]["weight"], f.weight)["sqnr_db"] for name, f in formats.items()
            if f.weight is not None}


def _baseline_point(model, data, build_dir, verify_vectors, ice40):
    """float32 at the float model's accuracy: one MAC (Yosys runs out of memory on multi-lane float32 units)."""
    from ..nn import accuracy
    from ..sim.runner import verify
    from ..synth import synth_figures

    top1 = accuracy(model, data.x_val, data.y_val)
    spec = {"family": "float32", "lanes": 1, "stages": 0}
    ver = verify(spec, build_dir / "verify", exhaustive=False, random_vectors=verify_vectors)
    fig = synth_figures(spec, build_dir / "synth", ice40=ice40)
    point = {"format": "float32", "width": 32, "a_bits": 32, "w_bits": 32, "top1": top1, "finetuned": False,
             "verified": "simulated" if ver["passed"] else "FAILED", "vectors": ver["vectors"], "mac_layer": None,
             "mac_spec": spec, "layers": {}}
    point.update({k: fig[k] for k in POINT_FIELDS if k in fig})
    point["tools"] = fig["tools"]
    return point


def sweep(model, data, *, formats=("dfp", "minifloat", "pow2"), widths=(4, 6, 8, 10, 12, 16), out_dir="report",
          finetune_epochs=0, verify_vectors=2000, ice40=True, acc_bits="bound", accumulator="auto", lanes=1, log=print):
    """All points of the report; each is computed once and cached under ``out_dir/cache``.

    Each point's hardware is the unit computing the layer doing the most MACs, as
    exact mode would (``ristretto.datapath.layer_unit``): its accumulator sized by
    ``acc_bits`` (``bound``, ``observed`` or a width), minifloats summed by
    ``accumulator`` (``auto``: exact fixed point for operands of at most 8 bits),
    ``lanes`` lanes (the float32 baseline stays one MAC: Yosys runs out of memory
    on multi-lane float32 units on this machine).
    """
    import shutil
    import tempfile

    from ..nn.convert import wrap_model
    from ..nn.data import calibration_batches
    from ..nn.ranges import calibrate
    from ..synth import tool_versions

    out_dir = Path(out_dir)
    cache = out_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (out_dir / "build").mkdir(exist_ok=True)
    # a build folder of this run's own: two runs on one --out never share tool work files
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=out_dir / "build"))
    base_key = {"model": fingerprint(model, data), "tools": tool_versions(), "version": __version__,
                "finetune_epochs": finetune_epochs, "verify_vectors": verify_vectors, "ice40": ice40,
                "acc_bits": acc_bits, "accumulator": accumulator, "lanes": lanes,
                "proof": PROOF_TIMEOUT}
    stats_net = wrap_model(model)
    stats = calibrate(stats_net, calibration_batches(data.x_train))
    jobs = [("float32", 32)] + [(f, w) for f in formats for w in widths]
    points = []
    with Progress(len(jobs), "report") as bar:
        for i, (scheme, width) in enumerate(jobs, 1):
            key = hashlib.sha256(json.dumps({**base_key, "format": scheme, "width": width}, sort_keys=True).encode())
            path = cache / f"{scheme}{width}-{key.hexdigest()[:16]}.json"
            point = _cached(path, log)
            if point is not None:
                log(f"[{i}/{len(jobs)}] {scheme} {width} bits: cached")
            else:
                log(f"[{i}/{len(jobs)}] {scheme} {width} bits: accuracy, co-simulation, synthesis ...")
                build = run_dir / f"{scheme}{width}"
                if scheme == "float32":
                    point = _baseline_point(model, data, build, verify_vectors, ice40)
                else:
                    point = _point(model, data, stats_net, stats, scheme, width, finetune_epochs=finetune_epochs,
                                   build_dir=build, verify_vectors=verify_vectors, ice40=ice40, log=log,
                                   unit_options={"acc_bits": acc_bits, "accumulator": accumulator, "lanes": lanes,
                "proof": PROOF_TIMEOUT})
                if point is None:
                    continue
                write_json(path, point, indent=1)
            if point is not None:
                points.append(point)
                log(f"    top-1 {point['top1']:.4f}, {point['area_um2']:.0f} um^2, "
                    f"{point['energy_pj_per_mac']:.1f} pJ/MAC, {point['verified']}")
            bar.step(f"{scheme} {width}")
    shutil.rmtree(run_dir, ignore_errors=True)  # kept on failure, with the tools' logs
    return points


_REQUIRED = ("format", "width", "top1", "area_um2", "energy_pj", "energy_pj_per_mac", "verified")


def _cached(path, log):
    """The cached point at ``path``, or None when absent; a corrupt entry is named, removed and recomputed."""
    if not path.exists():
        return None
    try:
        point = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(point, dict) or any(k not in point for k in _REQUIRED):
            raise ValueError("fields missing")
        return point
    except (OSError, UnicodeDecodeError, ValueError) as err:
        log(f"    cache entry {path} is corrupt ({err}); recomputing it")
        path.unlink(missing_ok=True)
        return None
