"""One-pass CPU kernels for the hot rounding rules, compiled with numba; the torch code of each format stays the
reference they are tested against (``tests/formats/test_kernels.py``: every code, midpoint and neighbour of every
format of at most 8 bits, and float32 bit patterns from every binade).

Why: a format's torch implementation makes 10-20 elementwise passes (``abs``, exponent, ``where``, scale, round,
rescale, saturate, sign), each a trip through memory; a network in fp32 mode quantizes every activation twice, so
on mobile-class nets (large activations, little arithmetic per element) those passes cost several times the
float model (issue 23). A kernel reads each element once, computes the same rule on its float32 bit pattern
(what ml_dtypes does in C) and writes it once.

The kernels are single-threaded and release the GIL (numba ``nogil``), so they are safe in threads and forked
children. Measured on MobileNetV2 (2 cores): a second thread of ours made it slower, not faster, as torch's
OpenMP workers spin on the other core after each op, and one thread already runs near the memory bandwidth
(1.1 ns per element, 8 bytes moved). For the same reason fixed point keeps its torch code: four in-place passes
over cache-sized chunks on torch's two threads beat one pass on one thread (51 vs 108 ms per batch).

Only CPU float32 tensors take a kernel, and only for the rounding modes a kernel implements; everything else
(float64, CUDA, stochastic rounding) runs the torch reference.
"""

import os

import numpy as np

try:  # numba is a declared dependency; without it (an odd install) every format runs its torch code
    import numba
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - exercised only by a broken install
    numba = None

__all__ = ["available", "run"]


def available():
    """Whether the compiled kernels can run here (``RISTRETTO_KERNELS=0`` turns them off, e.g. to compare)."""
    return numba is not None and os.environ.get("RISTRETTO_KERNELS", "1") != "0"


if numba is not None:
    def _to32(builder, value, kind):
        width = kind.bitwidth
        if width > 32:
            return builder.trunc(value, ir.IntType(32))
        return builder.sext(value, ir.IntType(32)) if width < 32 else value

    @intrinsic
    def _as_float(typingctx, v):
        """The float32 whose bit pattern is the low 32 bits of the integer ``v``."""
        if not isinstance(v, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(_to32(builder, args[0], v), ir.FloatType())
        return types.float32(v), codegen

    @intrinsic
    def _as_int(typingctx, v):
        """The bit pattern (int32) of the float32 ``v``."""
        if v != types.float32:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(32))
        return types.int32(v), codegen

    _jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)

    @_jit
    def _minifloat_nearest_even(bits, out, shift, half, keep, flip, low_limit, magic, max_bits, over_bits,
                                no_negative_zero):
        """Round float32 patterns to a minifloat, nearest even; returns the number of NaN inputs.

        ``shift = 23 - man_bits``; a value at or above the format's smallest normal is rounded on its pattern
        (add ``half`` plus the kept least significant bit, XOR ``flip``, then clear the ``shift`` low bits:
        a carry moves into the exponent as it should); below it the quantum is fixed, and adding then
        subtracting ``magic`` (``2**(quantum exponent + 23)``) rounds to it in float32 hardware, ties to even.
        Results above the largest finite pattern become ``over_bits`` (max, inf or NaN); NaN stays NaN.
        """
        nans = 0
        sign_mask = np.int32(-0x80000000)
        for i in range(bits.shape[0]):
            b = bits[i]
            mag = b & np.int32(0x7fffffff)
            if mag > np.int32(0x7f800000):
                nans += 1
                r = mag | np.int32(0x400000)
            elif mag < low_limit:
                r = _as_int((_as_float(mag) + magic) - magic)
            else:
                r = (mag + half + (((mag >> shift) & np.int32(1)) ^ flip)) & keep
                if r > max_bits:
                    r = over_bits
            if r != 0 or not no_negative_zero:
                r |= b & sign_mask
            out[i] = r
        return nans

    _KERNELS = {"minifloat_nearest_even": _minifloat_nearest_even}


def run(name, x, out, *args):
    """Run kernel ``name`` over the contiguous 1-D float32 tensors ``x`` -> ``out`` (same length, may be one
    tensor); the kernel's extra ``args`` follow. Returns the kernel's count (NaN inputs)."""
    return _KERNELS[name](x.detach().numpy().view(np.int32), out.detach().numpy().view(np.int32), *args)
