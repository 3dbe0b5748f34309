"""Presets, spec loading, and emission of reproducible Verilog with its manifest."""

from pathlib import Path

from .. import __version__
from ..datapath import config_from_dict
from ..errors import InputError
from ..files import read_json, write_json, write_text
from ..formats import DynamicFixedPoint, Minifloat, MXFormat, PowerOfTwo, named
from .emit import RESETS, emit, header, port_table
from .fixed_mac import FixedMac
from .float32_mac import Float32Mac
from .minifloat_mac import MinifloatMac
from .mx_mac import MXMac
from .shift_mac import ShiftMac
from .stream import StreamMac, stream_shape

__all__ = ["INTERFACES", "OPTIONS", "PRESETS", "SpecError", "build", "generate", "load_spec", "module_name",
           "normalized_spec", "parse_spec", "timing"]

_A8 = DynamicFixedPoint(8, 4)
PRESETS = {
    # the paper's Table III units: 8-bit multipliers, 32-bit accumulators
    "fixed8": {"a": _A8.to_dict(), "w": DynamicFixedPoint(8, 7).to_dict(), "out": _A8.to_dict(),
               "acc_bits": 32, "overflow": "wrap", "stages": 0},
    "shift8w4": {"a": _A8.to_dict(), "w": PowerOfTwo(4, -8, -1, zero=False).to_dict(), "out": _A8.to_dict(),
                 "acc_bits": 32, "overflow": "wrap", "stages": 0},
    # 8-bit minifloat (e4m3, paper semantics) with a float32 adder
    "minifloat8": {"family": "minifloat", "a": Minifloat(4, 3).to_dict(), "w": Minifloat(4, 3).to_dict(),
                   "out": Minifloat(4, 3).to_dict(), "accumulator": "fp32", "stages": 0},
    "float32": {"family": "float32", "stages": 0},
    # OCP MX v1.0 dot-product units: one block of 32 element pairs per cycle, E8M0 scales, float32 sum
    "mxfp8": {"family": "mx", "a": MXFormat(named("float8_e4m3fn")).to_dict(),
              "w": MXFormat(named("float8_e4m3fn")).to_dict()},
    "mxfp4": {"family": "mx", "a": MXFormat(named("float4_e2m1fn")).to_dict(),
              "w": MXFormat(named("float4_e2m1fn")).to_dict()},
    "mxint8": {"family": "mx", "a": MXFormat(DynamicFixedPoint(8, 6)).to_dict(),
               "w": MXFormat(DynamicFixedPoint(8, 6)).to_dict()},
}

_MACS = {"fixed": FixedMac, "shift": ShiftMac, "minifloat": MinifloatMac, "float32": Float32Mac, "mx": MXMac}


class SpecError(InputError):
    """A MAC spec that is malformed or describes no buildable unit; names the file and the key."""


_KEYS = {"family", "a", "w", "out", "acc_bits", "overflow", "accumulator", "stages", "bias", "lanes",
         "interface", "reset", "initial_values"}
INTERFACES = ("bare", "stream")
# the options of a unit beyond its datapath configuration, with their defaults
OPTIONS = {"stages": 0, "bias": False, "interface": "bare", "reset": "sync-high", "initial_values": False}


def load_spec(spec):
    """A spec dict from a preset name, a JSON file path, or a dict.

    Raises
    ------
    SpecError
        For a name that is neither a preset nor an existing JSON file, or a file
        that is not a JSON object.
    """
    if isinstance(spec, dict):
        return dict(spec)
    if spec in PRESETS:
        return dict(PRESETS[spec])
    path = Path(str(spec))
    if path.suffix == ".json" and path.is_file():
        d = read_json(path, "MAC spec")
        if not isinstance(d, dict):
            raise SpecError(f"MAC spec {str(path)!r} must be a JSON object, not {type(d).__name__}")
        if "module" in d and "verilog" in d:  # a unit's own manifest: its full spec regenerates it
            if not isinstance(d.get("spec"), dict):
                raise SpecError(f"manifest {str(path)!r} has no 'spec' object (written by an older ristretto?): "
                                "regenerate the unit from its spec")
            return dict(d["spec"])
        return d
    raise SpecError(
        f"MAC spec must be a preset ({', '.join(PRESETS)}) or an existing .json file, not {spec!r}"
    )


