"""Exact bit-level helpers for IEEE binary32/binary64 tensors."""

import torch

__all__ = ["FLOAT_LAYOUT", "exponent_field", "pow2", "pow2_float32", "compute_dtype_for"]

# dtype -> (matching signed integer dtype, fraction bits, exponent bias)
FLOAT_LAYOUT = {
    torch.float32: (torch.int32, 23, 127),
    torch.float64: (torch.int64, 52, 1023),
}


def exponent_field(a):
    """Unbiased exponent ``floor(log2(a))`` of non-negative normal floats.

    Reads the exponent field directly, so it is exact. Zero and subnormals
    give ``-bias`` (callers clamp it), inf and NaN give ``bias + 1``.
    """
    int_dtype, frac, bias = FLOAT_LAYOUT[a.dtype]
    return (a.view(int_dtype) >> frac) - bias


def pow2(k, dtype):
    """Exact ``2.0 ** k`` for an integer tensor ``k`` inside the normal range of ``dtype``."""
    int_dtype, frac, bias = FLOAT_LAYOUT[dtype]
    return ((k.to(int_dtype) + bias) << frac).view(dtype)


def pow2_float32(k):
    """Exact float32 ``2**k`` for an integer tensor ``k`` in [-149, 127], subnormals below 2**-126 included."""
    k = k.to(torch.int32)
    normal = (k + 127).clamp_(min=1) << 23
    sub = torch.ones_like(k) << (k + 149).clamp_(0, 22)
    return torch.where(k >= -126, normal, sub).view(torch.float32)


def compute_dtype_for(dtype, fast_ok):
    """Working precision: binary32 when the format allows it, else binary64."""
    if dtype == torch.float64 or not fast_ok:
        return torch.float64
    return torch.float32
