"""Bit-level reference models of the MAC datapaths, one definition for network, testbench and RTL."""

from .floating import QNAN, Float32MacConfig, MinifloatMacConfig, f32_bits, f32_from_bits, f32_multiply
from .integer import OVERFLOW_POLICIES, IntAccumulator, IntMacConfig, fixed_accumulate, int_trace
from .lanes import MAX_LANES, check_lanes, chunks, f32_tree, tree_depth, tree_reduce, tree_reduce_stream
from .sizing import ACC_LIMIT, int_accumulator_bound, signed_width
from .unit import ACCUMULATORS, accumulator_bound, bias_preload, is_fixed_sum, layer_unit, resolve_accumulator

__all__ = ["ACCUMULATORS", "ACC_LIMIT", "MAX_LANES", "accumulator_bound", "bias_preload", "is_fixed_sum",
           "layer_unit", "resolve_accumulator", "QNAN", "Float32MacConfig", "IntAccumulator", "IntMacConfig",
           "MinifloatMacConfig", "OVERFLOW_POLICIES", "check_lanes", "chunks", "config_from_dict", "f32_bits",
           "f32_from_bits", "f32_multiply", "f32_tree", "fixed_accumulate", "int_accumulator_bound", "int_trace",
           "signed_width", "tree_depth", "tree_reduce", "tree_reduce_stream"]


def config_from_dict(d):
    """A MAC configuration from its dict: ``{"family": "fixed"|"shift"|"minifloat"|"float32", ...}``.

    The family may be omitted for the integer MACs (it follows from the weight format).
    """
    d = dict(d)
    family = d.pop("family", None)
    if family == "minifloat":
        return MinifloatMacConfig.from_dict(d)
    if family == "mx":
        from .mx import MXMacConfig

        return MXMacConfig.from_dict(d)
    if family == "float32":
        if set(d) - {"lanes"}:
            raise ValueError(f"The float32 MAC takes only lanes, not {sorted(set(d) - {'lanes'})}")
        return Float32MacConfig(d.get("lanes", 1))
    if family not in (None, "fixed", "shift"):
        raise ValueError(f"MAC family must be 'fixed', 'shift', 'minifloat', 'float32' or 'mx', not {family!r}")
    cfg = IntMacConfig.from_dict(d)
    if family is not None and cfg.family != family:
        raise ValueError(f"Family {family!r} disagrees with the weight format {cfg.w!r}")
    return cfg
