"""Command line: parse, call the library, print."""

import argparse
import json
import sys

import torch

from . import __version__
from .analysis import table_v
from .formats import Minifloat, from_dict

__all__ = ["main"]


def _describe(args):
    try:
        fmt = from_dict(json.loads(args.spec))
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        sys.exit(f"ristretto formats: {err}")
    print(f"{fmt!r}\n  slug {fmt.slug}, {fmt.bits} bits, range [{fmt.min_value:g}, {fmt.max_value:g}], "
          f"smallest positive {fmt.min_positive:g}, {len(fmt.codes())} canonical codes")


def _demo(args):
    print(f"Paper Table V: max quantization error over [-x, x], x = 2**{args.k}, {args.bits}-bit formats")
    print(f"{'format':<22}{'ours':<22}{'predicted':>12}{'measured':>12}  ok")
    ok = True
    for name, fmt, pred, meas in table_v(args.bits, args.exp_bits, args.k):
        ok &= pred == meas
        print(f"{name:<22}{fmt.slug:<22}{pred:>12.6g}{meas:>12.6g}  {'yes' if pred == meas else 'NO'}")
    print("\nIEEE cross-check on 1M random float32 values spanning 2**-150 .. 2**127:")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1 << 20, generator=g) * torch.exp2(torch.randint(-150, 128, (1 << 20,), generator=g).float())
    for fmt, dtype in ((Minifloat(5, 10, subnormals=True, inf_nan=True), torch.float16),
                       (Minifloat(8, 7, subnormals=True, inf_nan=True), torch.bfloat16)):
        same = torch.equal(fmt.quantize(x).view(torch.int32), x.to(dtype).float().view(torch.int32))
        ok &= same
        print(f"  {fmt.slug:<14} == torch {str(dtype):<15} bit for bit: {'yes' if same else 'NO'}")
    return 0 if ok else 1


def _hw_generate(args):
    from .hw import generate

    try:
        v_path, j_path = generate(args.spec, args.out)
    except (TypeError, ValueError) as err:
        sys.exit(f"ristretto hw generate: {err}")
    print(f"wrote {v_path}\nwrote {j_path}")


def _hw_verify(args):
    from .hw import build, parse_spec
    from .sim.amaranth_sim import simulate
    from .sim.runner import SimulatorMissing, verify
    from .sim.stimulus import mac_stimulus

    try:
        if args.fast:
            config, options = parse_spec(args.spec)
            stim = mac_stimulus(config, exhaustive=False, random_vectors=args.random, seed=args.seed,
                                bias=options["bias"])
            result, tier = simulate(build(args.spec), stim), "Amaranth simulator"
        else:
            result = verify(args.spec, args.build_dir, exhaustive=not args.no_exhaustive,
                            random_vectors=args.random, seed=args.seed)
            tier = "cocotb + Icarus Verilog"
    except (TypeError, ValueError, SimulatorMissing) as err:
        sys.exit(f"ristretto hw verify: {err}")
    rate = result["vectors_per_s"]
    print(f"{tier}: {result['vectors']} vectors checked in {result['seconds']:.1f} s "
          f"({rate:,.0f} vectors/s)")
    if result["passed"]:
        print("PASS: RTL equals the reference datapath bit for bit")
        return 0
    mm = result["first_mismatch"]
    print(f"FAIL: {result['mismatches']} vectors differ; first at vector {mm['index']}: "
          f"a={mm['a']} w={mm['w']} valid={mm['valid']} clear={mm['clear']}: "
          f"acc expected {mm['acc_expected']} got {mm['acc_got']}, "
          f"out expected {mm['out_expected']} got {mm['out_got']}")
    return 1


