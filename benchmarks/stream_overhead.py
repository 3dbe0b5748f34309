"""Area and fmax of the stream interface over the bare unit (Yosys + OpenSTA on OSU 0.18 um, nextpnr iCE40).

    .venv/bin/python benchmarks/stream_overhead.py [--out build/stream_overhead] [--no-ice40]

Each unit is synthesized twice in one run, bare and wrapped, with the same flow
(``ristretto.synth.flow.synth_figures``); the table prints both and the ratio.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from ristretto.hw.generate import generate, load_spec
from ristretto.synth.flow import synth_figures
from ristretto.synth.tools import default_liberty
from ristretto.synth.yosys import synthesize

UNITS = [("fixed8", {}), ("shift8w4", {}), ("minifloat8", {}), ("float32", {}), ("fixed8", {"lanes": 16}),
         ("minifloat8", {"lanes": 4, "accumulator": "exact", "acc_bits": 40}), ("mxfp4", {"lanes": 8})]


def _label(preset, extra):
    return preset + "".join(f" {k}={v}" for k, v in extra.items())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build/stream_overhead")
    ap.add_argument("--no-ice40", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    for preset, extra in UNITS:
        figs = {}
        for interface in ("bare", "stream"):
            spec = {**load_spec(preset), **extra, "interface": interface}
            t0 = time.perf_counter()
            figs[interface] = synth_figures(spec, Path(args.out) / f"{_label(preset, extra)}-{interface}".replace(
                " ", "_").replace("=", ""), ice40=not args.no_ice40)
            print(f"{_label(preset, extra)} {interface}: {figs[interface]['area_um2']:,.0f} um2, "
                  f"{figs[interface]['fmax_mhz']:.1f} MHz ({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
                  flush=True)
        # the wrapper's own logic: the same stream Verilog with the unit inside kept as an empty box
        work = Path(args.out) / f"{_label(preset, extra)}-control".replace(" ", "_").replace("=", "")
        v, j = generate({**load_spec(preset), **extra, "interface": "stream"}, work)
        top = json.loads(j.read_text())["module"]
        control = synthesize(v, top, default_liberty(), work, blackbox=[f"{top}.unit"])
        rows.append((_label(preset, extra), figs["bare"], figs["stream"], control))
    print("| unit | bare µm² | wrapper's own logic µm² (cells) | wrapper / bare | flat stream µm² | bare fmax MHz "
          "| flat stream fmax MHz | iCE40 LUT4 bare / stream |")
    print("|---|---|---|---|---|---|---|---|")
    for label, b, s, c in rows:
        luts = f"{b['ice40_luts']:,} / {s['ice40_luts']:,}" if b["ice40_luts"] and s["ice40_luts"] else "n/a (pins)"
        print(f"| {label} | {b['area_um2']:,.0f} | {c['area_um2']:,.0f} ({c['cells']}) | "
              f"{c['area_um2'] / b['area_um2']:.1%} | {s['area_um2']:,.0f} | {b['fmax_mhz']:.1f} | "
              f"{s['fmax_mhz']:.1f} | {luts} |")


if __name__ == "__main__":
    main()
