"""ristretto: choose and prove the number format of a CNN accelerator.

Quantize a trained CNN to dynamic fixed point, minifloat or power-of-two weights
within an accuracy margin (Ristretto's flow), generate the MAC hardware as
Verilog, prove it bit-exact against the quantizer in Icarus Verilog, and report
accuracy against area, delay, power and energy.
"""

import argparse
import errno
import json
import sys
from pathlib import Path

import torch

from . import __version__
from .errors import InputError

__all__ = ["main"]

_EPILOG_MODEL = ("--model takes package.module:factory (a function returning an nn.Module; the current folder is "
                 "searched first, as with python -m), a TorchScript .pt file or an ONNX .onnx file.")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (no usage block), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def add_argument(self, *names, **kw):
        # choices and names are lower case; users type DFP, QDQ or Exact too
        if kw.get("choices") and "type" not in kw and all(isinstance(c, str) and c == c.lower()
                                                            for c in kw["choices"]):
            kw["type"] = str.lower
        return super().add_argument(*names, **kw)


def _widths_arg(text):
    from .options import int_list

    try:
        return int_list("--widths", text, 2, 16)
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--widths ")) from None


def _output_arg(text):
    try:
        return int(text)
    except ValueError:
        return text  # a key of a dict output


def _describe(args):
    from .formats import MXFormat, from_dict

    try:
        spec = json.loads(args.spec)
    except json.JSONDecodeError as err:
        raise InputError(f"the format must be JSON, e.g. '{{\"kind\": \"dfp\", \"bits\": 8, \"frac_bits\": 5}}' "
                         f"({err.msg} at column {err.colno})") from None
    fmt = from_dict(spec)
    if isinstance(fmt, MXFormat):
        e = fmt.element
        print(f"{fmt!r}\n  slug {fmt.slug}: blocks of {fmt.block_size} {e.slug} elements ({e.bits} bits, largest "
              f"{e.max_value:g}, emax {fmt.emax}) sharing one E8M0 scale 2**-127 .. 2**127")
        return
    print(f"{fmt!r}\n  slug {fmt.slug}, {fmt.bits} bits, range [{fmt.min_value:g}, {fmt.max_value:g}], "
          f"smallest positive {fmt.min_positive:g}, {len(fmt.codes())} canonical codes")


def _demo(args):
    from .analysis import table_v
    from .formats import Minifloat
    from .options import check_int

    check_int("--bits", args.bits, 3, 16)
    check_int("--exp-bits", args.exp_bits, 1, args.bits - 2)
    check_int("--k", args.k, -20, 20)
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


def _spec(args):
    """The spec argument, with ``--lanes`` (if given) replacing the spec's lanes; validated."""
    from .hw import parse_spec
    from .hw.generate import load_spec

    spec = args.spec
    for flag, key in (("lanes", "lanes"), ("interface", "interface"), ("reset", "reset"),
                      ("initial_values", "initial_values")):
        if getattr(args, flag, None) is not None:
            spec = {**load_spec(spec), key: getattr(args, flag)}
    parse_spec(spec)
    return spec


def _hw_generate(args):
    from .files import check_out_dir
    from .hw import generate
    from .sim.waves import write_timing_diagram

    spec = _spec(args)
    check_out_dir(args.out)
    v_path, j_path = generate(spec, args.out)
    print(f"wrote {v_path}\nwrote {j_path}")
    if not args.no_diagram:
        for path in write_timing_diagram(spec, v_path.with_suffix(".wave.json"), v_path.with_suffix(".svg")):
            print(f"wrote {path}")


def _hw_verify(args):
    from .hw import build, parse_spec
    from .options import MAX_SEED, MAX_VECTORS, check_int
    from .sim.amaranth_sim import simulate
    from .sim.runner import verify
    from .sim.stimulus import coverage, mac_stimulus

    check_int("--random", args.random, 0, MAX_VECTORS)
    check_int("--seed", args.seed, 0, MAX_SEED)
    spec = _spec(args)
    config, options = parse_spec(spec)
    if options["interface"] == "stream":
        return _hw_verify_stream(spec, args)
    if args.amaranth or args.fast:
        stim = mac_stimulus(config, exhaustive=False, random_vectors=args.random, seed=args.seed,
                            bias=options["bias"])
        result, tier = simulate(build(spec), stim), "Amaranth simulator"
    else:
        result = verify(spec, args.build_dir, exhaustive=not args.no_exhaustive,
                        random_vectors=args.random, seed=args.seed)
        tier = "cocotb + Icarus Verilog"
    if config.lanes > 1:
        tier += f", {config.lanes} lanes"
    rate = result["vectors_per_s"]
    exhaustive = not (args.amaranth or args.fast or args.no_exhaustive)
    print(f"{tier}: {result['vectors']} vectors checked in {result['seconds']:.1f} s "
          f"({rate:,.0f} vectors/s): {coverage(config, exhaustive=exhaustive, random_vectors=args.random)}")
    if result["passed"]:
        print("PASS: RTL equals the reference datapath bit for bit")
        return 0
    mm = result["first_mismatch"]
    print(f"FAIL: {result['mismatches']} vectors differ; first at vector {mm['index']}: "
          f"a={mm['a']} w={mm['w']} valid={mm['valid']} clear={mm['clear']}: "
          f"acc expected {mm['acc_expected']} got {mm['acc_got']}, "
          f"out expected {mm['out_expected']} got {mm['out_got']}")
    return 1


STALL_PATTERNS = ((0.0, 0.0), (0.3, 0.5), (0.1, 0.9))  # (source holds a beat, sink not ready), per cycle


