"""Per-MAC area and energy of the units that compute the built-in LeNet's heaviest layer (conv2).

For DFP and minifloat at 4, 6 and 8 bits (the formats ``quantize --widths W,W,W``
chooses), the unit of ``conv2`` (fan-in 500) with its accumulator sized to the
layer (``bound``: never overflows; minifloat: the exact fixed-point accumulator)
at 1, 16 and 32 lanes, against the wave-1 unit: one MAC with a 32-bit accumulator
(DFP) or a float32 adder (minifloat); and the OCP MX units of the same element
widths (``--format mx --mx-element E``: one block of 32 per cycle, exact block
sum, float32 accumulation; ``ristretto.datapath.mx``). Synthesized with Yosys + ABC on OSU 0.18 um,
power from OpenSTA at its default switching activity, energy per MAC at the clock
given (default 100 MHz) = power x period / lanes.
Run: ``python benchmarks/lenet_units.py [--clock-mhz 100] [--out build/lenet-units]``
"""

import argparse
import json
from pathlib import Path

from ristretto.synth import synth_figures

from ristretto.nn import Widths, apply_formats, assign_formats, builtin_lenet, quant_layers, wrap_model
from ristretto.nn.data import builtin_mnist, calibration_batches
from ristretto.nn.exact import unit_of
from ristretto.nn.ranges import calibrate


def units(width):
    data = builtin_mnist()
    rows = []
    for scheme in ("dfp", "minifloat"):
        net = wrap_model(builtin_lenet(data))
        stats = calibrate(net, calibration_batches(data.x_train, batches=2))
        apply_formats(net, assign_formats(net, stats, scheme, Widths(width, width, width)))
        layer = quant_layers(net)["conv2"]
        wave1 = unit_of(layer, acc_bits=32, accumulator="fp32", lanes=1)
        rows.append((scheme, "wave 1: 32-bit acc" if scheme == "dfp" else "wave 1: float32 adder", wave1))
        for lanes in (1, 16, 32):
            rows.append((scheme, f"sized, {lanes} lane(s)", unit_of(layer, acc_bits="bound", lanes=lanes)))
    for element in MX_BY_WIDTH.get(width, ()):
        net = wrap_model(builtin_lenet(data))
        no_stats = {n: {} for n in quant_layers(net)}  # MX scales follow the data: nothing to calibrate
        apply_formats(net, assign_formats(net, no_stats, "mx", Widths(width, width, width), mx_element=element))
        rows.append(("mx", f"MX {element}", unit_of(quant_layers(net)["conv2"])))
    return rows


MX_BY_WIDTH = {4: ("fp4",), 6: ("fp6e2m3", "fp6e3m2"), 8: ("fp8e4m3", "int8")}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clock-mhz", type=float, default=100.0)
    ap.add_argument("--widths", default="4,6,8")
    ap.add_argument("--out", default="build/lenet-units")
    args = ap.parse_args()
    results = []
    print("| scheme | width | unit | formats a x w | accumulator | lanes | area um2 | um2/MAC | pJ/MAC | fmax MHz |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for width in (int(w) for w in args.widths.split(",")):
        for scheme, label, cfg in units(width):
            spec = {"family": cfg.family, **cfg.to_dict(), "stages": 0, "bias": True}
            work = Path(args.out) / f"{scheme}{width}-{label.replace(' ', '_').replace(',', '').replace(':', '')}"
            fig = synth_figures(spec, work, clock_mhz=args.clock_mhz, ice40=False)
            acc = ("exact block sum + float32 adder" if cfg.family == "mx" else "float32 adder"
                   if getattr(cfg, "accumulator", None) == "fp32" else f"{cfg.acc_bits}-bit fixed")
            row = {"scheme": scheme, "width": width, "unit": label, "a": cfg.a.slug, "w": cfg.w.slug,
                   "accumulator": acc, "lanes": cfg.lanes, **{k: fig[k] for k in (
                       "area_um2", "area_um2_per_mac", "energy_pj_per_mac", "fmax_mhz", "module")}}
            results.append(row)
            print(f"| {scheme} | {width} | {label} | {cfg.a.slug} x {cfg.w.slug} | {acc} | {cfg.lanes} | "
                  f"{fig['area_um2']:,.0f} | {fig['area_um2_per_mac']:,.0f} | {fig['energy_pj_per_mac']:.2f} | "
                  f"{fig['fmax_mhz']:.0f} |", flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "lenet_units.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
