"""Amaranth generators of MAC units; installed as ``ristretto.hw``."""

from .fixed_mac import FixedMac
from .generate import PRESETS, build, generate, load_spec
from .requantizer import Requantizer
from .shift_mac import ShiftMac

__all__ = ["FixedMac", "ShiftMac", "Requantizer", "PRESETS", "build", "generate", "load_spec"]