def _hw_verify_stream(spec, args):
    from .sim.stream import verify_stream

    if args.amaranth or args.fast:
        raise InputError("--amaranth checks the bare unit; a stream unit is checked through cocotbext-axi under "
                         "Icarus: drop --amaranth (or set interface to bare)")
    beats = max(64, min(args.random, 4000))
    ok = True
    for i, stalls in enumerate(STALL_PATTERNS):
        r = verify_stream(spec, Path(args.build_dir) / f"stalls{i}", beats=beats, seed=args.seed + i, stalls=stalls)
        ok = ok and r["passed"]
        print(f"cocotbext-axi + Icarus, stalls in {stalls[0]:.0%} / out {stalls[1]:.0%}: {r['packets']} packets, "
              f"{r['beats']} beats in {r['cycles']} cycles ({r['held']} held back by the unit): "
              + ("PASS" if r["passed"] else f"FAIL: {r['mismatches']} wrong, {r['missing']} missing, "
                                            f"{r['extra']} extra results" +
                 (f"; first: packet {r['first_mismatch']['packet']} expected {r['first_mismatch']['expected']:#x} "
                  f"got {r['first_mismatch']['got']:#x}" if "first_mismatch" in r else "")))
    print("PASS: every packet's result equals the reference datapath, in order, none lost or repeated" if ok else
          "FAIL")
    return 0 if ok else 1


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def _device(name):
    if name == "cpu":
        return name
    if not str(name).startswith("cuda"):
        raise InputError(f"--device must be cpu or cuda (cuda:N), not {name!r}")
    if not torch.cuda.is_available():
        raise InputError(f"--device {name} asked for, but torch sees no GPU; use --device cpu")
    return name


def _model_and_data(args):
    from .nn.data import load_data
    from .nn.models import builtin_lenet, load_model

    if args.weights and not args.model:
        raise InputError("--weights needs --model package.module:factory (the built-in LeNet has its own weights)")
    data = load_data(args.data)
    if args.model:
        model = load_model(args.model, args.weights)
        if not args.weights and ":" in args.model and not args.model.lower().endswith((".onnx", ".pt", ".pth")):
            _log(f"note: no --weights given: {args.model} is used with the weights its factory returns")
    else:
        model = builtin_lenet(data if args.data is None else None)
    return model, data


def _quantize(args):
    from .files import check_out_dir
    from .nn.flow import quantize_network, write_outputs

    check_out_dir(args.out)
    device = _device(args.device)
    widths = None
    if args.widths is not None:
        from .nn.schemes import Widths
        from .options import int_list

        w = [t.strip() for t in args.widths.split(",")]
        if len(w) != 3:
            raise InputError(f"--widths takes three widths CONV_W,FC_W,ACT (e.g. 8,8,8), not {args.widths!r}")
        widths = Widths(*(int_list("--widths", t, 2, 16)[0] for t in w))
    model, data = _model_and_data(args)
    result = quantize_network(
        model, data, scheme=args.format, margin=args.error_margin, rule=args.rule,
        finetune_epochs=args.finetune_epochs, finetune_activations=args.finetune_activations, mode=args.mode,
        device=device, fold_bn=args.fold_bn, topk=args.topk, output_index=args.output, seed=args.seed,
        config=args.config, refine=args.refine_layers, strict=args.strict, widths=widths, acc_bits=args.acc_bits,
        acc_guard=args.acc_guard, accumulator=args.accumulator, lanes=args.lanes, mx_element=args.mx_element,
        log=_log)
    files = write_outputs(result, args.out)
    print(f"\n{'layer':<10}{'input':<16}{'weight':<18}{'bias':<16}{'output':<16}{'w SQNR dB':>10}")
    for name, groups in result.layers.items():
        slugs = [groups[g]["slug"] if g in groups else "float" for g in ("input", "weight", "bias", "output")]
        sq = groups.get("weight", {}).get("sqnr_db", float("nan"))
        print(f"{name:<10}{slugs[0]:<16}{slugs[1]:<18}{slugs[2]:<16}{slugs[3]:<16}{sq:>10.1f}")
    if result.accumulators:
        print("accumulators (bits used / bound / observed, overflows over the validation set in exact mode): " +
              ", ".join(f"{n} {a['bits']}/{a['bound']}/{a['observed']} {a['overflows']}"
                        for n, a in result.accumulators.items()))
    if result.unquantized:
        print("left in float32: " + ", ".join(f"{u['name']} ({u['type']})" for u in result.unquantized))
    print(f"\n{result.scheme} widths {result.widths.to_dict()}, {result.passes} validation passes")
    if result.finetuned_top1 is not None:
        print(f"fine-tuning: {result.before_finetune_top1:.4f} before, {result.finetuned_top1:.4f} after; kept "
              f"{result.finetune_kept}")
    print(f"top-{args.topk}: float32 {result.baseline_top1:.4f}, quantized {result.quantized_top1:.4f} "
          f"(drop {100 * (result.baseline_top1 - result.quantized_top1):.2f} points, {args.mode} mode, "
          f"{result.validation_size} validation samples)")
    for f in files:
        print(f"wrote {f}")
    if not result.met:
        print(f"ristretto quantize: no {result.scheme} width met the margin of {args.error_margin} points in "
              f"{args.mode} mode (best {result.quantized_top1:.4f} against a target of "
              f"{result.baseline_top1 - args.error_margin / 100:.4f}); the files above hold the best widths tried",
              file=sys.stderr)
        return 3
    return 0


