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
            config, _ = parse_spec(args.spec)
            stim = mac_stimulus(config, exhaustive=False, random_vectors=args.random, seed=args.seed)
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
    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
