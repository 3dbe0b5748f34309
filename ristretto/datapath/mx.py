"""The MX dot product: exact block sums, the two E8M0 scales applied, float32 accumulation across blocks.

OCP MX v1.0 leaves a dot product's internal precision to the implementer. This
is the one this project states, computes in exact mode and builds in hardware:

1. Within a block (``block_size`` element pairs along the reduction axis), the
   element products are exact and summed exactly in fixed point: with
   ``qa``/``qw`` the element values times ``2**fa``/``2**fw`` (integers: ``fa``
   is the element format's LSB exponent negated, ``man_bits - emin`` for a
   minifloat, ``frac_bits`` for MXINT8), the block sum is the integer
   ``S = sum(qa * qw)``.
2. The block's value ``S * 2**(sa + sw - fa - fw)`` (``sa``, ``sw`` the two
   shared exponents, E8M0 code - 127) is rounded once to float32, nearest even
   (IEEE: subnormal results are rounded as subnormals, beyond the largest
   float32 to infinity). A NaN scale (code 255) or a NaN element makes it NaN.
3. The running float32 sum starts at the bias (float32; -0.0 without one, the
   identity of float addition) and adds each block's value in block order, each
   addition rounded to nearest even.

The lane count of a unit does not change the result (each block sum is exact),
so exact mode needs no lanes here.
"""

import torch

from ..formats import DynamicFixedPoint, Minifloat

__all__ = ["block_value", "element_frac_bits", "element_ints", "mx_dot"]


def element_frac_bits(element):
    """``f`` such that every value of ``element`` times ``2**f`` is an integer (its LSB exponent, negated)."""
    if isinstance(element, Minifloat):
        return element.man_bits - element.emin
    if isinstance(element, DynamicFixedPoint):
        return element.frac_bits
    raise TypeError(f"MX elements are Minifloat or DynamicFixedPoint formats, not {element!r}")


def element_ints(element, codes):
    """``(q, f)``: element values times ``2**f`` (float64 tensor of integers; NaN codes stay NaN), and ``f``."""
    f = element_frac_bits(element)
    return element.decode(torch.as_tensor(codes)).double() * 2.0**f, f


def block_value(s, sa, sw, fa, fw):
    """A block's value rounded once to float32 (step 2): integer block sums ``s`` (float64), E8M0 scale codes
    ``sa``/``sw`` (broadcasting against ``s``), element scales ``2**-fa``/``2**-fw``."""
    sa, sw = torch.as_tensor(sa).to(torch.int64), torch.as_tensor(sw).to(torch.int64)
    e = (sa - 127) + (sw - 127) - (fa + fw)
    # + 0.0: an integer sum of zero is +0 (a float sum of -0 products would be -0). S * 2**e is exact in
    # float64 (|S| < 2**53, -320 < e < 300); the cast to float32 rounds once, nearest even
    v = torch.ldexp(s + 0.0, e.to(torch.float64)).float()
    return torch.where((sa == 255) | (sw == 255), torch.nan, v)


def mx_dot(a_codes, a_scales, w_codes, w_scales, a_fmt, w_fmt, bias=None):
    """The MX dot product (steps 1-3) of operands blocked as ``[..., n_blocks, block]`` codes with
    ``[..., n_blocks]`` E8M0 codes (``a`` and ``w`` broadcast), after ``bias`` (float32, or None).
    Returns float32 ``[...]``."""
    qa, fa = element_ints(a_fmt.element, a_codes)
    qw, fw = element_ints(w_fmt.element, w_codes)
    # integers below 2**53 for every element of at most 8 bits and blocks up to 1024
    values = block_value((qa * qw).sum(-1), a_scales, w_scales, fa, fw)
    acc = torch.full(values.shape[:-1], -0.0, dtype=torch.float32)
    if bias is not None:
        acc = torch.broadcast_to(torch.as_tensor(bias, dtype=torch.float32), acc.shape).clone()
    for b in range(values.shape[-1]):
        acc = acc + values[..., b]
    return acc