def parse_spec(spec):
    """``(config, options)`` of a spec (preset name, JSON path or dict); options: ``OPTIONS``'s keys.

    Raises
    ------
    SpecError
        For unknown keys, bad options, or formats and widths that make no unit;
        the message names the spec and the problem.
    """
    d = load_spec(spec)
    where = f"MAC spec {spec!r}: " if isinstance(spec, str) and spec not in PRESETS else ""
    unknown = sorted(set(d) - _KEYS)
    if unknown:
        raise SpecError(f"{where}unknown keys {unknown}; allowed: {', '.join(sorted(_KEYS))}")
    options = {k: d.pop(k, v) for k, v in OPTIONS.items()}
    if isinstance(options["stages"], bool) or options["stages"] not in (0, 1, 2):
        raise SpecError(f"{where}stages must be 0, 1 or 2, not {options['stages']!r}")
    for k in ("bias", "initial_values"):
        if not isinstance(options[k], bool):
            raise SpecError(f"{where}{k} must be true or false, not {options[k]!r}")
    if options["interface"] not in INTERFACES:
        raise SpecError(f"{where}interface must be one of {', '.join(INTERFACES)}, not {options['interface']!r}")
    if options["reset"] not in RESETS:
        raise SpecError(f"{where}reset must be one of {', '.join(RESETS)}, not {options['reset']!r}")
    try:
        return config_from_dict(d), options
    except (TypeError, ValueError, KeyError) as err:
        raise SpecError(f"{where}{err if not isinstance(err, KeyError) else f'missing key {err}'}") from None


def build(spec):
    """The bare Amaranth component (the proven datapath) of a spec (preset name, JSON path or dict)."""
    config, options = parse_spec(spec)
    return _MACS[config.family](config, stages=options["stages"], bias=options["bias"])


def normalized_spec(spec):
    """The full spec (every option spelled out): what a manifest records and regenerates from."""
    config, options = parse_spec(spec)
    return {"family": config.family, **config.to_dict(), **options}


def _accumulator(cfg):
    """The manifest's accumulator description."""
    if cfg.family in ("fixed", "shift"):
        return cfg.accumulator.to_dict()
    if cfg.family == "minifloat" and cfg.accumulator == "exact":
        return cfg.acc.to_dict()
    return {"kind": "fp32"}


def module_name(mac, options=None):
    """The module name of a bare unit, with the suffixes of the non-default options (``parse_spec``'s)."""
    cfg = mac.config
    tail = (f"_l{cfg.lanes}" if cfg.lanes > 1 else "") + f"_st{mac.stages}" + ("_bias" if mac.has_bias else "")
    options = options or {}
    if options.get("interface", "bare") != "bare":
        tail += f"_{options['interface']}"
    if options.get("reset", "sync-high") != "sync-high":
        tail += "_" + options["reset"].replace("-", "")
    if options.get("initial_values"):
        tail += "_init"
    if cfg.family == "float32":
        return f"mac_float32{tail}"
    if cfg.family == "mx":
        return f"mac_mx_{cfg.a.slug}_{cfg.w.slug}_fp32{tail}"
    acc = _accumulator(cfg)
    acc_s = "fp32" if acc["kind"] == "fp32" else f"acc{acc['bits']}{acc['overflow'][0]}"
    return f"mac_{cfg.family}_{cfg.a.slug}_{cfg.w.slug}_{cfg.out.slug}_{acc_s}{tail}"


