"""OCP Microscaling (MX v1.0) block formats: blocks of elements sharing one E8M0 power-of-two scale."""

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._base import check_int
from ._floatbits import exponent_field, pow2_float32
from .e8m0 import E8M0
from .fixed import DynamicFixedPoint
from .minifloat import Minifloat

__all__ = ["MXFormat"]

_SCALE = E8M0()


@dataclass(frozen=True)
class MXFormat:
    """``block_size`` elements of ``element`` (a Minifloat, or ``DynamicFixedPoint(8, 6)`` for MXINT8) per scale.

    Conversion follows OCP MX v1.0, section 6.3: per block along ``axis``, the
    shared exponent is ``floor(log2(max|x|)) - emax``, ``emax`` the exponent of
    the element's largest power of two (e4m3: 8, e5m2: 15, e2m3: 2, e3m2: 4,
    e2m1: 2, int8: 0), clamped to E8M0's -127..127; each element is then
    ``x / 2**shared`` rounded to nearest even and saturated by the element
    format. A partial last block is a block of the elements it has. A block of
    zeros gets the smallest scale (2**-127) and zero elements. A NaN in a block
    makes its scale NaN (code 255) and every element of the block NaN; ±inf
    counts as ``2**128`` for the scale (its elements saturate), as torchao does.

    Methods take ``axis`` (the reduction axis: blocks run along it).
    """

    element: object
    block_size: int = 32

    def __post_init__(self):
        if not isinstance(self.element, (Minifloat, DynamicFixedPoint)):
            raise TypeError(f"MX element must be a Minifloat or DynamicFixedPoint, not {self.element!r}")
        if self.element.bits > 8:
            raise ValueError(f"MX elements are at most 8 bits, not {self.element.slug}")
        check_int("block_size", self.block_size, 1, 1024)

    @property
    def emax(self):
        """Exponent of the element format's largest power of two."""
        return math.floor(math.log2(self.element.max_value))

    @property
    def bits(self):
        return self.element.bits

    @property
    def slug(self):
        return f"mx{self.element.slug}k{self.block_size}"

    def to_dict(self):
        return {"kind": "mx", "element": self.element.to_dict(), "block_size": self.block_size}

    @classmethod
    def from_dict(cls, d):
        from . import from_dict

        unknown = sorted(set(d) - {"kind", "element", "block_size"})
        if "element" not in d or unknown:
            raise ValueError(f"An 'mx' format needs 'element' (a format dict) and optionally 'block_size'; "
                             f"got keys {sorted(d)}")
        return cls(from_dict(d["element"]), d.get("block_size", 32))

    # -- blocks ------------------------------------------------------------------------------------
    def _blocks(self, x, axis):
        """``x`` moved to [..., n_blocks, block] (zero padded), with what is needed to undo it."""
        x = torch.movedim(x, axis, -1)
        n = x.shape[-1]
        if n <= self.block_size:  # one (partial) block: no padding
            return x.unsqueeze(-2), n
        nb = -(-n // self.block_size)
        pad = nb * self.block_size - n
        if pad:
            x = torch.nn.functional.pad(x, (0, pad))
        return x.reshape(*x.shape[:-1], nb, self.block_size), n

    def _unblock(self, b, n, axis):
        return torch.movedim(b.reshape(*b.shape[:-2], -1)[..., :n], -1, axis)

    def _shared(self, blocks):
        """Shared exponents ``[..., n_blocks]`` (int64; NaN blocks get 128, the NaN code's exponent)."""
        return self._shared_of(blocks.abs().amax(-1))

    def _shared_of(self, amax):
        """The OCP rule on each block's largest magnitude ``amax``: ``floor(log2(amax)) - emax``, clamped."""
        amax = amax.double()
        nan = torch.isnan(amax)
        e = exponent_field(torch.where(nan | (amax == 0), 1.0, torch.where(torch.isinf(amax), 2.0**1000, amax)))
        e = torch.where(torch.isinf(amax), 128, e)  # as an exponent field of 255 reads
        shared = torch.where(amax == 0, -127, (e - self.emax).clamp(-127, 127))
        return torch.where(nan, 128, shared)

    # -- API ---------------------------------------------------------------------------------------
    def quantize(self, x, axis=-1, rounding="nearest_even"):
        """``x`` (float tensor) as the MX format holds it: each element times its block's scale (float32)."""
        x = _tensor(x)
        if x.dtype == torch.float32 and rounding == "nearest_even":
            return self._quantize_float32(x.detach(), axis)  # not differentiable: the layers pass gradients through
        codes, scales = self.encode(x, axis=axis, rounding=rounding)
        return self.decode(codes, scales, axis=axis)

    def _quantize_float32(self, x, axis):
        """``decode(*encode(x))`` for float32 ``x`` without codes, in float32: the same values, bit for bit.

        Exact because every step is: the scale is a power of two (2**-127 a float32 subnormal, built from its
        bits); ``x / 2**shared`` is exact down to float32's subnormals, which lie far below half the smallest
        element (2**-17 at most), so they round to the same zero; an element times its scale needs at most
        4 + 8 significant bits above 2**-149. Zeros keep their sign as the element codes do (MXINT8's integer
        codes have no -0: its zeros are +0, as ``decode`` gives them).
        """
        shape, axis = x.shape, axis % max(x.dim(), 1)
        n = shape[axis] if x.dim() else 1
        bs = min(self.block_size, n)  # a dimension shorter than a block is one partial block: no padding
        nb = -(-n // bs) if n else 0
        # blocks as [before, block, element, after]: no transpose, the elements of a block are one stride apart
        v = x.reshape(math.prod(shape[:axis]), n, math.prod(shape[axis + 1:]))
        if nb * bs != n:
            v = torch.nn.functional.pad(v, (0, 0, 0, nb * bs - n))
        blocks = v.reshape(v.shape[0], nb, bs, v.shape[2])
        amax = blocks.abs().amax(2, keepdim=True) if blocks.numel() else blocks[:, :, :1]
        shared = self._shared_of(amax)
        nan = shared == 128
        shared = torch.where(nan, 0, shared)
        m = self.element.max_value
        scaled = torch.mul(blocks, pow2_float32(-shared)).clamp_(-m, m)  # contiguous, like blocks
        any_nan = bool(nan.any())
        if any_nan and not self.element._propagates_nan:  # a NaN block is NaN whatever its elements (set below)
            scaled = torch.where(nan, 0.0, scaled)
        q = self.element.quantize(scaled, out=scaled).mul_(pow2_float32(shared))
        if isinstance(self.element, DynamicFixedPoint):
            q.add_(0.0)  # -0.0 + 0.0 is +0.0
        if any_nan:
            q = torch.where(nan, torch.nan, q)
        q = q.reshape(q.shape[0], nb * bs, q.shape[3])
        return (q[:, :n] if nb * bs != n else q).reshape(shape)

    def encode(self, x, axis=-1, rounding="nearest_even"):
        """``(element_codes, scale_codes)``: codes shaped like ``x``; E8M0 codes with ``axis`` counting blocks."""
        x = _tensor(x)
        blocks, n = self._blocks(x.double(), axis)
        shared = self._shared(blocks)
        nan = shared == 128
        scale = torch.pow(2.0, torch.where(nan, 0, shared).double())[..., None]
        m = self.element.max_value  # elements saturate (OCP MX), also an IEEE element such as e5m2
        scaled = torch.where(nan[..., None], torch.nan, (blocks / scale).clamp(-m, m))
        if not self.element._propagates_nan:
            scaled = torch.where(nan[..., None], 0.0, scaled)
        codes = self.element.encode(scaled, rounding=rounding)
        if not self.element._propagates_nan:  # MXINT8 or an element without NaN: mark NaN blocks by the scale
            codes = torch.where(nan[..., None], 0, codes)
        scale_codes = torch.where(nan, 255, shared + 127)
        return self._unblock(codes, n, axis), torch.movedim(scale_codes, -1, axis)

    def decode(self, element_codes, scale_codes, axis=-1):
        """Values (float32) of element codes under their blocks' E8M0 scale codes (255: NaN)."""
        c, s = _tensor(element_codes).to(torch.int64), _tensor(scale_codes).to(torch.int64)
        blocks, n = self._blocks(c, axis)
        s = torch.movedim(s, axis, -1)
        if s.shape != blocks.shape[:-1]:
            raise ValueError(f"Scale codes of shape {list(scale_codes.shape)} do not fit {blocks.shape[-2]} blocks of "
                             f"{self.block_size} along axis {axis} of codes shaped {list(element_codes.shape)}")
        v = self.element.decode(blocks).double() * _SCALE.decode(s).double()[..., None]
        return self._unblock(v, n, axis).float()


def _tensor(x):
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"MX input must be a torch.Tensor or numpy.ndarray, not {type(x).__name__}")
    return x
