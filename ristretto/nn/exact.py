"""Exact mode: a layer computed as its unit computes it, through ``ristretto.datapath``.

Which unit computes a layer is ``ristretto.datapath.layer_unit``'s answer, from
the layer's formats and its options (``acc_bits``, ``overflow``,
``accumulator``, ``lanes``). Fixed-point sums (integer families, minifloats
with an exact accumulator): integer products at the accumulator's scale, the
bias preloaded (rounded to its LSB, nearest even), the overflow policy (a
saturating accumulator clamps once per cycle of ``lanes`` products), then the
output requantizer. Float32 sums (minifloats with float32 adders): exact
products, each cycle's ``lanes`` products summed by the float32 adder tree and
added to the running sum (bias first), in the order of
``ristretto.datapath.lanes``, then rounded to the output minifloat. A dot
product's elements run in the order input channel, kernel row, kernel column.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..datapath import IntMacConfig, MinifloatMacConfig, bias_preload, is_fixed_sum, layer_unit, tree_reduce_stream
from ..datapath.mx import MXMacConfig
from ..formats import Minifloat, MXFormat, PowerOfTwo

__all__ = ["exact_forward", "fan_in", "integer_terms", "mac_operands", "unit_of"]

_EXACT_F64 = 2.0**52  # float64 sums of integers below this are exact
_EXACT_F32 = 2.0**24  # and float32 sums below this


def unit_of(layer, **overrides):
    """The unit (MAC configuration) that computes ``layer`` in exact mode, or None (float32 tree, no unit).

    Options come from the layer (``acc_bits``, ``overflow``, ``accumulator``,
    ``lanes``); ``overrides`` replace them. An MX layer's unit is an
    ``MXMacConfig`` (lanes = the block size; the options do not apply), or None
    when only one operand is MX (fp32 mode with float activations).

    Raises
    ------
    ValueError
        For formats no unit takes (e.g. MX e5m2 elements, whose block sums need 70 bits).
    """
    f, m = layer.formats, layer.inner
    if isinstance(f.weight, MXFormat) or isinstance(f.input, MXFormat):
        both = isinstance(f.weight, MXFormat) and isinstance(f.input, MXFormat)
        return MXMacConfig(f.input, f.weight) if both else None  # computed by ristretto.nn.mx
    opts = {"acc_bits": layer.acc_bits, "overflow": layer.overflow, "accumulator": layer.accumulator,
            "lanes": layer.lanes, **overrides}
    return layer_unit(f.input, f.weight, f.output, fan_in=fan_in(layer),
                      bias=f.bias if m.bias is not None else None, **opts)


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


def mac_operands(layer, a_codes, w_codes):
    """Input codes as columns ``[N, K, L]`` and weight codes as rows ``[O, K]``, in the unit's order.

    ``K`` runs over input channel, kernel row, kernel column (the order a dot
    product enters the unit); padding is code 0 (zero in every format the units
    take). Ungrouped layers only (groups have their own columns).
    """
    g = _geometry(layer.inner)
    if g.groups != 1:
        raise ValueError(f"mac_operands takes ungrouped layers, not groups={g.groups}")
    cols, _ = _columns(g, a_codes.double())
    return cols.to(torch.int64), _kernel(g, w_codes)


def fan_in(layer):
    """Products summed per output of a layer (its MAC's dot-product length)."""
    m = layer.inner
    if isinstance(m, nn.Linear):
        return m.in_features
    k = 1
    for d in m.kernel_size:
        k *= d
    return m.in_channels // m.groups * k


def _operand_ints(layer, x, cfg):
    """Input and weight as integers whose products are the accumulator's product codes (float64), in the
    layer's own shapes, and the bias preload ``[O]`` (int64 accumulator codes; zeros without a bias)."""
    f, m = layer.formats, layer.inner
    if isinstance(cfg, MinifloatMacConfig):  # decode(encode(x)) is quantize(x) (tested for every format): no codes
        a_int, w_int = cfg.value_ints(f.input.quantize(x.detach()), f.weight.quantize(m.weight.detach()))
    else:
        a_int = f.input.encode(x.detach()).double()
        wc = f.weight.encode(m.weight.detach())
        # the shifter's integer: 1 << (e - exp_min), signed
        w_int = (cfg.products(torch.ones_like(wc), wc) if isinstance(f.weight, PowerOfTwo) else wc).double()
    g = _geometry(m)
    rows = _kernel(g, w_int).shape[0]
    b = bias_preload(cfg, f.bias, m.bias) if m.bias is not None else \
        torch.zeros(rows, dtype=torch.int64, device=a_int.device)
    return a_int, w_int, b


def integer_terms(layer, x, cfg):
    """The integer dot products of a layer on a fixed-point-summing unit ``cfg``.

    Returns columns ``[N, G, K/G, L]`` and weights ``[G, O/G, K/G]`` (float64
    holding integers whose products are the accumulator's product codes), the
    bias preload ``[1, G, O/G, 1]`` (int64 accumulator codes) and what
    ``_reshape_out`` needs.
    """
    a_int, w_int, acc0 = _operand_ints(layer, x, cfg)
    g = _geometry(layer.inner)
    cols, size = _columns(g, a_int)  # [N, K, L]
    cg, wg = _grouped(g, cols, _kernel(g, w_int))
    b0 = acc0.reshape(wg.shape[0], wg.shape[1])[None, :, :, None]
    return cg, wg, b0, (g, size)


def _sums(layer, a_int, w_int, dtype):
    """Exact dot products ``[N, O, L]`` of integer operands by torch's own conv/linear in ``dtype``.

    Exact when every partial sum is an integer the dtype holds (the caller's
    bound), whatever order the library sums in.
    """
    g = _geometry(layer.inner)
    if g.kind == "linear":
        return F.linear(a_int.to(dtype).reshape(-1, a_int.shape[-1]), w_int.to(dtype))[..., None], None
    xp = _padded(g, a_int.to(dtype))
    k = _kernel(g, w_int)
    wk = k.reshape(k.shape[0], -1, *g.kernel_size).to(dtype)
    stride = (1, 1) if g.kind == "transposed" else g.stride
    y = F.conv2d(xp, wk, None, stride, 0, g.dilation, g.groups)
    return y.reshape(y.shape[0], y.shape[1], -1), tuple(y.shape[2:])


def sum_bound(a_int, w_int, b):
    """The largest magnitude a partial sum can reach in any order (operands and bias preload as from
    ``_operand_ints``), and the dtype whose library convolutions sum exactly below it: float32 below 2**24 on
    the CPU (CUDA may compute float32 convs in TF32), else float64."""
    bound = float(a_int.abs().amax()) * float(w_int.abs().reshape(b.shape[0], -1).sum(1).amax()) + \
        float(b.abs().max())
    return bound, torch.float32 if bound < _EXACT_F32 and a_int.device.type == "cpu" else torch.float64


def _fixed_forward(layer, x, cfg):
    f = layer.formats
    acc_fmt = cfg.accumulator if isinstance(cfg, IntMacConfig) else cfg.acc
    a_int, w_int, b = _operand_ints(layer, x, cfg)
    bound, dtype = sum_bound(a_int, w_int, b)
    frac = acc_fmt.frac_bits
    single = dtype == torch.float32
    if bound <= acc_fmt.max_code and bound < _EXACT_F64:
        # no partial sum can overflow: the exact sum, scaled, is what the requantizer or rounder sees
        sums, size = _sums(layer, a_int, w_int, dtype)
        total = (sums + b.to(sums.dtype)[None, :, None]) * 2.0**-frac
        y = f.output.quantize(total if single else total.double()).float()
        return _reshape_out(_geometry(layer.inner), y, x, size)
    if bound < _EXACT_F64 and acc_fmt.overflow == "wrap":
        # the order cannot matter: one library conv/matmul, float32 where its sums are exact integers
        sums, size = _sums(layer, a_int, w_int, dtype)
        exact = sums.to(torch.int64) + b[None, :, None]
        layer.overflows += int(((exact < acc_fmt.min_code) | (exact > acc_fmt.max_code)).sum())
        acc, g = acc_fmt.fit(exact), _geometry(layer.inner)
    else:
        cg, wg, b0, (g, size) = integer_terms(layer, x, cfg)
        n, groups, per, length = cg.shape[0], wg.shape[0], wg.shape[1], cg.shape[3]
        if bound < _EXACT_F64:  # overflow events counted on the exact sums
            exact = torch.einsum("gok,ngkl->ngol", wg, cg).round().to(torch.int64) + b0
            layer.overflows += int(((exact < acc_fmt.min_code) | (exact > acc_fmt.max_code)).sum())
        # saturation (or sums beyond float64's integers): once per cycle of `lanes` products, in order
        acc = acc_fmt.fit(b0.expand(n, -1, -1, length).clone())
        ci, wi = cg.to(torch.int64), wg.to(torch.int64)
        k_total = ci.shape[2]
        for c0 in range(0, k_total, cfg.lanes):
            c1 = min(k_total, c0 + cfg.lanes)
            if bound < _EXACT_F64:
                step = torch.einsum("gok,ngkl->ngol", wg[:, :, c0:c1], cg[:, :, c0:c1]).round().to(torch.int64)
            else:
                step = sum(wi[None, :, :, k, None] * ci[:, :, None, k, :] for k in range(c0, c1))
            acc = acc_fmt.fit(acc + step)
        acc = acc.reshape(n, groups * per, -1)
    if isinstance(cfg, IntMacConfig):
        y = f.output.decode(cfg.output(acc))
    else:  # the exact sum rounded once to the output minifloat
        y = f.output.quantize(acc.double() * 2.0**-cfg.product_frac_bits).float()
    return _reshape_out(g, y, x, size)


def _float_forward(layer, x, lanes):
    f, m = layer.formats, layer.inner
    a = f.input.quantize(x.detach().float())
    w = f.weight.quantize(m.weight.detach().float())
    g = _geometry(m)
    cols, size = _columns(g, a)  # [N, K, L] float32
    cg, wg = _grouped(g, cols, _kernel(g, w))
    n, groups, per, k_total = cols.shape[0], wg.shape[0], wg.shape[1], cg.shape[2]
    if m.bias is not None:
        acc = f.bias.quantize(m.bias.detach().float()).reshape(groups, per)[None, :, :, None]
        acc = acc.expand(n, -1, -1, cols.shape[2]).clone()
    else:  # -0 is the float identity: the first cycle's sum passes unchanged, as when the unit clears
        acc = torch.full((n, groups, per, cols.shape[2]), -0.0, device=cols.device)
    pad = (-k_total) % lanes
    if pad:  # unused lanes of the last cycle: zero codes, +0 products
        cg, wg = F.pad(cg, (0, 0, 0, pad)), F.pad(wg, (0, pad))
    wk, ck = wg.permute(2, 0, 1)[:, None, :, :, None], cg.permute(2, 0, 1, 3)[:, :, :, None, :]  # K first
    for c0 in range(0, k_total, lanes):  # products are exact in float32; every addition rounds once (RNE)
        # the cycle's adder tree, each product made when the tree needs it (a few tensors alive: cache-sized)
        acc = acc + tree_reduce_stream(lanes, lambda i, c0=c0: wk[c0 + i] * ck[c0 + i], torch.add)
    return _reshape_out(g, f.output.quantize(acc.reshape(n, groups * per, -1)), x, size)


def exact_forward(layer, x):
    """The layer's output as the hardware computes it (float32 tensor of output-format values)."""
    _check(layer)
    f = layer.formats
    cfg = unit_of(layer)
    if cfg is not None and is_fixed_sum(cfg):
        return _fixed_forward(layer, x, cfg)
    if all(isinstance(g, Minifloat) for g in (f.input, f.weight, f.output)):
        return _float_forward(layer, x, layer.lanes)
    raise ValueError(f"exact mode has no datapath for formats {f.input!r} x {f.weight!r} -> {f.output!r} "
                     f"of {layer.extra_repr()}; use one family (fixed point, power-of-two weights or minifloat) "
                     "or mode fp32")
