"""The accuracy-vs-hardware sweep: for each format and width, accuracy, verification and synthesis.

Every point is cached by content (model weights, data, point parameters, tool
and package versions), written as soon as it is computed, so a re-run with one
more width computes only that point and a crash loses nothing done.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import __version__
from ..errors import InputError
from ..files import safe_name, write_json, write_text
from ..progress import Progress

__all__ = ["FIXED_WIDTHS", "POINT_FIELDS", "SCHEMES", "Report", "check_widths", "fingerprint", "has_points", "sweep"]

SCHEMES = ("dfp", "fixed", "minifloat", "pow2", "mx", "fp8")  # what --formats takes

# the widths a format has points at (the others: every width asked): MX elements fp4 (e2m1), fp6 (e2m3),
# fp8 (e4m3); OCP FP8 e4m3fn
FIXED_WIDTHS = {"mx": (4, 6, 8), "fp8": (8,)}

POINT_FIELDS = ("format", "width", "a_bits", "w_bits", "top1", "top1_lo", "top1_hi", "top1_exact", "top1_fp32",
                "overflows", "validation_size", "finetuned", "lanes", "acc_bits", "units", "area_um2",
                "area_um2_per_mac", "energy_pj_per_mac", "energy_nj_per_inference", "energy_pj_per_mac_default",
                "energy_nj_per_inference_default", "activity", "macs_per_inference", "weight_bits", "power_mw_data",
                "power_mw_default", "delay_ns", "fmax_mhz", "cells", "transistors", "logic_depth",
                "ice40_luts", "ice40_fmax_mhz", "ice40_fmax_reg_mhz", "clock_mhz", "clock_met", "verified", "vectors")
# what is kept of one unit's synthesis (``synth_figures``)
UNIT_FIELDS = ("area_um2", "cells", "delay_ns", "fmax_mhz", "power_mw", "energy_pj", "clock_mhz", "transistors",
               "logic_depth", "ice40_luts", "ice40_fmax_mhz", "ice40_fmax_reg_mhz", "module", "lanes",
               "area_um2_per_mac", "energy_pj_per_mac")


def has_points(fmt, widths):
    """Whether ``fmt`` has a point at any of ``widths`` (``FIXED_WIDTHS``)."""
    return fmt not in FIXED_WIDTHS or bool(set(widths) & set(FIXED_WIDTHS[fmt]))


def check_widths(formats, widths):
    """Refuse a format of ``FIXED_WIDTHS`` among ``formats`` when none of its widths is in ``widths``."""
    for fmt in formats:
        if not has_points(fmt, widths):
            raise InputError(f"--formats {fmt} needs a width of {', '.join(map(str, FIXED_WIDTHS[fmt]))} in --widths, "
                             f"not {', '.join(map(str, widths))}")


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


def _weight_bits(layer):
    """Bits that store the layer's weights: one code per weight, plus one 8-bit E8M0 scale per MX block."""
    from ..formats import MXFormat
    from ..nn.exact import fan_in

    fmt, n = layer.formats.weight, layer.inner.weight.numel()
    if not isinstance(fmt, MXFormat):
        return n * fmt.bits
    k = fan_in(layer)  # blocks run along each output's dot product
    return n * fmt.bits + (n // k) * -(-k // fmt.block_size) * 8


def _layer_macs(net, x):
    """Multiply-accumulates of each quantized layer on one input: outputs x fan-in."""
    from ..nn.convert import quant_layers
    from ..nn.exact import fan_in

    macs = {}
    hooks = [layer.register_forward_hook(
        lambda mod, inp, out, n=n: macs.__setitem__(n, out[:1].numel() * fan_in(mod)))
        for n, layer in quant_layers(net).items()]
    with torch.no_grad():
        net(x[:1])
    for h in hooks:
        h.remove()
    return macs


def wilson(k, n, z=1.96):
    """The Wilson score 95% interval ``(lo, hi)`` of a proportion ``k / n`` (it always holds ``k / n``: at
    ``k = n`` the formula's upper end is 1 only up to a rounding error)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


_RANK = {"FAILED": 0, "simulated": 1, "proven": 2}


def _unit(spec, cache, build_dir, verify_vectors, ice40, log):
    """Co-simulation verdict, proof and synthesis figures of one unit, computed once and cached by its spec.

    ``cache`` is ``(folder, key, used)``: the key (tool and package versions, options, the clock asked for) joins
    the spec in the hash; the names of the unit's cache files are appended to ``used``.
    """
    from ..sim.runner import verify
    from ..synth import synth_figures

    cache, base, used = cache
    clock_mhz = base["clock_mhz"]
    key = hashlib.sha256(json.dumps({"spec": spec, **base}, sort_keys=True).encode()).hexdigest()[:16]
    path, netlist = cache / f"unit-{key}.json", f"unit-{key}.v"  # names from the key, never from an entry
    used += [path.name, netlist]
    if path.exists():
        try:
            unit = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(unit, dict) or unit.get("netlist") != netlist or unit.get("spec") != spec:
                raise ValueError("the entry names another unit or netlist")
            if (cache / netlist).is_file():
                return unit
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            log(f"    unit cache entry {path} is corrupt; dropping it and recomputing the unit")
            path.unlink(missing_ok=True)
    build = build_dir / key
    ver = verify(spec, build / "verify", exhaustive=False, random_vectors=verify_vectors)
    fig = synth_figures(spec, build / "synth", ice40=ice40, clock_mhz=clock_mhz)  # power at a clock it meets
    unit = {k: fig.get(k) for k in UNIT_FIELDS}
    unit["clock_asked"] = clock_mhz
    unit.update(spec=spec, vectors=ver["vectors"], verified=_verified(spec, ver, build / "prove", log),
                tools=fig["tools"], netlist=netlist)
    write_text(cache / unit["netlist"], (build / "synth" / "netlist.v").read_text())  # for power on data
    write_json(path, unit, indent=1)
    return unit


def _data_power(net, x, units_of, cache, build_dir, *, float32=False):
    """Each layer's unit power (mW) with the switching activity of that layer's own operands on ``x``
    (``synth.activity``), or None for a layer without a trace (grouped layers). ``float32``: the float
    network's layers on one-lane float32 MACs (operands as float32 bit patterns)."""
    from ..sim.traces import float32_traces, network_traces
    from ..synth import default_liberty
    from ..synth.activity import netlist_ports, port_activity
    from ..synth.sta import power

    stimuli = float32_traces(net, x) if float32 else {t.layer: t.stimulus for t in network_traces(net, x)}
    out = {}
    for name, unit in units_of.items():
        if name not in stimuli:
            out[name] = None
            continue
        netlist = cache / unit["netlist"]
        activity = port_activity(stimuli[name], netlist_ports(netlist.read_text()))
        work = build_dir / "power" / safe_name(name)
        work.mkdir(parents=True, exist_ok=True)
        out[name] = power(netlist, unit["module"], default_liberty(), work, clock_mhz=unit["clock_mhz"],
                          activity=activity)
    return out


def _totals(units_of, macs, weights, power_data=None):
    """Point figures from each layer's unit: sums over distinct units, MAC-weighted energy, weight memory.

    ``power_data`` (mW per layer, the unit's power on that layer's data; None for a layer without a trace) gives
    the energies; without it they rest on the default activity, as ``*_default`` always do. ``activity`` says
    which: ``data``, ``default`` or ``data+default``.
    """
    distinct = {json.dumps(u["spec"], sort_keys=True): u for u in units_of.values()}
    total_macs = sum(macs.values())
    default_pj = sum(macs[n] * u["energy_pj_per_mac"] for n, u in units_of.items())
    measured = {n: p for n, p in (power_data or {}).items() if p is not None}
    activity = "default" if not measured else "data" if len(measured) == len(units_of) else "data+default"
    power_data = {n: measured.get(n, u["power_mw"]) for n, u in units_of.items()}
    energy_pj = sum(macs[n] * power_data[n] * 1e3 / u["clock_mhz"] / u["lanes"] for n, u in units_of.items())
    heaviest = max(macs, key=macs.get)
    area = sum(u["area_um2"] for u in distinct.values())
    slowest = max(distinct.values(), key=lambda u: u["delay_ns"])
    return {"units": len(distinct), "area_um2": area,
            "area_um2_per_mac": area / sum(u["lanes"] for u in distinct.values()),
            "energy_pj_per_mac": energy_pj / total_macs, "energy_nj_per_inference": energy_pj / 1000.0,
            "energy_pj_per_mac_default": default_pj / total_macs,
            "energy_nj_per_inference_default": default_pj / 1000.0, "activity": activity,
            "power_mw_data": measured.get(heaviest),
            "macs_per_inference": total_macs, "weight_bits": weights,
            "delay_ns": slowest["delay_ns"], "fmax_mhz": slowest["fmax_mhz"],
            "cells": sum(u["cells"] for u in distinct.values()),
            "transistors": sum(u["transistors"] for u in distinct.values()),
            "power_mw_default": units_of[heaviest]["power_mw"], "energy_pj": units_of[heaviest]["energy_pj"],
            "logic_depth": max(u["logic_depth"] for u in distinct.values()),
            "ice40_luts": None if any(u.get("ice40_luts") is None for u in distinct.values())
            else sum(u["ice40_luts"] for u in distinct.values()),
            "ice40_fmax_mhz": None if any(u.get("ice40_fmax_mhz") is None for u in distinct.values())
            else min(u["ice40_fmax_mhz"] for u in distinct.values()),
            "ice40_fmax_reg_mhz": None if any(u.get("ice40_fmax_reg_mhz") is None for u in distinct.values())
            else min(u["ice40_fmax_reg_mhz"] for u in distinct.values()),
            "vectors": sum(u["vectors"] for u in distinct.values()),
            "verified": min((u["verified"] for u in distinct.values()), key=_RANK.__getitem__),
            "lanes": slowest["lanes"], "mac_layer": heaviest, "mac_spec": units_of[heaviest]["spec"],
            "unit_of_layer": {n: u["module"] for n, u in units_of.items()},
            "clock_mhz": min(u["clock_mhz"] for u in distinct.values()),
            "clock_met": all(u["clock_mhz"] >= u.get("clock_asked", u["clock_mhz"]) for u in distinct.values()),
            "tools": slowest["tools"]}


def _accuracies(net, data):
    """fp32-mode and exact-mode top-1 (exact: the point's accumulators and lanes) and exact-mode overflows."""
    from ..nn import accuracy, quant_layers, set_mode

    top1_fp32 = accuracy(net, data.x_val, data.y_val)
    for q in quant_layers(net).values():
        q.overflows = 0
    set_mode(net, "exact")
    try:
        top1_exact = accuracy(net, data.x_val, data.y_val)
    finally:
        set_mode(net, "fp32")
    overflows = sum(int(q.overflows) for q in quant_layers(net).values())
    return top1_fp32, top1_exact, overflows


def _point(model, data, stats_net, stats, scheme, width, *, finetune_epochs, build_dir, verify_vectors, ice40, log,
           unit_options, unit_cache):
    from ..nn import Widths, apply_formats, assign_formats, quant_layers
    from ..nn.accumulators import size_accumulators
    from ..nn.convert import wrap_model
    from ..nn.data import calibration_batches
    from ..nn.finetune import finetune

    # power-of-two codes beyond 5 bits (16 exponents) buy no accuracy, only a wider shifter
    w_bits = min(width, 5) if scheme == "pow2" else width
    net = wrap_model(model, fold_bn=unit_options["fold_bn"])
    formats = assign_formats(stats_net, stats, scheme, Widths(w_bits, w_bits, width))
    apply_formats(net, formats)
    if finetune_epochs:
        finetune(net, data.x_train, data.y_train, epochs=finetune_epochs)
    acc_bits = unit_options["acc_bits"]
    layers = quant_layers(net)
    for q in layers.values():  # fp8's NaN code needs float32 adders (resolve_accumulator): auto gives them
        q.accumulator = "auto" if scheme == "fp8" else unit_options["accumulator"]
        q.lanes = unit_options["lanes"]
    sizing = size_accumulators(net, calibration_batches(data.x_train), acc_bits, observe=acc_bits == "observed")
    top1_fp32, top1_exact, overflows = _accuracies(net, data)
    try:
        specs = {n: _unit_spec(q) for n, q in layers.items()}
        if any(s is None for s in specs.values()):
            log(f"    no unit is generated for the formats of {scheme}{width} "
                f"(layers {', '.join(n for n, s in specs.items() if s is None)})")
            return None
        units_of = {n: _unit(s, unit_cache, build_dir, verify_vectors, ice40, log) for n, s in specs.items()}
    except ValueError as err:  # a format combination the MAC generator refuses
        log(f"    no MAC for {scheme}{width}: {err}")
        return None
    weights = sum(_weight_bits(q) for q in layers.values())
    n_val = len(data.x_val)
    top1 = top1_exact if unit_options["mode"] == "exact" else top1_fp32
    lo, hi = wilson(round(top1 * n_val), n_val)  # the interval of the accuracy the table and charts show
    point = {"format": scheme, "width": width, "a_bits": width, "w_bits": w_bits, "top1": top1,
             "top1_exact": top1_exact, "top1_fp32": top1_fp32, "top1_lo": lo, "top1_hi": hi,
             "validation_size": n_val, "overflows": overflows, "finetuned": bool(finetune_epochs),
             "acc_bits": max((s["bits"] for s in sizing.values()), default=None),
             "layers": _layer_sqnr(net, stats, formats)}
    power_data = _data_power(net, data.x_val[:2], units_of, unit_cache[0], build_dir)
    point.update(_totals(units_of, _layer_macs(net, data.x_val), weights, power_data))
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


def _baseline_point(model, data, build_dir, verify_vectors, ice40, unit_cache, log):
    """float32 at the float model's accuracy: one-lane float32 MACs (the paper's baseline; a 4-lane float32 unit
    is no cheaper per MAC: 425 pJ against 327 at the default activity) computing every layer, powered on each
    layer's float32 operands."""
    from ..nn import accuracy, quant_layers
    from ..nn.convert import wrap_model

    top1 = accuracy(model, data.x_val, data.y_val, finite=True)
    net = wrap_model(model)
    unit = _unit({"family": "float32", "lanes": 1, "stages": 0}, unit_cache, build_dir, verify_vectors, ice40, log)
    layers = quant_layers(net)
    n_val = len(data.x_val)
    lo, hi = wilson(round(top1 * n_val), n_val)
    point = {"format": "float32", "width": 32, "a_bits": 32, "w_bits": 32, "top1": top1, "top1_exact": top1,
             "top1_fp32": top1, "top1_lo": lo, "top1_hi": hi, "validation_size": n_val, "overflows": 0,
             "finetuned": False, "acc_bits": None, "layers": {}}
    weights = sum(q.inner.weight.numel() * 32 for q in layers.values())
    units_of = dict.fromkeys(layers, unit)
    power_data = _data_power(net, data.x_val[:2], units_of, unit_cache[0], build_dir, float32=True)
    point.update(_totals(units_of, _layer_macs(net, data.x_val), weights, power_data))
    return point


def sweep(model, data, *, formats=("dfp", "minifloat", "pow2", "mx", "fp8"), widths=(4, 6, 8, 10, 12, 16),
          out_dir="report", finetune_epochs=0, verify_vectors=2000, ice40=True, acc_bits="bound", accumulator="auto",
          lanes=1, fold_bn=False, mode="exact", clock_mhz=100.0, workers=1, ray_address=None, model_name="model",
          log=print):
    """All points of the report and its metadata; each point is computed once and cached under ``out_dir/cache``.

    Each point's hardware is every unit the network needs, one per distinct
    configuration (each layer's ``ristretto.datapath.layer_unit``, as exact mode
    computes): accumulators sized by ``acc_bits`` (``bound``, ``observed`` or a
    width), minifloats summed by ``accumulator`` (``auto``: exact fixed point for
    operands of at most 8 bits), ``lanes`` lanes (the float32 baseline stays one
    MAC, the paper's baseline: ``_baseline_point``).
    ``fp8`` is one point at width 8: OCP FP8 E4M3 (float8_e4m3fn) scaled by a
    power of two per group, on minifloat units with float32 adders (its NaN code
    rules out the exact accumulator). ``mx`` points are OCP MX with the element
    of each width in ``FIXED_WIDTHS["mx"]`` (4: fp4 e2m1, 6: fp6 e2m3, 8: fp8 e4m3;
    other widths are skipped), blocks of 32 and one 32-lane MX unit per layer
    (``ristretto.datapath.mx``; ``lanes``, ``acc_bits`` and ``accumulator`` do not
    apply); their weight bits include the 8-bit scale of every block. A format
    of ``FIXED_WIDTHS`` without any of its widths in ``widths`` is refused. Each
    unit is co-simulated, proven where it has a naive reference, and synthesized
    once (cached by its spec). Accuracy is measured in both modes; ``top1`` is
    that of ``mode`` (``exact``: as the hardware computes).

    Points run in this process (``workers=1``) or as Ray tasks (``workers`` local
    worker processes, or the cluster at ``ray_address``): ``report.execute``.

    Returns
    -------
    Report
        ``points`` (the float32 baseline first, then formats x widths in order)
        and ``meta`` (model, data, library, clock, tools, the formulas used).
    """
    import shutil
    import tempfile

    from ..nn.convert import wrap_model
    from ..nn.data import calibration_batches
    from ..nn.ranges import calibrate
    from ..synth import default_liberty, tool_versions
    from ..synth.yosys import FLOW
    from .execute import run_jobs

    check_widths(formats, widths)
    out_dir = Path(out_dir)
    cache = out_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (out_dir / "build").mkdir(exist_ok=True)
    # a build folder of this run's own: two runs on one --out never share tool work files
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=out_dir / "build")).resolve()
    base_key = {"model": fingerprint(model, data), "tools": tool_versions(), "flow": FLOW, "version": __version__,
                "finetune_epochs": finetune_epochs, "verify_vectors": verify_vectors, "ice40": ice40,
                "acc_bits": acc_bits, "accumulator": accumulator, "lanes": lanes,
                "proof": PROOF_TIMEOUT, "fold_bn": fold_bn, "mode": mode, "fields": POINT_FIELDS,
                "clock_mhz": clock_mhz}
    unit_key = {k: base_key[k] for k in ("tools", "flow", "version", "verify_vectors", "ice40", "proof", "clock_mhz")}
    stats_net = wrap_model(model, fold_bn=fold_bn)
    stats = calibrate(stats_net, calibration_batches(data.x_train))
    jobs = [("float32", 32)] + [(f, w) for f in formats for w in widths if w in FIXED_WIDTHS.get(f, (w,))]
    paths, points, todo = {}, {}, []
    for i, (scheme, width) in enumerate(jobs, 1):
        key = hashlib.sha256(json.dumps({**base_key, "format": scheme, "width": width}, sort_keys=True).encode())
        paths[scheme, width] = cache / f"{scheme}{width}-{key.hexdigest()[:16]}.json"
        point = _cached(paths[scheme, width], log)
        if point is not None:
            log(f"[{i}/{len(jobs)}] {scheme} {width} bits: cached")
            points[scheme, width] = point
        else:
            todo.append((scheme, width, i, len(jobs)))
    context = {"model": model, "data": data, "stats_net": stats_net, "stats": stats, "cache": cache.resolve(),
               "unit_key": unit_key, "run_dir": run_dir, "finetune_epochs": finetune_epochs,
               "verify_vectors": verify_vectors, "ice40": ice40,
               "unit_options": {"acc_bits": acc_bits, "accumulator": accumulator, "lanes": lanes,
                                "fold_bn": fold_bn, "mode": mode}}
    with Progress(len(jobs), "report") as bar:
        for scheme, width in points:  # served from the cache
            bar.step(f"{scheme} {width}")

        def done(i, result):  # in the order the points finish: cache first, so a crash loses nothing done
            scheme, width = todo[i][:2]
            for name, text in result["units"].items():
                if not (cache / name).exists():  # a worker without this file system computed it
                    write_text(cache / name, text)
            point = result["point"]
            if point is not None:
                write_json(paths[scheme, width], point, indent=1)
                log(f"    {scheme} {width}: top-1 {point['top1']:.4f} ({mode} mode), {point['units']} unit(s) "
                    f"{point['area_um2']:.0f} um^2, {point['energy_pj_per_mac']:.1f} pJ/MAC, "
                    f"{point['energy_nj_per_inference']:.1f} nJ/inference, {point['verified']}")
                points[scheme, width] = point
            bar.step(f"{scheme} {width}")

        run_jobs(_job, context, todo, workers=workers, ray_address=ray_address, done=done, log=log)
    shutil.rmtree(run_dir, ignore_errors=True)  # kept on failure, with the tools' logs
    ordered = [points[j] for j in jobs if j in points]
    return Report(ordered, _meta(ordered, model_name, data, default_liberty().name, clock_mhz, mode, lanes,
                                 acc_bits, accumulator, finetune_epochs, fold_bn, workers, ray_address))