def _export(args):
    from .export import build_network, export_onnx, round_trip
    from .files import check_out_dir
    from .nn.checks import check_model_data
    from .options import check_int

    check_int("--samples", args.samples, 0, 1_000_000)
    if not str(args.out).lower().endswith(".onnx"):
        raise InputError(f"--out must name an .onnx file, not {args.out!r}")
    check_out_dir(Path(args.out).parent or ".", option="--out's folder")
    model, data = _model_and_data(args)
    net, scheme = build_network(model, args.config)
    data, _ = check_model_data(net, data)
    example = data.x_val[:2]
    path = export_onnx(net, args.to, args.out, example)
    print(f"wrote {path} ({'QONNX' if args.to == 'qonnx' else 'ONNX Q/DQ'}, {scheme} formats from {args.config})")
    if not args.samples:
        return 0
    x = data.x_val[:args.samples]
    r = round_trip(net, path, args.to, x)
    print(f"round trip on {r['samples']} validation samples, {r['executor']} vs fp32 mode: {r['outputs']} outputs, "
          f"{r['differ']} differ" + (f" ({r['signed_zeros']} more differ only in the sign of zero)"
                                    if r["signed_zeros"] else ""))
    if r["identical"]:
        print("MATCH: the exported graph computes fp32 mode bit for bit")
        return 0
    print(f"first differing layer output: {r['first_layer']}; per layer: {r['layers']}")
    for e in r["first"]:
        print(f"  output {e['index']}: ours {e['ours']!r}, {r['executor']} {e['theirs']!r}")
    for c in r["causes"]:
        print(f"  possible cause: {c}")
    if r["explained_by_subnormals"] == r["differ"]:
        print(f"EXPLAINED: all {r['differ']} differences vanish when the executor honours has_subnormal=0; the graph "
              "states the format, the executor does not implement that attribute")
        return 0
    print("FAIL: differences not explained")
    return 1


def _paper(args):
    from .nn.data import builtin_mnist
    from .nn.experiments import mx_vs_dfp, paper_table, width_sweep
    from .nn.models import builtin_lenet
    from .options import check_int

    check_int("--finetune-epochs", args.finetune_epochs, 0, 1000)
    check_int("--min-width", args.min_width, 2, 16)
    check_int("--max-width", args.max_width, 2, 16)
    if args.min_width > args.max_width:
        raise InputError(f"--min-width {args.min_width} is above --max-width {args.max_width}: the width range is "
                         "empty")
    data = builtin_mnist()
    model = builtin_lenet(data)
    _log("paper Table I on the built-in LeNet (8-bit formats, 4-bit power-of-two weights)")
    rows = paper_table(model, data, finetune_epochs=args.finetune_epochs, mode=args.mode, log=_log)
    base = rows[0]["top1"]
    print(f"Table I, LeNet on MNIST ({len(data.x_val)} validation digits), top-1 %, {args.mode} mode")
    print(f"{'':<22}{'before FT':>10}{'after FT':>10}{'drop':>8}")
    print(f"{'float32':<22}{100 * base:>10.2f}{'':>10}{'':>8}")
    for r in rows[1:]:
        final = r["finetuned_top1"] if r["finetuned_top1"] is not None else r["top1"]
        after = f"{100 * r['finetuned_top1']:.2f}" if r["finetuned_top1"] is not None else "-"
        print(f"{r['name']:<22}{100 * r['top1']:>10.2f}{after:>10}{100 * (base - final):>8.2f}")
    widths = range(args.min_width, args.max_width + 1)
    _log(f"Fig. 3 sweep: {len(widths)} widths x 3 schemes")
    sweep = width_sweep(model, data, widths=widths, log=_log)
    print("\nFig. 3: top-1 % vs word width (weights and activations), no fine-tuning")
    print(f"{'width':<8}" + "".join(f"{s:>12}" for s in sweep))
    for b in widths:
        print(f"{b:<8}" + "".join(f"{100 * sweep[s][b]:>12.2f}" for s in sweep))
    if args.mx:
        _log("MX (a scale per block of 32) against DFP (a scale per layer group)")
        rows = mx_vs_dfp(model, data, log=_log)
        print("\nPer-block MX vs per-layer DFP: top-1 % at the same element width, no fine-tuning")
        print(f"{'format':<16}{'bits':>6}{'fp32 mode':>12}{'exact mode':>12}")
        for r in rows:
            name = r["element"] if r["scheme"] == "dfp" else f"mx {r['element']}"
            print(f"{name:<16}{r['bits']:>6}{100 * r['top1_fp32']:>12.2f}{100 * r['top1_exact']:>12.2f}")
    return 0


