"""Bit-level reference of the integer MACs (fixed point, barrel shifter).

The network's exact mode, the cocotb testbenches and the RTL manifest all use
these definitions, so software, reference model and hardware share one source.
"""

from dataclasses import dataclass

import numpy as np
import torch

from ..formats import DynamicFixedPoint, PowerOfTwo, from_dict
from ..formats.fixed import twos_complement_range
from .lanes import check_lanes, tree_depth

__all__ = ["IntAccumulator", "IntMacConfig", "OVERFLOW_POLICIES", "as_codes", "fixed_accumulate", "int_trace"]

OVERFLOW_POLICIES = ("wrap", "saturate")


@dataclass(frozen=True)
class IntAccumulator:
    """A ``bits``-wide two's complement accumulator; value ``code * 2**-frac_bits``.

    ``overflow`` is ``wrap`` (modulo ``2**bits``) or ``saturate`` (clamp after
    every addition).
    """

    bits: int
    frac_bits: int
    overflow: str = "wrap"

    def __post_init__(self):
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 2 <= self.bits <= 53:
            raise ValueError(f"Accumulator width must be an integer in [2, 53], not {self.bits!r}")
        if self.overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"Overflow policy must be 'wrap' or 'saturate', not {self.overflow!r}")

    @property
    def min_code(self):
        return twos_complement_range(self.bits)[0]

    @property
    def max_code(self):
        return twos_complement_range(self.bits)[1]

    def fit(self, v):
        """Apply the overflow policy to exact integer sums (int64 tensor)."""
        if self.overflow == "saturate":
            return v.clamp(self.min_code, self.max_code)
        return ((v - self.min_code) & ((1 << self.bits) - 1)) + self.min_code

    def to_dict(self):
        return {"kind": "int", "bits": self.bits, "frac_bits": self.frac_bits, "overflow": self.overflow}


def as_codes(x):
    """Integer codes as an int64 tensor, from a tensor, array or sequence."""
    if isinstance(x, torch.Tensor):
        return x.to(torch.int64)
    return torch.from_numpy(np.array(x, dtype=np.int64))


def _lane_sum(p, lanes):
    """Exact per-cycle sums of integer products ``[cycles]`` or ``[cycles, lanes]``."""
    if p.dim() >= 2 and lanes > 1:
        if p.shape[-1] != lanes:
            raise ValueError(f"a {lanes}-lane unit takes [cycles, {lanes}] operands, not {list(p.shape)}")
        return p.sum(-1)
    if lanes > 1:
        raise ValueError(f"a {lanes}-lane unit takes [cycles, {lanes}] operands, not {list(p.shape)}")
    return p[..., 0] if p.dim() >= 2 and p.shape[-1] == 1 else p


def fixed_accumulate(products, acc_fmt, lanes=1, start=None):
    """Integer products summed along the last axis by a ``lanes``-lane unit into ``acc_fmt``.

    ``start`` (int64, broadcast against the result) is the bias preload.
    """
    start = 0 if start is None else start
    if acc_fmt.overflow == "wrap":  # modular: the order does not matter
        return acc_fmt.fit(products.sum(-1) + start)
    k = products.shape[-1]
    pad = (-k) % lanes
    if pad:
        products = torch.nn.functional.pad(products, (0, pad))
    sums = products.reshape(*products.shape[:-1], -1, lanes).sum(-1)
    acc = acc_fmt.fit(torch.zeros(products.shape[:-1], dtype=torch.int64) + start)
    for c in range(sums.shape[-1]):  # saturation depends on the order: once per cycle
        acc = acc_fmt.fit(acc + sums[..., c])
    return acc


def int_trace(products, valid, clear, acc_fmt, bias=None):
    """Integer accumulator after each edge under the port contract (``IntAccumulator`` policy).

    At an edge with ``clear`` the sum restarts as this edge's product if
    ``valid`` else zero (plus ``bias[k]``, accumulator codes, for a MAC with a
    bias preload); otherwise a ``valid`` product is added.
    """
    p = np.asarray(products, dtype=np.int64).tolist()
    valid, clear = np.asarray(valid).tolist(), np.asarray(clear).tolist()
    bias = [0] * len(p) if bias is None else np.asarray(bias, dtype=np.int64).tolist()
    acc, out = 0, []
    lo, hi, mask = acc_fmt.min_code, acc_fmt.max_code, (1 << acc_fmt.bits) - 1
    for pk, v, c, b in zip(p, valid, clear, bias, strict=True):
        s = (b if c else acc) + (pk if v else 0)
        acc = min(max(s, lo), hi) if acc_fmt.overflow == "saturate" else ((s - lo) & mask) + lo
        out.append(acc)
    return np.array(out, dtype=np.int64)