@dataclass(frozen=True)
class Report:
    """What ``sweep`` returns: the points (dicts of ``POINT_FIELDS`` and more) and the report's metadata."""

    points: list
    meta: dict


def _job(context, scheme, width, i, n, *, log):
    """The ``i``-th of ``n`` points (None when no unit exists for its formats) and the unit cache files it used."""
    c = context
    log(f"[{i}/{n}] {scheme} {width} bits: accuracy, co-simulation, synthesis ...")
    unit_cache = (c["cache"], c["unit_key"], [])
    build = c["run_dir"] / f"{scheme}{width}"
    if scheme == "float32":
        point = _baseline_point(c["model"], c["data"], build, c["verify_vectors"], c["ice40"], unit_cache, log)
    else:
        point = _point(c["model"], c["data"], c["stats_net"], c["stats"], scheme, width,
                       finetune_epochs=c["finetune_epochs"], build_dir=build, verify_vectors=c["verify_vectors"],
                       ice40=c["ice40"], log=log, unit_options=c["unit_options"], unit_cache=unit_cache)
    files = {name: (c["cache"] / name).read_text(encoding="utf-8") for name in unit_cache[2]}
    return {"point": point, "units": files}


def _meta(points, model_name, data, liberty, clock_mhz, mode, lanes, acc_bits, accumulator, finetune_epochs,
          fold_bn, workers, ray_address):
    base = points[0]
    return {"model": model_name, "data": data.name, "liberty": liberty, "clock_mhz": clock_mhz,
            "baseline_top1": base["top1"], "validation_size": len(data.x_val), "tools": base.get("tools", {}),
            "mode": mode, "lanes": lanes, "workers": workers, "ray_address": ray_address,
            "note": f"Accuracy: top-1 in {mode} mode on {len(data.x_val)} validation images (95% Wilson "
                    "intervals; exact mode computes as the units do, with their accumulators and lanes), weights and "
                    "activations at the given width (power-of-two weights: at most 5-bit codes), range rule mse"
                    + (f", fine-tuned {finetune_epochs} epochs" if finetune_epochs else "")
                    + (", BatchNorm folded" if fold_bn else "") +
                    f". Hardware: one unit per distinct layer configuration ({lanes} lane(s); accumulators "
                    f"sized '{acc_bits}'; minifloat accumulator '{accumulator}'), co-simulated in Icarus, "
                    "proven against its naive reference where one exists, synthesized. Area: the sum of the distinct "
                    "units. Energy per inference = sum over layers of (MACs of the layer on one input) x (energy per "
                    "MAC of its unit: power on that layer's data x clock period / lanes). Weight memory = sum "
                    "of weight codes x their width (MX: plus an 8-bit scale per block)."
                    + (" MX points (width = element width: 4 fp4 e2m1, 6 fp6 e2m3, 8 fp8 e4m3): blocks of 32 along "
                       "each dot product with E8M0 scales, bias and output float32; one 32-lane MX unit per layer "
                       "(a block per cycle, exact block sum, float32 accumulation); lanes and accumulator options do "
                       f"not apply, so their per-MAC figures share one float32 adder among 32 lanes where the other "
                       f"points' units have {lanes} lane(s): compare at equal lanes with --lanes 32; co-simulated (no "
                       "naive reference to prove against)."
                       if any(p["format"] == "mx" for p in points) else "")
                    + (" fp8: OCP FP8 E4M3 (float8_e4m3fn: a NaN code, saturating) scaled by a power of two per "
                       "group for inputs, weights, bias and outputs; its units sum in float32 adders (an exact "
                       "fixed-point sum has no NaN), whatever --accumulator says."
                       if any(p["format"] == "fp8" for p in points) else "")}


_REQUIRED = ("format", "width", "top1", "top1_exact", "area_um2", "energy_pj_per_mac", "energy_nj_per_inference",
             "verified")


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
