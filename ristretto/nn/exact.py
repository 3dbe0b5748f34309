"""Exact mode: a layer computed as the MAC hardware computes it, through ``ristretto.datapath``.

Integer families (DFP or power-of-two weights, DFP activations and output):
integer codes, products at the accumulator scale, the bias preloaded into the
accumulator (rounded to its scale, nearest even), the accumulator's overflow
policy, then the output requantizer. Minifloat: exact products accumulated in
float32 one at a time in a fixed order (bias first, then input channel, kernel
row, kernel column), then rounded to the output minifloat.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..datapath import IntMacConfig
from ..formats import DynamicFixedPoint, Minifloat, PowerOfTwo
from ..formats.rounding import round_shift

__all__ = ["exact_forward", "fan_in", "integer_terms", "layer_mac_config"]

_EXACT_F64 = 2.0**52  # float64 sums of integers below this are exact


def layer_mac_config(layer, acc_bits=32, overflow="wrap"):
    """The ``IntMacConfig`` of an integer-family layer (raises for others)."""
    f = layer.formats
    if not (isinstance(f.input, DynamicFixedPoint) and isinstance(f.output, DynamicFixedPoint)
            and isinstance(f.weight, (DynamicFixedPoint, PowerOfTwo))):
        raise ValueError(f"Not an integer-family layer: {layer.extra_repr()}")
    return IntMacConfig(f.input, f.weight, f.output, acc_bits=acc_bits, overflow=overflow)


@dataclass(frozen=True)
class _Geometry:
    """A layer as the MAC array sees it: linear, or a 2-D convolution (a Conv1d is one of height 1)."""

    kind: str  # "linear", "conv" or "transposed"
    kernel_size: tuple = (1, 1)
    stride: tuple = (1, 1)
    padding: tuple = (0, 0, 0, 0)  # left, right, top, bottom (conv); symmetric (h, w) pairs (transposed)
    dilation: tuple = (1, 1)
    output_padding: tuple = (0, 0)
    groups: int = 1
    one_d: bool = False


def _geometry(m):
    if isinstance(m, nn.Linear):
        return _Geometry("linear")
    if isinstance(m, nn.ConvTranspose2d):
        return _Geometry("transposed", tuple(m.kernel_size), tuple(m.stride), tuple(m.padding), tuple(m.dilation),
                         tuple(m.output_padding), m.groups)
    pad = m._reversed_padding_repeated_twice  # (last dim left, right, ...) for int and 'same'/'valid' padding
    if isinstance(m, nn.Conv1d):
        return _Geometry("conv", (1, m.kernel_size[0]), (1, m.stride[0]), (pad[0], pad[1], 0, 0),
                         (1, m.dilation[0]), groups=m.groups, one_d=True)
    return _Geometry("conv", tuple(m.kernel_size), tuple(m.stride), tuple(pad), tuple(m.dilation), groups=m.groups)


def _transposed_as_conv(g, x):
    """A ConvTranspose2d input as the input of the equivalent stride-1 convolution.

    Zeros are stuffed between the inputs (stride), the border is padded by
    ``dilation * (k - 1) - padding`` (negative crops) plus ``output_padding``
    at the end. Their products are zero, so they change no sum.
    """
    n, c, h, w = x.shape
    s, d, k, p, op = g.stride, g.dilation, g.kernel_size, g.padding, g.output_padding
    up = x.new_zeros(n, c, (h - 1) * s[0] + 1, (w - 1) * s[1] + 1)
    up[:, :, ::s[0], ::s[1]] = x
    e = [d[i] * (k[i] - 1) - p[i] for i in (0, 1)]
    return F.pad(up, (e[1], e[1] + op[1], e[0], e[0] + op[0]))


def _kernel(g, w):
    """The weight as [out, K] rows in the MAC's order (a transposed kernel flipped and channel-swapped)."""
    if g.kind == "transposed":
        w = w.flip(2, 3).transpose(0, 1)
    return w.reshape(w.shape[0], -1)


def _padded(g, x):
    """The conv input [N, C, H, W] with its zero border (1-D inputs get a height of 1)."""
    if g.one_d:
        x = x.unsqueeze(2)
    if g.kind == "transposed":
        return _transposed_as_conv(g, x)
    return F.pad(x, g.padding) if any(g.padding) else x