def _quantize(args):
    from .nn.data import DataError, load_data
    from .nn.flow import quantize_network, write_outputs
    from .nn.models import ModelError, builtin_lenet, load_model

    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    try:
        data = load_data(args.data)
        if args.model:
            model = load_model(args.model, args.weights)
        else:
            model = builtin_lenet(data if args.data is None else None)
        if args.device != "cpu" and not torch.cuda.is_available():
            raise ValueError(f"--device {args.device} asked for, but torch sees no GPU; use --device cpu")
        result = quantize_network(
            model, data, scheme=args.format, margin=args.error_margin, rule=args.rule,
            finetune_epochs=args.finetune_epochs, finetune_activations=args.finetune_activations, mode=args.mode,
            device=args.device, fold_bn=args.fold_bn, topk=args.topk, output_index=args.output, seed=args.seed,
            config=args.config, refine=args.refine_layers, log=log)
        files = write_outputs(result, args.out)
    except (DataError, ModelError, ValueError, TypeError, NotImplementedError, FileNotFoundError) as err:
        sys.exit(f"ristretto quantize: {err}")
    print(f"\n{'layer':<10}{'input':<16}{'weight':<18}{'bias':<16}{'output':<16}{'w SQNR dB':>10}")
    for name, groups in result.layers.items():
        slugs = [groups[g]["slug"] if g in groups else "float" for g in ("input", "weight", "bias", "output")]
        sq = groups.get("weight", {}).get("sqnr_db", float("nan"))
        print(f"{name:<10}{slugs[0]:<16}{slugs[1]:<18}{slugs[2]:<16}{slugs[3]:<16}{sq:>10.1f}")
    print(f"\n{args.format} widths {result.widths.to_dict()}, {result.passes} validation passes")
    print(f"top-{args.topk}: float32 {result.baseline_top1:.4f}, quantized {result.quantized_top1:.4f} "
          f"(drop {100 * (result.baseline_top1 - result.quantized_top1):.2f} points, {args.mode} mode)")
    for f in files:
        print(f"wrote {f}")
    return 0


def _paper(args):
    from .nn.experiments import paper_table, width_sweep
    from .nn.models import builtin_lenet

    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    model = builtin_lenet()
    from .nn.data import builtin_mnist

    data = builtin_mnist()
    log("paper Table I on the built-in LeNet (8-bit formats, 4-bit power-of-two weights)")
    rows = paper_table(model, data, finetune_epochs=args.finetune_epochs, mode=args.mode, log=log)
    base = rows[0]["top1"]
    print(f"Table I, LeNet on MNIST ({len(data.x_val)} validation digits), top-1 %, {args.mode} mode")
    print(f"{'':<22}{'before FT':>10}{'after FT':>10}{'drop':>8}")
    print(f"{'float32':<22}{100 * base:>10.2f}{'':>10}{'':>8}")
    for r in rows[1:]:
        final = r["finetuned_top1"] if r["finetuned_top1"] is not None else r["top1"]
        after = f"{100 * r['finetuned_top1']:.2f}" if r["finetuned_top1"] is not None else "-"
        print(f"{r['name']:<22}{100 * r['top1']:>10.2f}{after:>10}{100 * (base - final):>8.2f}")
    widths = range(args.min_width, args.max_width + 1)
    sweep = width_sweep(model, data, widths=widths)
    print("\nFig. 3: top-1 % vs word width (weights and activations), no fine-tuning")
    print(f"{'width':<8}" + "".join(f"{s:>12}" for s in sweep))
    for b in widths:
        print(f"{b:<8}" + "".join(f"{100 * sweep[s][b]:>12.2f}" for s in sweep))
    return 0


def _hw_verify_lenet(args):
    from .sim.runner import SimulatorMissing
    from .sim.traces import verify_lenet

    def log(layer, r):
        net = "yes" if r.get("network_match") else "NO"
        print(f"{layer:<8}{r['vectors']:>8} vectors  RTL == reference: {'yes' if r['mismatches'] == 0 else 'NO'}  "
              f"RTL out == network exact mode at {args.neurons} neurons: {net}")

    print(f"LeNet real traces, {args.format}, cocotb + Icarus Verilog")
    try:
        results = verify_lenet(args.format, args.build_dir, neurons=args.neurons, seed=args.seed, log=log)
    except SimulatorMissing as err:
        sys.exit(f"ristretto hw verify-lenet: {err}")
    ok = all(r["passed"] for r in results.values())
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def _hw_synth(args):
    from .synth import ToolFailed, ToolMissing, synth_figures

    try:
        fig = synth_figures(args.spec, args.build_dir, liberty=args.liberty, clock_mhz=args.clock_mhz,
                            ice40=not args.no_ice40)
    except (ToolMissing, ToolFailed, ValueError, TypeError) as err:
        sys.exit(f"ristretto hw synth: {err}")
    if args.json:
        print(json.dumps({k: v for k, v in fig.items()}, indent=2, default=str))
        return 0
    rows = [("module", fig["module"]), ("library", fig["liberty"]),
            ("area", f"{fig['area_um2']:.0f} um^2 ({fig['cells']} cells)"),
            ("critical path", f"{fig['delay_ns']:.2f} ns (fmax {fig['fmax_mhz']:.1f} MHz)"),
            ("power", f"{fig['power_mw']:.3f} mW at {fig['clock_mhz']:g} MHz, default activity"),
            ("energy per MAC", f"{fig['energy_pj']:.2f} pJ"),
            ("transistors (estimate)", f"{fig['transistors']}"), ("logic depth", f"{fig['logic_depth']} gates")]
    if fig["ice40_luts"] is not None:
        rows.append(("iCE40 HX8K", f"{fig['ice40_luts']} LUT4, {fig['ice40_carries']} carries, "
                                   f"fmax {fig['ice40_fmax_mhz']} MHz"))
    for k, v in rows:
        print(f"{k:<24}{v}")
    print("tools: " + "; ".join(fig["tools"].values()))
    return 0


