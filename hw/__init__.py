"""Amaranth generators of MAC units; installed as ``ristretto.hw``."""

from .fixed_mac import FixedMac
from .float32_add import Float32Adder
from .float32_mac import Float32Mac
from .float32_mul import Float32Multiplier
from .generate import PRESETS, build, generate, load_spec, parse_spec
from .mac import Mac
from .minifloat_mac import MinifloatMac
from .minifloat_round import MinifloatRounder
from .requantizer import Requantizer
from .shift_mac import ShiftMac

__all__ = ["Mac", "FixedMac", "ShiftMac", "MinifloatMac", "Float32Mac", "Requantizer", "MinifloatRounder",
           "Float32Adder", "Float32Multiplier", "PRESETS", "build", "generate", "load_spec", "parse_spec"]
