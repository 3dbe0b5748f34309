"""Rounding of real values to integers: the rounding modes every format shares."""

import torch

__all__ = ["ROUNDING_MODES", "check_rounding", "round_integer", "round_shift", "uniform_like"]

ROUNDING_MODES = ("nearest_even", "nearest_away", "toward_zero", "stochastic")


def check_rounding(rounding, allowed=ROUNDING_MODES):
    """Raise ``ValueError`` unless ``rounding`` names one of ``allowed``."""
    if rounding not in allowed:
        raise ValueError(
            f"Rounding mode must be one of {', '.join(map(repr, allowed))}, not {rounding!r}"
        )


def round_integer(y, rounding, u=None):
    """Round a float tensor to integral values (same dtype).

    Parameters
    ----------
    y : torch.Tensor
        Floating-point values.
    rounding : str
        ``nearest_even`` (ties to even), ``nearest_away`` (ties away from zero),
        ``toward_zero`` (truncation) or ``stochastic`` (``floor(y) + 1`` with
        probability ``y - floor(y)``, exactly).
    u : torch.Tensor, optional
        Uniform samples in [0, 1) shaped like ``y``; required for ``stochastic``.
    """
    if rounding == "nearest_even":
        return torch.round(y)
    if rounding == "toward_zero":
        return torch.trunc(y)
    if rounding == "nearest_away":
        t = torch.trunc(y)
        # y - trunc(y) is exact; trunc(y + 0.5) is not (0.49999997 + 0.5 rounds to 1).
        return torch.where((y - t).abs() >= 0.5, t + torch.sign(y), t)
    if rounding == "stochastic":
        f = torch.floor(y)
        # Comparing u against the exact fraction avoids the bias of floor(y + u).
        return f + (u < (y - f)).to(y.dtype)
    check_rounding(rounding)
    raise AssertionError("unreachable")  # pragma: no cover


def uniform_like(y, generator):
    """Uniform [0, 1) samples shaped like ``y``, on ``y``'s device.

    ``generator`` may be ``None`` (torch's global generator), an ``int`` seed or a
    ``torch.Generator``. Samples are drawn on the generator's device and moved,
    so a seed or a CPU generator gives the same rounding on CPU and GPU.
    """
    if generator is None:
        return torch.rand(y.shape, dtype=y.dtype, device=y.device)
    if isinstance(generator, bool) or not isinstance(generator, (int, torch.Generator)):
        raise TypeError(
            f"Generator must be None, an int seed or a torch.Generator, not {generator!r}"
        )
    if isinstance(generator, int):
        generator = torch.Generator().manual_seed(generator)
    u = torch.rand(y.shape, dtype=y.dtype, device=generator.device, generator=generator)
    return u.to(y.device)


def round_shift(n, shift):
    """Integer ``n / 2**shift`` rounded to nearest, ties to even (exact, any integer dtype).

    This is the rule of the hardware requantizer: keep ``n >> shift``, add one when
    the dropped bits exceed one half, or equal it and the kept LSB is odd.
    A ``shift <= 0`` is an exact left shift.
    """
    if shift <= 0:
        return n << -shift
    q = n >> shift
    rem = n & ((1 << shift) - 1)
    half = 1 << (shift - 1)
    return q + ((rem > half) | ((rem == half) & ((q & 1) == 1))).to(n.dtype)