def _hw_verify_lenet(args):
    from .datapath import ACCUMULATORS, MAX_LANES
    from .options import MAX_SEED, check_choice, check_int
    from .sim.traces import verify_lenet

    check_int("--channels", args.channels, 1, 500)
    check_int("--seed", args.seed, 0, MAX_SEED)
    check_int("--images", args.images, 1, 100)
    check_int("--lanes", args.lanes, 1, MAX_LANES)
    check_choice("--accumulator", args.accumulator, ACCUMULATORS)

    def log(layer, spec, r):
        net = "yes" if r.get("network_match") else "NO"
        acc = spec.get("accumulator", "fixed")
        acc = f"acc {spec['acc_bits']} bits" if acc in ("fixed", "exact") else "float32 adders"
        print(f"{layer:<8}{acc:<16}{r['vectors']:>8} cycles  RTL == reference: "
              f"{'yes' if r['mismatches'] == 0 else 'NO'}  RTL out == network exact mode at "
              f"{len(r.get('network_out', [])) or 'every'} outputs: {net}")

    if args.interface == "stream":
        return _hw_verify_lenet_stream(args)
    print(f"LeNet real traces, {args.format}, {args.lanes} lane(s), {args.channels} whole output channel(s) per "
          f"layer over {args.images} digit(s), cocotb + Icarus Verilog")
    results = verify_lenet(args.format, args.build_dir, lanes=args.lanes, accumulator=args.accumulator,
                           channels=args.channels, images=args.images, seed=args.seed, log=log)
    ok = all(r["passed"] for r in results.values())
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def _hw_verify_lenet_stream(args):
    from .sim.integration import TOP, verify_lenet_stream

    def log(layer, r):
        print(f"{layer:<8}{r['results']:>7} outputs from {r['beats']:>7} beats in {r['cycles'] or '?':>7} cycles: "
              f"{'every output == network exact mode' if r['passed'] else 'MISMATCH'}"
              + (f" (first: output {r['first_mismatch']['result']} expected {r['first_mismatch']['expected']:#x} got "
                 f"{r['first_mismatch']['got']})" if "first_mismatch" in r else ""))

    print(f"LeNet, {args.format}, {args.lanes} lane(s): every output channel of each layer over {args.images} "
          f"digit(s) through the stream unit in the integration top {TOP.name} (memory in, random stalls on "
          "both sides, plain Icarus)")
    results = verify_lenet_stream(args.format, args.build_dir, lanes=args.lanes, accumulator=args.accumulator,
                                  images=args.images, seed=args.seed, log=log)
    ok = all(r["passed"] for r in results.values())
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def _hw_synth(args):
    from .options import MAX_MHZ, check_range
    from .synth import check_liberty, synth_figures

    spec = _spec(args)
    check_range("--clock-mhz", args.clock_mhz, 0.001, MAX_MHZ)
    if args.liberty:
        check_liberty(args.liberty)
    fig = synth_figures(spec, args.build_dir, liberty=args.liberty, clock_mhz=args.clock_mhz,
                        ice40=not args.no_ice40)
    if args.json:
        print(json.dumps({k: v for k, v in fig.items()}, indent=2, default=str))
        return 0
    rows = [("module", fig["module"]), ("library", fig["liberty"]),
            ("area", f"{fig['area_um2']:.0f} um^2 ({fig['cells']} cells)"),
            ("critical path", f"{fig['delay_ns']:.2f} ns (fmax {fig['fmax_mhz']:.1f} MHz)"),
            ("power", f"{fig['power_mw']:.3f} mW at {fig['clock_mhz']:g} MHz, default activity"
                      + ("" if fig["clock_met"] else f" (its fmax: it cannot run at the {fig['clock_asked']:g} MHz "
                                                     "asked)")),
            ("energy per cycle", f"{fig['energy_pj']:.2f} pJ ({fig['lanes']} MAC(s) per cycle)"),
            ("per MAC", f"{fig['area_um2_per_mac']:.0f} um^2, {fig['energy_pj_per_mac']:.2f} pJ"),
            ("transistors (estimate)", f"{fig['transistors']}"), ("logic depth", f"{fig['logic_depth']} gates")]
    if fig["ice40_luts"] is not None:
        rows.append(("iCE40 HX8K", f"{fig['ice40_luts']} LUT4, {fig['ice40_carries']} carries, "
                                   f"fmax {fig['ice40_fmax_mhz']} MHz over every path, pins included "
                                   f"({fig['ice40_fmax_reg_mhz']} MHz register to register)"))
    elif fig.get("ice40_skipped") not in (None, "not asked"):
        rows.append(("iCE40 HX8K", f"not placed: {fig['ice40_skipped']}"))
    for k, v in rows:
        print(f"{k:<24}{v}")
    print("tools: " + "; ".join(fig["tools"].values()))
    return 0


PROVE_REFUTED, PROVE_UNDECIDED, PROVE_NOT_APPLICABLE = 1, 3, 4  # hw prove's exit statuses (0: proven)


def _hw_prove(args):
    from .hw import parse_spec
    from .hw.reference import NoReference
    from .options import check_range
    from .synth.prove import prove, prove_stream

    spec = _spec(args)
    check_range("--timeout", args.timeout, 1, 86400)
    if parse_spec(spec)[1]["interface"] == "stream":
        c = prove_stream(spec, Path(args.build_dir) / "stream", timeout=args.timeout)
        if c["proven"]:
            print(f"PROVEN {c['module']} (stream control): no result is ever dropped and a result offered on m_axis "
                  f"stays unchanged until taken, for every input sequence from reset and any datapath output "
                  f"({c['engine']}, {c['seconds']:.2f} s); the datapath inside is the bare unit, next")
        else:
            print(f"{'REFUTED' if c['proven'] is False else 'UNDECIDED'} {c['module']} (stream control), "
                  f"{c['engine']}:\n{c['counterexample'] or ''}")
            return PROVE_REFUTED if c["proven"] is False else PROVE_UNDECIDED
    try:
        r = prove(spec, args.build_dir, timeout=args.timeout)
    except NoReference as err:
        print(f"NOT APPLICABLE: {err}; run ristretto hw verify")
        return PROVE_NOT_APPLICABLE
    if r["proven"] is None:
        print(f"UNDECIDED {r['module']}: no proof within {args.timeout:g} s ({r['engine']}); raise --timeout, "
              "or rely on simulation: ristretto hw verify")
        return PROVE_UNDECIDED
    if r["proven"]:
        print(f"PROVEN {r['module']}: equal to its naive reference (hw/reference.py) for every input sequence "
              f"and every accumulator state; {r['engine']}, {r['seconds']:.2f} s")
        opts = parse_spec(spec)[1]
        if opts["interface"] != "bare" or opts["reset"] != "sync-high" or opts["initial_values"]:
            print(f"  (the datapath is proven on the bare unit with the synchronous active-high reset, {r['module']}; "
                  f"yours has the same datapath, reset {opts['reset']}, interface {opts['interface']})")
        return 0
    print(f"REFUTED {r['module']}: differs from its naive reference ({r['engine']}, {r['seconds']:.2f} s); "
          f"counterexample (inputs and outputs):\n{r['counterexample']}")
    return PROVE_REFUTED


REPORT_FORMATS = "dfp,minifloat,pow2,mx,fp8"