def timing(mac, options):
    """The unit's cycle behaviour in words (the header's and the manifest's): protocol, latency, throughput."""
    cfg, per = mac.config, getattr(mac.config, "cycles_per_block", 1)
    stream = options["interface"] == "stream"
    cycle = "beat" if stream else "valid cycle"
    block = (f"; an MX block of {cfg.a.block_size} elements takes {per} {cycle}(s) ({cfg.lanes} lanes), its sa and "
             f"sw are read on its last {cycle}" if cfg.family == "mx" else "")
    if not stream:
        bias = "; bias is read with the first product (clear)" if mac.has_bias else ""
        return [f"Bare ports: each rising edge with valid adds a x w ({cfg.lanes} lane(s)) to the sum; clear restarts "
                f"it{bias}{block}.",
                f"Latency {mac.latency} edge(s) from the last product's edge to a stable out (acc: "
                f"{1 + min(mac.stages, 1)}); throughput one valid cycle per clock; no handshake."]
    s = stream_shape(mac)
    bias = "; bias is read on a packet's first beat" if mac.has_bias else ""
    whole = ", and a packet holds whole blocks" if cfg.family == "mx" else ""
    return [f"AXI4-Stream: a dot product is one packet of beats on s_axis (tlast on the last), its result one beat "
            f"on m_axis; a beat moves at a rising edge with tvalid & tready{bias}{block}{whole}.",
            f"Latency {s['latency']} edge(s) from the last beat to m_axis_tvalid (empty queue); throughput one beat "
            f"per clock with a ready sink; {s['depth']} result slots, s_axis_tready low while all are taken or owed."]


def generate(spec, out_dir, *, _credit=None):
    """Write ``<module>.v`` and the manifest ``<module>.json`` into ``out_dir``; return their paths.

    ``_credit`` (tests only, stream units) builds the wrapper that owes that many results (``StreamMac``).

    The Verilog is reproducible (no source locations or absolute paths inside) and
    documented (``emit.header``); the manifest's ``spec`` regenerates it byte for byte.
    """
    mac = build(spec)
    _, options = parse_spec(spec)
    full = normalized_spec(spec)
    name = module_name(mac, options)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    top = mac if options["interface"] == "bare" else StreamMac(mac, _credit=_credit)
    table = port_table(mac, options["interface"], options["reset"])
    lines = timing(mac, options)
    text = emit(top, name, table, reset=options["reset"], initial_values=options["initial_values"])
    v_path, j_path = out_dir / f"{name}.v", out_dir / f"{name}.json"
    write_text(v_path, header(name, full, table, lines) + text)
    cfg = mac.config
    ports = {"a": mac.a, "w": mac.w, "acc": mac.acc, "out": mac.out}
    if mac.has_bias:
        ports["bias"] = mac.bias
    inputs = list(getattr(cfg, "inputs", ()))  # per-cycle inputs beyond a, w, bias (an MX unit's scales)
    ports.update({k: getattr(mac, k) for k in inputs})
    manifest = {
        "module": name,
        "family": cfg.family,
        "verilog": v_path.name,
        "generator": f"ristretto {__version__}",
        "spec": full,
        "config": {"family": cfg.family, **cfg.to_dict()},
        "a": cfg.a.to_dict(),
        "w": cfg.w.to_dict(),
        "out": cfg.out.to_dict(),
        "accumulator": _accumulator(cfg),
        "stages": mac.stages,
        "bias": mac.has_bias,
        "interface": options["interface"],
        "reset": options["reset"],
        "initial_values": options["initial_values"],
        "latency": mac.latency,
        "lanes": cfg.lanes,
        "cycles_per_block": getattr(cfg, "cycles_per_block", 1),
        "lane_bits": {k: v.width for k, v in mac.lane_shapes.items()},
        "lane_signed": [k for k, v in mac.lane_shapes.items() if v.signed],
        "tree": {"order": "pairwise by level: (l0+l1), (l2+l3), ...; an odd level's last element passes up "
                          "unchanged (ristretto.datapath.tree_reduce)", "depth": mac.tree_depth},
        "ports": {p["name"]: p["bits"] for p in table},
        "signed_ports": [k for k, v in ports.items() if v.shape().signed],
        "inputs": inputs,
        "port_table": table,
        "timing": lines,
    }
    if options["interface"] == "stream":
        manifest["stream"] = stream_shape(mac)
    write_json(j_path, manifest)
    return v_path, j_path