def _report(args):
    from .nn.data import DataError, load_data
    from .nn.models import ModelError, builtin_lenet, load_model
    from .report import sweep, write_report
    from .sim.runner import SimulatorMissing
    from .synth import ToolFailed, ToolMissing, default_liberty, tool_versions

    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    try:
        formats = [f.strip() for f in args.formats.split(",") if f.strip()]
        widths = [int(w) for w in args.widths.split(",") if w.strip()]
        bad = [f for f in formats if f not in ("dfp", "fixed", "minifloat", "pow2")]
        if bad or not formats or not widths or min(widths) < 2 or max(widths) > 16:
            raise ValueError(f"--formats takes dfp, fixed, minifloat, pow2 (not {bad}) and --widths integers "
                             f"in 2..16 (not {args.widths!r})")
        data = load_data(args.data)
        model = load_model(args.model, args.weights) if args.model else builtin_lenet(data if args.data is None
                                                                                       else None)
        points = sweep(model, data, formats=formats, widths=widths, out_dir=args.out,
                       finetune_epochs=args.finetune_epochs, verify_vectors=args.verify_vectors,
                       ice40=not args.no_ice40, log=log)
        from .nn import accuracy

        meta = {"model": args.model or "built-in LeNet", "data": data.name, "liberty": default_liberty().name,
                "clock_mhz": 100.0, "baseline_top1": accuracy(model, data.x_val, data.y_val),
                "tools": tool_versions(),
                "note": "Accuracy: weights and activations at the given width (power-of-two weights: at most "
                        "5-bit codes), range rule mse" + (f", fine-tuned {args.finetune_epochs} epochs" if
                                                          args.finetune_epochs else "") +
                        ". Hardware: one MAC (32-bit accumulator; float32 adder for minifloat) with the formats of "
                        "the layer doing the most MACs, co-simulated on random vectors in Icarus."}
        files = write_report(points, args.out, meta)
    except (DataError, ModelError, ValueError, ToolMissing, ToolFailed, SimulatorMissing) as err:
        sys.exit(f"ristretto report: {err}")
    print(f"{len(points)} points; wrote:")
    for f in files:
        print(f"  {f}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ristretto", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("formats", help="describe a format given as JSON (to_dict form)")
    p.add_argument("spec", help='e.g. \'{"kind": "dfp", "bits": 8, "frac_bits": 5}\'')
    p.set_defaults(func=_describe)
    p = sub.add_parser("demo", help="reproduce the paper's Table V and the IEEE cross-checks")
    p.add_argument("--bits", type=int, default=8)
    p.add_argument("--exp-bits", type=int, default=4)
    p.add_argument("--k", type=int, default=3, help="range [-2**k, 2**k]")
    p.set_defaults(func=_demo)
    p = sub.add_parser("quantize", help="find the smallest formats within an accuracy margin (Ristretto's flow)")
    p.add_argument("--model", help="package.module:factory returning an nn.Module, or a TorchScript file "
                   "(default: the built-in LeNet)")
    p.add_argument("--weights", help="state_dict file for --model (loaded with weights_only=True)")
    p.add_argument("--data", help="npz (x_train, y_train, x_val, y_val), MNIST IDX folder, CIFAR-10 folder, "
                   "image folder with train/ and val/ (default: built-in MNIST)")
    p.add_argument("--format", default="dfp", choices=["dfp", "fixed", "minifloat", "pow2"])
    p.add_argument("--error-margin", type=float, default=1.0, help="allowed top-1 drop in points (default 1.0)")
    p.add_argument("--rule", default="mse", choices=["max", "percentile", "mse"], help="range rule (max: original)")
    p.add_argument("--finetune-epochs", type=int, default=0)
    p.add_argument("--finetune-activations", action="store_true", help="quantize activations while fine-tuning")
    p.add_argument("--mode", default="fp32", choices=["fp32", "exact"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--fold-bn", action="store_true", help="fold BatchNorm into the preceding convolution")
    p.add_argument("--topk", type=int, default=1, help="score top-k accuracy (default 1)")
    p.add_argument("--output", type=int, default=None, help="index of the model output to score")
    p.add_argument("--config", help="reuse the formats of a config.json instead of searching")
    p.add_argument("--refine-layers", action="store_true", help="after the group search, narrow each layer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_quantize)
    p = sub.add_parser("paper", help="the paper's Table I and Fig. 3 sweep on the built-in LeNet")
    p.add_argument("--finetune-epochs", type=int, default=2)
    p.add_argument("--mode", default="fp32", choices=["fp32", "exact"])
    p.add_argument("--min-width", type=int, default=4)
    p.add_argument("--max-width", type=int, default=16)
    p.set_defaults(func=_paper)
    p = sub.add_parser("report", help="accuracy vs area/delay/power/energy for formats and widths, with charts")
    p.add_argument("--model", help="package.module:factory or TorchScript file (default: the built-in LeNet)")
    p.add_argument("--weights", help="state_dict file for --model")
    p.add_argument("--data", help="dataset (default: built-in MNIST); see 'ristretto quantize --help'")
    p.add_argument("--formats", default="dfp,minifloat,pow2")
    p.add_argument("--widths", default="4,6,8,10,12,16")
    p.add_argument("--finetune-epochs", type=int, default=0)
    p.add_argument("--verify-vectors", type=int, default=2000, help="random co-simulation vectors per point")
    p.add_argument("--no-ice40", action="store_true", help="skip the iCE40 figures")
    p.add_argument("--out", default="report", help="output directory (default: report)")
    p.set_defaults(func=_report)
    hw = sub.add_parser("hw", help="MAC hardware: generate Verilog, verify it").add_subparsers(
        dest="hw_command", required=True)
    p = hw.add_parser("generate", help="write <module>.v and its manifest <module>.json")
    p.add_argument("spec", help="preset (fixed8, shift8w4, minifloat8, float32) or a JSON spec file")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_hw_generate)
    p = hw.add_parser("verify", help="co-simulate the MAC against the reference model")
    p.add_argument("spec", help="preset (fixed8, shift8w4, minifloat8, float32) or a JSON spec file")
    p.add_argument("--build-dir", default="build/verify", help="simulator build directory")
    p.add_argument("--random", type=int, default=65536, help="random accumulation vectors (default 65536)")
    p.add_argument("--no-exhaustive", action="store_true", help="skip the exhaustive code pairs")
    p.add_argument("--fast", action="store_true", help="Amaranth's simulator on random vectors, no Icarus")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_hw_verify)
    p = hw.add_parser("synth", help="area, delay, power (Yosys + OpenSTA), transistor estimate, iCE40 figures")
    p.add_argument("spec", help="preset (fixed8, shift8w4, minifloat8, float32) or a JSON spec file")
    p.add_argument("--liberty", help="your own liberty file (default: OSU 0.18 um of qflow-tech-osu018)")
    p.add_argument("--clock-mhz", type=float, default=100.0, help="clock for power and energy (default 100)")
    p.add_argument("--no-ice40", action="store_true", help="skip the iCE40 (nextpnr) figures")
    p.add_argument("--build-dir", default="build/synth")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_hw_synth)
    p = hw.add_parser("verify-lenet", help="co-simulate the MACs on real dot products of the quantized LeNet")
    p.add_argument("--format", default="dfp", choices=["dfp", "pow2", "minifloat"])
    p.add_argument("--neurons", type=int, default=32, help="neurons per layer (default 32)")
    p.add_argument("--build-dir", default="build/verify-lenet")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_hw_verify_lenet)
    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