def _report(args):
    from .files import check_out_dir
    from .nn.checks import check_model_data
    from .options import MAX_MHZ, MAX_VECTORS, check_int, check_range, name_list
    from .report import sweep, write_report
    from .report.execute import default_workers
    from .report.sweep import SCHEMES, check_widths, has_points

    formats = name_list("--formats", args.formats, SCHEMES)
    widths = args.widths
    if args.formats == REPORT_FORMATS:  # the default's mx and fp8 points need their widths: skipped when not asked
        formats = [f for f in formats if has_points(f, widths)]
    check_widths(formats, widths)
    check_int("--finetune-epochs", args.finetune_epochs, 0, 1000)
    check_int("--verify-vectors", args.verify_vectors, 1, MAX_VECTORS)
    from .datapath import ACCUMULATORS, MAX_LANES
    from .nn.accumulators import check_policy
    from .options import check_choice

    acc_bits = check_policy(args.acc_bits)
    check_choice("--accumulator", args.accumulator, ACCUMULATORS)
    check_int("--lanes", args.lanes, 1, MAX_LANES)
    check_range("--clock-mhz", args.clock_mhz, 0.001, MAX_MHZ)
    workers = default_workers() if args.workers is None else args.workers
    check_int("--workers", workers, 1, 1024)
    if args.ray_address is not None and not args.ray_address.strip():
        raise InputError("--ray-address is empty: give the address of a running Ray cluster (host:port, or auto)")
    check_out_dir(args.out)
    model, data = _model_and_data(args)
    data, notes = check_model_data(model, data)
    for n in notes + data.warnings():
        _log(n)
    report = sweep(model, data, formats=formats, widths=widths, out_dir=args.out,
                   finetune_epochs=args.finetune_epochs, verify_vectors=args.verify_vectors,
                   ice40=not args.no_ice40, acc_bits=acc_bits, accumulator=args.accumulator, lanes=args.lanes,
                   fold_bn=args.fold_bn, mode=args.mode, clock_mhz=args.clock_mhz, workers=workers,
                   ray_address=args.ray_address, model_name=args.model or "built-in LeNet", log=_log)
    files = write_report(report, args.out)
    print(f"{len(report.points)} points; wrote:")
    for f in files:
        print(f"  {f}")
    return 0


_SPEC_HELP = """\
SPEC is a preset (fixed8, shift8w4, minifloat8, float32, mxfp8, mxfp4, mxint8) or a JSON file with these keys:
  family     "fixed" | "shift" | "minifloat" | "float32" | "mx" (optional for fixed/shift: follows from w)
             mx: a and w are MX formats ({"kind": "mx", "element": {...}, "block_size": 32}), lanes = block size
  a, w, out  formats as JSON (to_dict form), e.g. {"kind": "dfp", "bits": 8, "frac_bits": 4};
             w may be {"kind": "pow2", ...} (barrel shifter); minifloat MACs take {"kind": "minifloat", ...}
  acc_bits   accumulator width, fixed/shift: one product's width .. 53 (default 32)
  overflow   "wrap" | "saturate" (default "wrap")
  accumulator  minifloat only: "fp32" (float32 adder) | "exact" (fixed-point, acc_bits wide)
  stages     pipeline registers, 0 | 1 | 2 (default 0): 1 registers the product (the lane tree's sum)
  bias       true | false: a bias port preloaded on clear (default false)
  lanes      1..64 (default 1): a dot-product unit of N multipliers (or shifters) and an adder tree; a and w
             become vectors of N codes, lane i in bits [i*B, (i+1)*B); float32 adders round in the tree order
             (l0+l1), (l2+l3), ... level by level, as exact mode does with the same lanes
  interface  "bare" (default: valid/clear ports) | "stream" (AXI4-Stream s_axis/m_axis with backpressure)
  reset      "sync-high" (default, port rst) | "sync-low" (rst_n) | "async-high" | "async-low"
  initial_values  true | false: register initialisers in the Verilog (FPGA flows; default false)
A unit's own manifest (<module>.json) is a SPEC too: it regenerates the same Verilog byte for byte."""


def _unit_flags(p):
    """The unit options a spec also holds (the flag replaces the spec's key)."""
    from .hw.emit import RESETS
    from .hw.generate import INTERFACES

    p.add_argument("--interface", choices=INTERFACES, help="bare ports or AXI4-Stream (replaces the spec's)")
    p.add_argument("--reset", choices=RESETS, help="reset style (replaces the spec's; default sync-high)")
    p.add_argument("--initial-values", action="store_const", const=True, dest="initial_values",
                   help="keep register initialisers in the Verilog (FPGA flows)")


