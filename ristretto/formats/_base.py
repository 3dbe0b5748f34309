"""The shared machinery of all number formats: containers, validation, chunked evaluation."""

import numpy as np
import torch

from . import _kernels
from .rounding import ROUNDING_MODES, check_rounding, uniform_like

__all__ = ["Format", "check_int", "signed_slug"]

# Elements per chunk on CPU: a chunk and its temporaries stay in cache, so the
# handful of elementwise passes a format needs costs about one pass over memory.
_CPU_CHUNK = 1 << 18


def check_int(name, value, lo=None, hi=None):
    """Validate an integer parameter; the message echoes the bad value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}], not {value!r}")
    return int(value)


def signed_slug(k):
    """A signed integer in file-name-safe form: ``-3`` -> ``m3``."""
    return f"m{-k}" if k < 0 else str(k)


def _as_tensor(x, what):
    if isinstance(x, torch.Tensor):  # quantizing is not differentiable: the nn layers pass gradients straight through
        return x.detach(), lambda t: t
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)), lambda t: t.cpu().numpy()
    raise TypeError(f"{what} must be a torch.Tensor or a numpy.ndarray, not {type(x).__name__}")


class Format:
    """Base class of the number formats (frozen dataclasses).

    Subclasses provide ``_quantize_chunk``, ``_encode_values``, ``_decode_codes``,
    ``_code_bounds`` and ``_float32_exact``. The public API converts containers,
    validates input and evaluates the numerics chunk by chunk.
    """

    rounding_modes = ROUNDING_MODES
    #: True where NaN input is a value of the format (IEEE specials enabled).
    _propagates_nan = False

    # -- public API --------------------------------------------------------
    def quantize(self, x, rounding="nearest_even", generator=None, *, out=None):
        """Snap ``x`` to the nearest values of this format under ``rounding``.

        Parameters
        ----------
        x : torch.Tensor or numpy.ndarray
            Floating-point input of any shape.
        rounding : str
            One of ``rounding_modes``.
        generator : None, int or torch.Generator
            Source of randomness for ``stochastic`` rounding: an ``int`` seed or a
            CPU generator gives identical results on every device.
        out : torch.Tensor, optional
            Destination tensor (same shape, dtype and device as ``x``; may be ``x``
            itself for in-place quantization).

        Returns
        -------
        Same container type, dtype and device as ``x``. Values are exact format
        values, rounded to ``x``'s dtype if it cannot hold them (e.g. float16).

        Raises
        ------
        TypeError
            For a container or dtype that is not floating point.
        ValueError
            For an unknown rounding mode, or NaN in a format without NaN.
        """
        t, back = _as_tensor(x, "Input")
        if out is not None:
            if not (isinstance(out, torch.Tensor) and out.shape == t.shape and out.dtype == t.dtype
                    and out.device == t.device and out.is_contiguous()):
                raise ValueError("out must be a contiguous tensor of the input's shape, dtype and device")
            if t.dtype in (torch.float32, torch.float64) and (t.dtype == torch.float64 or self._float32_exact):
                return self._quantize_tensor(t, rounding, generator, out=out)
            out.copy_(self._quantize_tensor(t, rounding, generator))
            return out
        return back(self._quantize_tensor(t, rounding, generator).to(t.dtype))

    def encode(self, x, rounding="nearest_even", generator=None):
        """Quantize ``x`` and return the format's integer codes as ``int64``.

        The code is the two's complement value for fixed point and the raw bit
        pattern (sign | exponent | mantissa) for the float-like formats.
        """
        t, back = _as_tensor(x, "Input")
        return back(self._encode_values(self._quantize_tensor(t, rounding, generator)))

    def decode(self, codes):
        """Return the float32 values of integer ``codes``.

        Raises
        ------
        TypeError
            If ``codes`` is not an integer tensor or array.
        ValueError
            If a code lies outside the format's code space.
        """
        t, back = _as_tensor(codes, "Codes")
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise TypeError(f"Codes must have an integer dtype, not {t.dtype}")
        t = t.to(torch.int64)
        if t.numel():
            self._check_codes(t)
        return back(self._decode_codes(t).to(torch.float32))

    def codes(self):
        """All canonical codes in ascending order, as an ``int64`` tensor.

        Canonical codes are those ``encode`` can produce, so
        ``encode(decode(codes())) == codes()``. Hardware tests enumerate them.
        """
        lo, hi = self._code_bounds()
        c = torch.arange(lo, hi + 1, dtype=torch.int64)
        return c[self._canonical(c)]

    def _canonical(self, c):
        return torch.ones_like(c, dtype=torch.bool)

    # -- shared helpers ----------------------------------------------------
    def _check_codes(self, t):
        lo, hi = self._code_bounds()
        bad = (t < lo) | (t > hi)
        if bad.any():
            raise ValueError(
                f"Code {int(t[bad].flatten()[0])} is outside the code space [{lo}, {hi}] of {self!r}"
            )

    def _quantize_tensor(self, t, rounding, generator, out=None):
        check_rounding(rounding, self.rounding_modes)
        if not t.dtype.is_floating_point:
            raise TypeError(
                f"Input must have a floating-point dtype, not {t.dtype}; convert it with .float()"
            )
        cdtype = torch.float64 if (t.dtype == torch.float64 or not self._float32_exact) else torch.float32
        flat = t.reshape(-1).to(cdtype)
        kernel = self._kernel(rounding) if cdtype == torch.float32 and flat.device.type == "cpu" else None
        if kernel is not None and _kernels.available():  # one pass over memory (ristretto.formats._kernels)
            if out is None:
                out = torch.empty(t.shape, dtype=cdtype)
            if _kernels.run(kernel[0], flat, out.view(-1), *kernel[1]) and not self._propagates_nan:
                self._refuse_nan()
            return out
        u = uniform_like(flat, generator) if rounding == "stochastic" else None
        step = flat.numel() if flat.device.type != "cpu" else _CPU_CHUNK
        if out is None:  # a fresh tensor, not a view: callers may modify it in place
            out = torch.empty(t.shape, dtype=cdtype, device=t.device)
        flat_out = out.view(-1)
        for start in range(0, flat.numel(), step):
            chunk = flat[start:start + step]
            # a NaN makes the sum NaN (so does inf - inf): only then look closer
            if not self._propagates_nan and bool(torch.isnan(chunk.sum())) and bool(torch.isnan(chunk).any()):
                self._refuse_nan()
            uc = None if u is None else u[start:start + step]
            self._quantize_chunk_into(chunk, rounding, uc, flat_out[start:start + step])
        return out

    def _refuse_nan(self):
        raise ValueError(f"Input contains NaN, which {self!r} cannot represent; "
                         "remove it or use a format with inf_nan=True")

    def _kernel(self, rounding):
        """``(name, args)`` of the ``_kernels`` kernel computing this format's rounding on float32, or None."""
        return None

    def _quantize_chunk_into(self, x, rounding, u, out):
        out.copy_(self._quantize_chunk(x, rounding, u))