@dataclass(frozen=True)
class IntMacConfig:
    """Parameters of a fixed-point or barrel-shifter (multiplier-free) MAC.

    Parameters
    ----------
    a : DynamicFixedPoint
        Activation format.
    w : DynamicFixedPoint or PowerOfTwo
        Weight format: fixed point gives a multiplier, power of two a shifter.
    out : DynamicFixedPoint
        Output format; the requantizer rounds to nearest even and saturates.
    acc_bits : int
        Accumulator width (default 32).
    overflow : str
        Accumulator overflow policy, ``wrap`` or ``saturate``.
    lanes : int
        Products summed per cycle by the unit's adder tree (1..64; see
        ``ristretto.datapath.lanes``). A saturating accumulator clamps once
        per cycle, so ``lanes`` is part of its result.
    """

    a: DynamicFixedPoint
    w: object
    out: DynamicFixedPoint
    acc_bits: int = 32
    overflow: str = "wrap"
    lanes: int = 1

    def __post_init__(self):
        for name in ("a", "out"):
            if not isinstance(getattr(self, name), DynamicFixedPoint):
                raise TypeError(f"{name} must be a DynamicFixedPoint, not {getattr(self, name)!r}")
        if not isinstance(self.w, (DynamicFixedPoint, PowerOfTwo)):
            raise TypeError(f"w must be a DynamicFixedPoint or PowerOfTwo, not {self.w!r}")
        IntAccumulator(self.acc_bits, 0, self.overflow)  # validates width and policy
        object.__setattr__(self, "lanes", check_lanes(self.lanes))
        if self.product_bits > 53:
            raise ValueError(f"Products of {self.a.slug} x {self.w.slug} need {self.product_bits} bits, more than the "
                             "53-bit accumulator limit; narrow the weights' exponent range")
        if self.acc_bits < self.product_bits:
            raise ValueError(f"Accumulator of {self.acc_bits} bits cannot hold one product of {self.a.slug} x "
                             f"{self.w.slug} ({self.product_bits} bits); use acc_bits in [{self.product_bits}, 53]")

    @property
    def family(self):
        """``fixed`` (multiplier) or ``shift`` (barrel shifter)."""
        return "fixed" if isinstance(self.w, DynamicFixedPoint) else "shift"

    @property
    def max_shift(self):
        """Largest left shift of the barrel shifter (power-of-two weights only)."""
        return self.w.exp_max - self.w.exp_min

    @property
    def product_bits(self):
        """Width of the exact signed product."""
        if self.family == "fixed":
            return self.a.bits + self.w.bits
        return self.a.bits + self.max_shift + 1

    @property
    def tree_bits(self):
        """Width of the adder tree's exact sum of ``lanes`` products."""
        return self.product_bits + tree_depth(self.lanes)

    @property
    def accumulator(self):
        frac = self.a.frac_bits + (self.w.frac_bits if self.family == "fixed" else -self.w.exp_min)
        return IntAccumulator(self.acc_bits, frac, self.overflow)

    # -- the datapath --------------------------------------------------------
    def products(self, a, w):
        """Exact products of activation codes and weight codes (int64, accumulator scale)."""
        a, w = as_codes(a), as_codes(w)
        if self.family == "fixed":
            return a * w
        mag_bits = self.w.bits - 1
        k = w & ((1 << mag_bits) - 1)
        shift = k - int(self.w.zero)
        p = a << shift.clamp(min=0)
        if self.w.zero:
            p = torch.where(k == 0, 0, p)
        return torch.where(((w >> mag_bits) & 1) == 1, -p, p)

    def lane_sums(self, a, w):
        """The adder tree's sum per cycle: ``a``, ``w`` are ``[cycles]`` (one lane) or ``[cycles, lanes]``."""
        p = self.products(a, w)
        return _lane_sum(p, self.lanes)

    def accumulate(self, products, start=None):
        """Accumulate along the last axis as the ``lanes``-lane unit does; returns raw accumulator codes.

        ``start`` (accumulator codes, broadcast) is the bias preload. Wrapping
        sums do not depend on the order; a saturating accumulator clamps after
        each cycle's tree sum (``lanes`` products, zero-padded at the end).
        """
        return fixed_accumulate(products, self.accumulator, self.lanes, start)

    def output(self, acc):
        """Requantize raw accumulator codes to output codes (round to nearest even, saturate)."""
        return self.out.requantize_codes(acc, self.accumulator.frac_bits)

    def dot(self, a, w):
        """Dot products along the last axis: ``(acc, out)`` codes as the hardware computes them."""
        acc = self.accumulate(self.products(a, w))
        return acc, self.output(acc)

    def trace(self, a, w, valid, clear, bias=None):
        """Accumulator after each rising edge for a cycle-by-cycle stimulus (see ``int_trace``).

        With ``lanes > 1``, ``a`` and ``w`` are ``[cycles, lanes]``.
        """
        return torch.from_numpy(int_trace(self.lane_sums(a, w), valid, clear, self.accumulator, bias))

    # -- description ---------------------------------------------------------
    def to_dict(self):
        return {"a": self.a.to_dict(), "w": self.w.to_dict(), "out": self.out.to_dict(),
                "acc_bits": self.acc_bits, "overflow": self.overflow, "lanes": self.lanes}

    @classmethod
    def from_dict(cls, d):
        """Inverse of ``to_dict``; ``acc_bits`` (32), ``overflow`` ("wrap") and ``lanes`` (1) are optional."""
        if not isinstance(d, dict):
            raise TypeError(f"MAC configuration must be a dict, not {d!r}")
        missing = [k for k in ("a", "w", "out") if k not in d]
        unknown = sorted(set(d) - {"a", "w", "out", "acc_bits", "overflow", "lanes"})
        if missing or unknown:
            raise ValueError(f"MAC configuration needs keys a, w, out (optional acc_bits, overflow, lanes); "
                             f"missing {missing}, unknown {unknown}")
        return cls(from_dict(d["a"]), from_dict(d["w"]), from_dict(d["out"]),
                   d.get("acc_bits", 32), d.get("overflow", "wrap"), d.get("lanes", 1))