def _build_parser():
    from .hw.generate import INTERFACES

    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog="ristretto", description=__doc__, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    p = sub.add_parser("formats", help="describe a number format given as JSON", formatter_class=fmt,
                       description="Describe a number format: its range, smallest step and number of codes.")
    p.add_argument("spec", help='the format as JSON, e.g. \'{"kind": "dfp", "bits": 8, "frac_bits": 5}\' '
                   '(kinds: dfp, minifloat, pow2)')
    p.set_defaults(func=_describe)

    p = sub.add_parser("demo", help="reproduce the paper's Table V and the IEEE cross-checks",
                       description="Reproduce the paper's Table V (worst quantization error of each format) "
                                   "and check our minifloats against torch's float16 and bfloat16 bit for bit.")
    p.add_argument("--bits", type=int, default=8, help="word width of the formats, 3..16 (default 8)")
    p.add_argument("--exp-bits", type=int, default=4, help="minifloat exponent width (default 4)")
    p.add_argument("--k", type=int, default=3, help="range [-2**k, 2**k] (default 3)")
    p.set_defaults(func=_demo)

    p = sub.add_parser(
        "quantize", help="find the narrowest formats within an accuracy margin (Ristretto's flow)",
        description="Quantize a trained CNN: range analysis, a bit-width search that keeps top-k accuracy within "
                    "--error-margin points of float32 (scored in --mode), optional fine-tuning, and export of "
                    "config.json, summary.json, weights.npz and model.pt. Exit status: 0 done, 1 bad input, "
                    "2 bad option, 3 no width met the margin, 130 interrupted.",
        epilog=_EPILOG_MODEL)
    p.add_argument("--model", help="package.module:factory, a TorchScript .pt or an ONNX .onnx file (default: the "
                   "built-in LeNet)")
    p.add_argument("--weights", help="state_dict or checkpoint for --model (loaded with weights_only=True; "
                   "{'state_dict': ...} and {'model': ...} checkpoints are accepted)")
    p.add_argument("--data", help="npz (x_train, y_train, x_val, y_val), MNIST IDX folder, CIFAR-10 python folder, "
                   "or image folder with train/<class>/ and val/<class>/ (default: built-in MNIST)")
    p.add_argument("--format", default=None, choices=["dfp", "fixed", "minifloat", "pow2", "fp8", "fp8e5m2", "mx"],
                   help="dfp: dynamic fixed point (a fractional length per layer group); fixed: one static "
                   "fixed point for the net; minifloat: small floats (paper semantics); pow2: power-of-two weights "
                   "(multiplier-free) with dfp activations; fp8: OCP FP8 E4M3 (e4m3fn) with a power-of-two scale "
                   "per group, always 8 bits; fp8e5m2: the same with OCP E5M2 (inf and NaN codes; no generated "
                   "unit); mx: OCP MX, blocks of 32 along each dot product with an E8M0 scale each, the element "
                   "per --mx-element or searched as the width (default dfp, or the scheme of --config)")
    p.add_argument("--mx-element", default=None, choices=["fp8e4m3", "fp8e5m2", "fp6e3m2", "fp6e2m3", "fp4", "int8"],
                   help="--format mx: the element format (fp4 is e2m1; int8 is MXINT8); default: searched by width")
    p.add_argument("--error-margin", type=float, default=1.0,
                   help="allowed top-k drop in percentage points, 0..100 (default 1.0)")
    p.add_argument("--rule", default="mse", choices=["max", "percentile", "mse"],
                   help="range rule: max (the original's), percentile (99.99th), mse (least error; default)")
    p.add_argument("--finetune-epochs", type=int, default=0, help="fine-tuning epochs, 0.. (default 0)")
    p.add_argument("--finetune-activations", action="store_true", help="quantize activations while fine-tuning")
    p.add_argument("--mode", default="fp32", choices=["fp32", "exact"],
                   help="fp32: quantized values computed in float32 (as the original); exact: integer/minifloat "
                   "datapath as the MAC hardware computes it (default fp32)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--fold-bn", action="store_true", help="fold BatchNorm into the preceding Conv/Linear layer")
    p.add_argument("--topk", type=int, default=1, help="score top-k accuracy, 1..classes (default 1)")
    p.add_argument("--output", type=_output_arg, default=None,
                   help="which model output to score: an index for tuple outputs or a key for dict outputs")
    p.add_argument("--config", help="reuse the formats of a config.json instead of searching")
    p.add_argument("--widths", help="CONV_W,FC_W,ACT: quantize at these widths (2..16) instead of searching, e.g. "
                   "8,8,8 for an int8 target")
    p.add_argument("--refine-layers", action="store_true", help="after the group search, narrow each layer")
    p.add_argument("--acc-bits", default="bound", type=str.lower,
                   help="accumulator width per layer in exact mode (integer formats): bound (never overflows; "
                   "default), observed (the calibration data's largest partial sum plus --acc-guard bits), or N "
                   "bits for every layer (2..53)")
    p.add_argument("--acc-guard", type=int, default=1, help="guard bits added to the observed width (default 1)")
    p.add_argument("--accumulator", default="auto", type=str.lower,
                   help="minifloat layers in exact mode: exact (a fixed-point sum that never rounds, sized like "
                   "--acc-bits), fp32 (float32 adders, rounding at each addition) or auto (default: exact for "
                   "operands of at most 8 bits)")
    p.add_argument("--lanes", type=int, default=1,
                   help="lanes of the dot-product unit (1..64, default 1): its adder tree fixes the order of "
                   "float32 sums and of saturation in exact mode")
    p.add_argument("--strict", action="store_true",
                   help="refuse a model with layers or ops that would stay in float32 (e.g. LSTM, Conv3d, unfolded "
                   "BatchNorm, weights used through F.conv2d)")
    p.add_argument("--seed", type=int, default=0, help="seed of fine-tuning (default 0)")
    p.add_argument("--out", required=True, help="output folder (created; checked writable before any work)")
    p.set_defaults(func=_quantize)

    p = sub.add_parser("paper", help="the paper's Table I and Fig. 3 sweep on the built-in LeNet",
                       description="Reproduce the paper's Table I (8-bit formats, before and after fine-tuning) and "
                                   "the Fig. 3 width sweep on the built-in LeNet.")
    p.add_argument("--finetune-epochs", type=int, default=2, help="fine-tuning epochs (default 2)")
    p.add_argument("--mode", default="fp32", choices=["fp32", "exact"], help="fp32 or exact (default fp32)")
    p.add_argument("--min-width", type=int, default=4, help="narrowest width of the sweep, 2..16 (default 4)")
    p.add_argument("--max-width", type=int, default=16, help="widest width of the sweep, 2..16 (default 16)")
    p.add_argument("--mx", action="store_true",
                   help="also compare OCP MX elements (fp4, fp6, fp8, int8; a scale per block of 32) with DFP at "
                        "the same width, in both modes")
    p.set_defaults(func=_paper)

    p = sub.add_parser("report", help="accuracy vs area/delay/power/energy for formats and widths, with charts",
                       description="Sweep formats and widths: accuracy of the network in exact and fp32 mode, "
                                   "and every distinct layer unit generated, co-simulated, proven and synthesized, "
                                   "powered on its layer's own data. Writes report.json, .csv, .md, .html and PNG "
                                   "charts; points and units are cached in OUT/cache.",
                       epilog=_EPILOG_MODEL)
    p.add_argument("--model", help="package.module:factory, TorchScript .pt or ONNX .onnx file (default: the "
                   "built-in LeNet)")
    p.add_argument("--weights", help="state_dict or checkpoint for --model")
    p.add_argument("--data", help="dataset (default: built-in MNIST); see 'ristretto quantize --help'")
    p.add_argument("--formats", default=REPORT_FORMATS, type=str.lower,
                   help="comma-separated schemes from dfp, fixed, minifloat, pow2, mx, fp8 (default "
                   f"{REPORT_FORMATS}; mx: OCP MX at widths 4, 6, 8 = fp4, fp6 e2m3, fp8 e4m3 elements, blocks of 32, "
                   "32-lane units; fp8: OCP E4M3 scaled per group, width 8 only)")
    p.add_argument("--widths", type=_widths_arg, default=[4, 6, 8, 10, 12, 16],
                   help="comma-separated word widths in 2..16 (default 4,6,8,10,12,16; pow2 weights use at most 5)")
    p.add_argument("--finetune-epochs", type=int, default=0, help="fine-tuning epochs per point (default 0)")
    p.add_argument("--verify-vectors", type=int, default=2000, help="random co-simulation vectors per point")
    p.add_argument("--no-ice40", action="store_true", help="skip the iCE40 figures")
    p.add_argument("--acc-bits", default="bound", type=str.lower,
                   help="accumulator of the synthesized unit: bound (never overflows; default), observed, or N bits")
    p.add_argument("--accumulator", default="auto", type=str.lower,
                   help="minifloat units: exact (fixed-point sum), fp32 (float32 adder) or auto (default: exact for "
                   "operands of at most 8 bits)")
    p.add_argument("--lanes", type=int, default=1, help="lanes of the synthesized units, 1..64 (default 1)")
    p.add_argument("--mode", default="exact", choices=["fp32", "exact"],
                   help="the accuracy the top1 column and charts use (default exact: as the hardware computes; both "
                        "are in the report)")
    p.add_argument("--fold-bn", action="store_true", help="fold BatchNorm into the preceding Conv/Linear layer")
    p.add_argument("--clock-mhz", type=float, default=100.0,
                   help="clock power is quoted at (default 100); a unit that misses it is quoted at its own fmax")
    p.add_argument("--workers", type=int, default=None,
                   help="points computed at once, as local Ray worker processes (default: the cores of this "
                        "machine; 1: one after another in this process, no Ray)")
    p.add_argument("--ray-address", default=None,
                   help="run the points on this existing Ray cluster (e.g. auto, or ray://host:10001); its nodes "
                        "need ristretto-accel, the tools and --model's code installed")
    p.add_argument("--out", default="report", help="output folder (default: report)")
    p.set_defaults(func=_report)

    p = sub.add_parser("export", help="write the quantized network as QONNX or ONNX Q/DQ, and check it bit for bit",
                       description="Write the network of a config.json (written by 'ristretto quantize') as ONNX with "
                                   "QONNX Quant/FloatQuant nodes (--to qonnx) or standard QuantizeLinear/"
                                   "DequantizeLinear pairs (--to qdq), then run it (qonnx's executor, or "
                                   "onnxruntime) on validation data and compare with fp32 mode bit for bit.",
                       epilog=_EPILOG_MODEL)
    p.add_argument("--to", required=True, choices=["qonnx", "qdq"],
                   help="qonnx: Quant (dfp, pow2) and FloatQuant (minifloat) nodes; qdq: int4/int8/int16 and float8 "
                   "e5m2 Q/DQ (other formats are refused)")
    p.add_argument("--config", required=True, help="config.json written by 'ristretto quantize'")
    p.add_argument("--model", help="the model the config was made for (default: the built-in LeNet)")
    p.add_argument("--weights", help="state_dict or checkpoint for --model (e.g. the model.pt 'quantize' wrote)")
    p.add_argument("--data", help="validation data for the round trip (default: built-in MNIST)")
    p.add_argument("--samples", type=int, default=1000,
                   help="validation samples for the round trip, 0 to skip it (default 1000)")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.set_defaults(func=_export)

    hw = sub.add_parser("hw", help="MAC hardware: generate, verify, synthesize",
                        description="MAC hardware: generate Verilog, verify it against the reference datapath, "
                                    "synthesize it.").add_subparsers(dest="hw_command", required=True,
                                                                      metavar="HW_COMMAND", parser_class=_Parser)
    p = hw.add_parser("generate", help="write <module>.v and its manifest <module>.json", epilog=_SPEC_HELP,
                      formatter_class=fmt, description="Generate a MAC unit as Verilog with its JSON manifest.")
    p.add_argument("spec", help="preset or JSON spec file (keys below)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--lanes", type=int, help="lanes of the dot-product unit, 1..64 (replaces the spec's lanes)")
    _unit_flags(p)
    p.add_argument("--no-diagram", action="store_true",
                   help="skip the timing diagram (<module>.wave.json and .svg, simulated in Amaranth)")
    p.set_defaults(func=_hw_generate)
    p = hw.add_parser("verify", help="co-simulate the MAC against the reference model", epilog=_SPEC_HELP,
                      formatter_class=fmt, description="Co-simulate the MAC (cocotb + Icarus Verilog, or the "
                                                       "Amaranth simulator with --amaranth) against the reference.")
    p.add_argument("spec", help="preset or JSON spec file (keys below)")
    p.add_argument("--build-dir", default="build/verify", help="simulator build folder (default build/verify)")
    p.add_argument("--random", type=int, default=65536, help="random accumulation vectors, 0.. (default 65536)")
    p.add_argument("--no-exhaustive", action="store_true", help="skip the exhaustive code pairs")
    p.add_argument("--lanes", type=int, help="lanes of the dot-product unit, 1..64 (replaces the spec's lanes)")
    p.add_argument("--amaranth", action="store_true",
                   help="Amaranth's simulator on random vectors instead of Icarus: needs no simulator installed, "
                   "but is slower than Icarus (about 1,000 vs 8,000 vectors/s)")
    p.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)  # old name of --amaranth
    p.add_argument("--seed", type=int, default=0, help="seed of the random vectors (default 0)")
    _unit_flags(p)
    p.set_defaults(func=_hw_verify)
    p = hw.add_parser("synth", help="area, delay, power (Yosys + OpenSTA), transistor estimate, iCE40 figures",
                      epilog=_SPEC_HELP, formatter_class=fmt,
                      description="Synthesize the MAC on a standard-cell library (Yosys, OpenSTA) and an iCE40.")
    p.add_argument("spec", help="preset or JSON spec file (keys below)")
    p.add_argument("--liberty", help="your own liberty file (default: OSU 0.18 um of qflow-tech-osu018)")
    p.add_argument("--clock-mhz", type=float, default=100.0, help="clock for power and energy, > 0 (default 100)")
    p.add_argument("--no-ice40", action="store_true", help="skip the iCE40 (nextpnr) figures")
    p.add_argument("--lanes", type=int, help="lanes of the dot-product unit, 1..64 (replaces the spec's lanes)")
    p.add_argument("--build-dir", default="build/synth", help="work folder (default build/synth)")
    _unit_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_hw_synth)
    p = hw.add_parser("prove", help="prove the unit equal to a naive reference for every input (Yosys)",
                      epilog=_SPEC_HELP, formatter_class=fmt,
                      description="Formal equivalence of the generated unit and a naive Verilog reference written "
                                  "from the format definitions (fixed, shift, minifloat with the exact accumulator). "
                                  "Units with float32 adders have no naive reference: they are verified by "
                                  "simulation only.")
    p.add_argument("spec", help="preset or JSON spec file (keys below)")
    p.add_argument("--lanes", type=int, help="lanes of the dot-product unit, 1..64 (replaces the spec's lanes)")
    p.add_argument("--build-dir", default="build/prove", help="work folder (default build/prove)")
    _unit_flags(p)
    p.add_argument("--timeout", type=float, default=600, help="seconds before the proof stops undecided (600)")
    p.set_defaults(func=_hw_prove)
    p = hw.add_parser("verify-lenet", help="co-simulate the MACs on real dot products of the quantized LeNet")
    p.add_argument("--format", default="dfp", choices=["dfp", "pow2", "minifloat", "fp8"],
                   help="scheme of the quantized LeNet (default dfp)")
    p.add_argument("--lanes", type=int, default=1, help="lanes of each layer's dot-product unit, 1..64 (default 1)")
    p.add_argument("--accumulator", default="auto", type=str.lower,
                   help="minifloat: exact (fixed-point sum), fp32 (float32 adders) or auto (default: exact)")
    p.add_argument("--channels", type=int, default=2,
                   help="whole output channels traced per layer, 1..500 (default 2)")
    p.add_argument("--images", type=int, default=2, help="digits whose channels are traced, 1..100 (default 2)")
    p.add_argument("--build-dir", default="build/verify-lenet", help="simulator build folder")
    p.add_argument("--interface", choices=INTERFACES, default="bare",
                   help="stream: every output channel of each layer through the stream unit in the integration "
                        "example (sim/integration/stream_layer_tb.v); --channels is then ignored (default bare)")
    p.add_argument("--seed", type=int, default=0, help="seed choosing the channels (default 0)")
    p.set_defaults(func=_hw_verify_lenet)
    for leaf in _leaves(parser):
        leaf.add_argument("--verbose", action="store_true",
                          help="on an error, print the libraries' own full text (a traceback) before the one line")
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (bad input exits with one line on stderr)."""
    from .report.execute import ClusterMissing, WorkerLost
    from .sim.runner import SimulationFailed, SimulatorMissing
    from .synth import ToolFailed, ToolMissing

    parser = _build_parser()
    args = parser.parse_args(argv)
    name = "ristretto " + args.command + (f" {args.hw_command}" if args.command == "hw" else "")
    try:
        return _run(args)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except (InputError, ToolMissing, ToolFailed, SimulatorMissing, SimulationFailed, ClusterMissing,
            WorkerLost) as err:
        raise SystemExit(f"{name}: {err}") from None
    except (ValueError, TypeError, NotImplementedError) as err:  # formats and configs validate with these
        raise SystemExit(f"{name}: {err}") from None
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise SystemExit(f"{name}: the disk is full (writing {err.filename or 'a file'}); free space and "
                             "run again: nothing half written was kept") from None
        raise SystemExit(f"{name}: {err.strerror or err}: {err.filename or ''}".rstrip(": ")) from None
    except MemoryError:
        raise SystemExit(f"{name}: out of memory; use a smaller model, data set or batch") from None
    except RuntimeError as err:
        text = str(err)
        if "can't allocate memory" in text or "not enough memory" in text or "out of memory" in text.lower():
            raise SystemExit(f"{name}: out of memory ({_first(text)}); use a smaller model, data set or batch"
                             ) from None
        if "unexpected pos" in text or "No space left on device" in text:  # torch.save on a full disk
            raise SystemExit(f"{name}: the disk is full (torch could not write a file); free space and run "
                             "again: nothing half written was kept") from None
        raise


def _run(args):
    """The command; with ``--verbose`` an error's full chain (the library's own text) precedes its one line."""
    try:
        return args.func(args) or 0
    except Exception as err:
        if getattr(args, "verbose", False):
            import traceback

            cause = err.__cause__ or err.__context__
            traceback.print_exception(cause if cause is not None else err, file=sys.stderr)
        raise


def _leaves(parser):
    """The parsers that run a command (``hw``'s own subcommands included)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _leaves(sub) if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions) \
                    else [sub]


def _first(text, n=120):
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:n] + ("..." if len(line) > n else "")


if __name__ == "__main__":
    sys.exit(main())
