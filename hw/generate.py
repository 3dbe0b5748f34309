"""Presets, spec loading, and emission of reproducible Verilog with its manifest."""

import json
from pathlib import Path

from amaranth.back import verilog

from ..datapath import IntMacConfig
from ..formats import DynamicFixedPoint, PowerOfTwo
from .fixed_mac import FixedMac
from .shift_mac import ShiftMac

__all__ = ["PRESETS", "build", "generate", "load_spec", "module_name", "parse_spec"]

_A8 = DynamicFixedPoint(8, 4)
PRESETS = {
    # the paper's Table III units: 8-bit multipliers, 32-bit accumulators
    "fixed8": {"a": _A8.to_dict(), "w": DynamicFixedPoint(8, 7).to_dict(), "out": _A8.to_dict(),
               "acc_bits": 32, "overflow": "wrap", "stages": 0},
    "shift8w4": {"a": _A8.to_dict(), "w": PowerOfTwo(4, -8, -1, zero=False).to_dict(), "out": _A8.to_dict(),
                 "acc_bits": 32, "overflow": "wrap", "stages": 0},
}

_MACS = {"fixed": FixedMac, "shift": ShiftMac}


def load_spec(spec):
    """A spec dict from a preset name, a JSON file path, or a dict."""
    if isinstance(spec, dict):
        return dict(spec)
    if spec in PRESETS:
        return dict(PRESETS[spec])
    path = Path(spec)
    if path.suffix == ".json" and path.is_file():
        return json.loads(path.read_text())
    raise ValueError(
        f"MAC spec must be a preset ({', '.join(PRESETS)}) or an existing .json file, not {spec!r}"
    )


def parse_spec(spec):
    """``(config, stages)`` of a spec (preset name, JSON path or dict)."""
    d = load_spec(spec)
    stages = d.pop("stages", 0)
    if isinstance(stages, bool) or stages not in (0, 1, 2):
        raise ValueError(f"stages must be 0, 1 or 2, not {stages!r}")
    return IntMacConfig.from_dict(d), stages


def build(spec):
    """The Amaranth component for a spec (preset name, JSON path or dict)."""
    config, stages = parse_spec(spec)
    return _MACS[config.family](config, stages=stages)


def module_name(mac):
    cfg = mac.config
    policy = "w" if cfg.overflow == "wrap" else "s"
    return (f"mac_{cfg.family}_{cfg.a.slug}_{cfg.w.slug}_{cfg.out.slug}"
            f"_acc{cfg.acc_bits}{policy}_st{mac.stages}")


def generate(spec, out_dir):
    """Write ``<module>.v`` and the manifest ``<module>.json`` into ``out_dir``; return their paths.

    The Verilog is reproducible: no source locations or absolute paths inside.
    """
    mac = build(spec)
    name = module_name(mac)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = verilog.convert(mac, name=name, emit_src=False, strip_internal_attrs=True)
    v_path, j_path = out_dir / f"{name}.v", out_dir / f"{name}.json"
    v_path.write_text(text)
    cfg = mac.config
    manifest = {
        "module": name,
        "family": cfg.family,
        "verilog": v_path.name,
        "a": cfg.a.to_dict(),
        "w": cfg.w.to_dict(),
        "out": cfg.out.to_dict(),
        "accumulator": cfg.accumulator.to_dict(),
        "stages": mac.stages,
        "latency": mac.latency,
        "ports": {"clk": 1, "rst": 1, "a": cfg.a.bits, "w": cfg.w.bits, "valid": 1, "clear": 1,
                  "acc": cfg.acc_bits, "out": cfg.out.bits},
    }
    j_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return v_path, j_path
