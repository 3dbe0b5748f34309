"""Quantized wrappers of Conv1d, Conv2d, Linear and ConvTranspose2d, in fp32 or exact (integer datapath) mode."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..formats import from_dict
from .exact import exact_forward
from .mx import is_mx, mx_forward

__all__ = ["LayerFormats", "QuantLayer", "QUANTIZABLE", "add_unique", "ste_quantize"]

QUANTIZABLE = (nn.Conv2d, nn.Conv1d, nn.Linear, nn.ConvTranspose2d)
GROUPS = ("input", "weight", "bias", "output")


@dataclass(frozen=True)
class LayerFormats:
    """Formats of one layer's four groups; ``None`` leaves a group in float32."""

    input: object = None
    weight: object = None
    bias: object = None
    output: object = None

    def to_dict(self):
        return {g: (f.to_dict() if f is not None else None) for g, f in zip(GROUPS, self._all(), strict=True)}

    @classmethod
    def from_dict(cls, d):
        return cls(**{g: (from_dict(d[g]) if d.get(g) else None) for g in GROUPS})

    def _all(self):
        return (self.input, self.weight, self.bias, self.output)


def add_unique(parent, base, module):
    """Register ``module`` on ``parent`` as ``base``, or ``base_2``, ``base_3`` ... if taken; return the name."""
    name, k = base, 1
    while hasattr(parent, name):
        k += 1
        name = f"{base}_{k}"
    parent.add_module(name, module)
    return name


class _STE(torch.autograd.Function):
    """Quantize forward, identity backward (straight-through estimator)."""

    @staticmethod
    def forward(ctx, x, fmt, rounding, generator):
        return fmt.quantize(x, rounding=rounding, generator=generator)

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None, None


def ste_quantize(x, fmt, rounding="nearest_even", generator=None):
    """``fmt.quantize(x)`` with a straight-through gradient; identity when ``fmt`` is None."""
    if fmt is None:
        return x
    if x.requires_grad:
        return _STE.apply(x, fmt, rounding, generator)
    return fmt.quantize(x, rounding=rounding, generator=generator)


class QuantLayer(nn.Module):
    """A quantized view of ``inner`` (Conv1d, Conv2d, Linear or ConvTranspose2d).

    ``inner`` keeps the full-precision (shadow) parameters. In ``fp32`` mode the
    layer quantizes its input, weights, bias and output and computes in float32,
    like the original Ristretto. In ``exact`` mode it computes what the MAC
    hardware computes (``ristretto.nn.exact``). ``quantize_activations=False``
    leaves input and output in float (fine-tuning as the original did).
    """

    def __init__(self, inner, formats=None):
        super().__init__()
        if not isinstance(inner, QUANTIZABLE):
            raise TypeError(f"QuantLayer wraps Conv1d, Conv2d, Linear or ConvTranspose2d, not {type(inner).__name__}")
        self.inner = inner
        self.formats = formats or LayerFormats()
        self.mode = "fp32"
        self.rounding = "nearest_even"
        self.generator = None
        self.quantize_activations = True
        self.observer = None  # callable(layer, group, tensor) during calibration
        # exact mode: the unit's options (ristretto.datapath.layer_unit)
        self.acc_bits = "bound"  # fixed-point sums: width that never overflows, or an int
        self.overflow = "wrap"
        self.accumulator = "auto"  # minifloat: exact fixed-point sum (<= 8-bit operands) or fp32 adders
        self.lanes = 1  # products per cycle of the dot-product unit (its adder tree's order)
        self.overflows = 0  # exact mode: outputs whose exact sum did not fit the accumulator, since last reset

    @property
    def kind(self):
        """``conv`` or ``fc`` (the paper's weight groups)."""
        return "fc" if isinstance(self.inner, nn.Linear) else "conv"

    def _op(self, x, w, b):
        m = self.inner
        if isinstance(m, nn.Linear):
            return F.linear(x, w, b)
        if isinstance(m, nn.ConvTranspose2d):
            return F.conv_transpose2d(x, w, b, m.stride, m.padding, m.output_padding, m.groups, m.dilation)
        return m._conv_forward(x, w, b)  # Conv1d/Conv2d with any padding mode, as the module itself computes

    def forward(self, x):
        m, f = self.inner, self.formats
        if self.observer is not None:
            self.observer(self, "input", x)
            self.observer(self, "weight", m.weight)
            if m.bias is not None:
                self.observer(self, "bias", m.bias)
            y = self._op(x, m.weight, m.bias)
            self.observer(self, "output", y)
            return y
        if is_mx(f):  # blocks along each dot product, both modes (ristretto.nn.mx)
            return mx_forward(self, x)
        if self.mode == "exact":
            return exact_forward(self, x)
        acts = self.quantize_activations
        xq = ste_quantize(x, f.input, self.rounding, self.generator) if acts else x
        wq = self._param(m.weight, f.weight)
        bq = self._param(m.bias, f.bias) if m.bias is not None else None
        y = self._op(xq, wq, bq)
        if not acts or f.output is None:
            return y
        if not torch.is_grad_enabled() and self.rounding != "stochastic" and y.is_contiguous():
            return f.output.quantize(y, rounding=self.rounding, out=y)  # y is ours: quantize in place
        return ste_quantize(y, f.output, self.rounding, self.generator)

    def _param(self, p, fmt):
        """Quantized parameter; in inference it is cached until the parameter or its format changes."""
        if torch.is_grad_enabled() or self.rounding == "stochastic" or fmt is None:
            return ste_quantize(p, fmt, self.rounding, self.generator)
        key = (p.data_ptr(), p._version, fmt, self.rounding, p.device)
        cache = self.__dict__.setdefault("_qcache", {})
        if cache.get(id(p), (None,))[0] != key:
            cache[id(p)] = (key, fmt.quantize(p.detach(), rounding=self.rounding))
        return cache[id(p)][1]

    def extra_repr(self):
        return ", ".join(f"{g}={getattr(self.formats, g).slug if getattr(self.formats, g) else 'float'}"
                         for g in GROUPS) + f", mode={self.mode}"
