"""Bit-level reference models of the MAC datapaths, one definition for network, testbench and RTL."""

from .floating import QNAN, Float32MacConfig, MinifloatMacConfig, f32_bits, f32_from_bits, f32_multiply
from .integer import OVERFLOW_POLICIES, IntAccumulator, IntMacConfig, int_trace
from .sizing import ACC_LIMIT, int_accumulator_bound, signed_width

__all__ = ["ACC_LIMIT", "QNAN", "Float32MacConfig", "IntAccumulator", "IntMacConfig", "MinifloatMacConfig",
           "OVERFLOW_POLICIES", "config_from_dict", "f32_bits", "f32_from_bits", "f32_multiply",
           "int_accumulator_bound", "int_trace", "signed_width"]


def config_from_dict(d):
    """A MAC configuration from its dict: ``{"family": "fixed"|"shift"|"minifloat"|"float32", ...}``.

    The family may be omitted for the integer MACs (it follows from the weight format).
    """
    d = dict(d)
    family = d.pop("family", None)
    if family == "minifloat":
        return MinifloatMacConfig.from_dict(d)
    if family == "float32":
        if d:
            raise ValueError(f"The float32 MAC takes no parameters, not {sorted(d)}")
        return Float32MacConfig()
    if family not in (None, "fixed", "shift"):
        raise ValueError(f"MAC family must be 'fixed', 'shift', 'minifloat' or 'float32', not {family!r}")
    cfg = IntMacConfig.from_dict(d)
    if family is not None and cfg.family != family:
        raise ValueError(f"Family {family!r} disagrees with the weight format {cfg.w!r}")
    return cfg