def _columns(g, x):
    """Inputs as [N, K, L] columns (conv) or [N, K, 1] (linear), K in the MAC's order; and the output size."""
    if g.kind == "linear":
        return x.reshape(-1, x.shape[-1], 1), None
    xp = _padded(g, x)
    stride = (1, 1) if g.kind == "transposed" else g.stride
    size = tuple((xp.shape[2 + i] - g.dilation[i] * (g.kernel_size[i] - 1) - 1) // stride[i] + 1 for i in (0, 1))
    return F.unfold(xp, g.kernel_size, g.dilation, 0, stride), size


def _reshape_out(g, y, x, size):
    if g.kind == "linear":
        return y[..., 0].reshape(*x.shape[:-1], y.shape[1])
    y = y.reshape(y.shape[0], y.shape[1], *size)
    return y[:, :, 0, :] if g.one_d else y


def _check(layer):
    m = layer.inner
    if isinstance(m, nn.ConvTranspose2d) and m.groups != 1:
        raise NotImplementedError("exact mode supports grouped Conv2d but not grouped ConvTranspose2d; use mode fp32")
    if not isinstance(m, nn.Linear) and m.padding_mode != "zeros":
        raise NotImplementedError(f"exact mode supports zero padding only, not padding_mode {m.padding_mode!r}; "
                                  "use mode fp32")
    f = layer.formats
    if None in (f.input, f.weight, f.output) or (m.bias is not None and f.bias is None):
        raise ValueError(f"exact mode needs formats for every group of the layer, not {layer.extra_repr()}")


def _grouped(g, cols, wmat):
    """Columns [N, G, K/G, L] and weights [G, O/G, K/G]: each output channel sees its group's inputs."""
    return cols.reshape(cols.shape[0], g.groups, -1, cols.shape[2]), wmat.reshape(g.groups, wmat.shape[0] // g.groups,
                                                                                   -1)


def fan_in(layer):
    """Products summed per output of a layer (its MAC's dot-product length)."""
    m = layer.inner
    if isinstance(m, nn.Linear):
        return m.in_features
    k = 1
    for d in m.kernel_size:
        k *= d
    return m.in_channels // m.groups * k


def integer_terms(layer, x, acc_frac):
    """The integer dot products of a layer: columns ``[N, G, K/G, L]``, weights ``[G, O/G, K/G]`` (float64
    holding integers: activation codes and weight integers at the accumulator scale), the bias preload
    ``[1, G, O/G, 1]`` (int64) and what ``_reshape_out`` needs."""
    f, m = layer.formats, layer.inner
    a = f.input.encode(x.detach())
    wc = f.weight.encode(m.weight.detach())
    if isinstance(f.weight, PowerOfTwo):  # the integer the shifter multiplies by: 1 << (e - exp_min), signed
        w_int = IntMacConfig(f.input, f.weight, f.output, acc_bits=53).products(torch.ones_like(wc), wc)
    else:
        w_int = wc
    g = _geometry(m)
    cols, size = _columns(g, a.double())  # [N, K, L]
    wmat = _kernel(g, w_int).double()  # [O, K]
    acc0 = torch.zeros(wmat.shape[0], dtype=torch.int64, device=cols.device)
    if m.bias is not None:
        acc0 = round_shift(f.bias.encode(m.bias.detach()), f.bias.frac_bits - acc_frac)
    cg, wg = _grouped(g, cols, wmat)
    b0 = acc0.reshape(wg.shape[0], wg.shape[1])[None, :, :, None]
    return cg, wg, b0, (g, size)


def _integer_forward(layer, x):
    f = layer.formats
    cfg = layer_mac_config(layer, layer.acc_bits, layer.overflow)
    acc_fmt = cfg.accumulator
    cg, wg, b0, (g, size) = integer_terms(layer, x, acc_fmt.frac_bits)
    n, groups, per, length = cg.shape[0], wg.shape[0], wg.shape[1], cg.shape[3]
    bound = float(cg.abs().amax()) * float(wg.abs().sum(2).amax()) + float(b0.abs().max())
    exact = None
    if bound < _EXACT_F64:  # float64 sums of integers are exact below 2**52, in any order
        exact = torch.einsum("gok,ngkl->ngol", wg, cg).round().to(torch.int64) + b0
        layer.overflows += int(((exact < acc_fmt.min_code) | (exact > acc_fmt.max_code)).sum())
    if acc_fmt.overflow == "wrap" and exact is not None:
        acc = acc_fmt.fit(exact)  # modular sums do not depend on the order
    else:  # saturation depends on the order: accumulate one product at a time
        acc = acc_fmt.fit(b0.expand(n, -1, -1, length).clone())
        ci, wi = cg.to(torch.int64), wg.to(torch.int64)
        for k in range(ci.shape[2]):
            acc = acc_fmt.fit(acc + wi[None, :, :, k, None] * ci[:, :, None, k, :])
    y = f.output.decode(cfg.output(acc.reshape(n, groups * per, -1)))
    return _reshape_out(g, y, x, size)


def _minifloat_forward(layer, x):
    f, m = layer.formats, layer.inner
    a = f.input.quantize(x.detach().float())
    w = f.weight.quantize(m.weight.detach().float())
    g = _geometry(m)
    cols, size = _columns(g, a)  # [N, K, L] float32
    cg, wg = _grouped(g, cols, _kernel(g, w))
    n, groups, per = cols.shape[0], wg.shape[0], wg.shape[1]
    acc = torch.zeros(n, groups, per, cols.shape[2], device=cols.device)
    if m.bias is not None:
        acc += f.bias.quantize(m.bias.detach().float()).reshape(groups, per)[None, :, :, None]
    for k in range(cg.shape[2]):  # products are exact in float32; each sum rounds once (RNE)
        acc = acc + wg[None, :, :, k, None] * cg[:, :, None, k, :]
    return _reshape_out(g, f.output.quantize(acc.reshape(n, groups * per, -1)), x, size)


def exact_forward(layer, x):
    """The layer's output as the hardware computes it (float32 tensor of output-format values)."""
    _check(layer)
    f = layer.formats
    if all(isinstance(g, Minifloat) for g in (f.input, f.weight, f.output)):
        return _minifloat_forward(layer, x)
    return _integer_forward(layer, x)
