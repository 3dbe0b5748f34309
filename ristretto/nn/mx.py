"""A layer in MX formats: blocks along the reduction axis of each dot product, in both modes.

The unit takes a dot product's operands in the order input channel, kernel row,
kernel column (``ristretto.nn.exact``); MX blocks of ``block_size`` run along
that order, for the weights (each output channel's row) and for the inputs
(each output position's column, as the unit receives it). A partial last block
is a block of the elements it has. The bias and the output stay float32: the
MX dot product accumulates in float32, and the next layer quantizes its own
input.

- ``fp32`` mode: weights and columns quantized to MX (each element times its
  block's scale, ``MXFormat.quantize``), then a float32 matmul and the bias.
  Gradients pass straight through the quantizers (fine-tuning).
- ``exact`` mode: ``ristretto.datapath.mx``: exact block sums, the two scales
  applied and rounded once to float32, accumulated in float32 in block order
  after the bias.
"""

import torch

from ..datapath.mx import block_value, element_ints, exact_bits
from ..formats import MXFormat

__all__ = ["is_mx", "mx_forward", "mx_operands"]


def is_mx(formats):
    """Whether a layer's formats are MX (weight and input both ``MXFormat``)."""
    return isinstance(formats.weight, MXFormat) or isinstance(formats.input, MXFormat)


class _MXSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fmt, axis):
        return fmt.quantize(x, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None


def mx_operands(layer, x):
    """Columns ``[N, G, K/G, L]``, weight rows ``[G, O/G, K/G]`` and what reshaping the output needs."""
    from .exact import _columns, _geometry, _grouped, _kernel

    g = _geometry(layer.inner)
    cols, size = _columns(g, x)
    cg, wg = _grouped(g, cols, _kernel(g, layer.inner.weight))
    return cg, wg, g, size


def _check(layer):
    f = layer.formats
    both = isinstance(f.input, MXFormat) and isinstance(f.weight, MXFormat)
    if not both and (layer.mode == "exact" or any(g is not None and not isinstance(g, MXFormat)
                                                  for g in (f.input, f.weight))):
        raise ValueError(f"an MX layer needs MX formats for input and weight (fp32 mode: or float), not "
                         f"{layer.extra_repr()}")
    if both and f.input.block_size != f.weight.block_size:
        raise ValueError(f"MX input and weight blocks differ ({f.input.block_size} vs {f.weight.block_size}) in "
                         f"{layer.extra_repr()}; a dot product pairs blocks of one size")
    if f.bias is not None or f.output is not None:
        raise ValueError(f"an MX layer keeps bias and output in float32 (the dot product accumulates in float32), "
                         f"not {layer.extra_repr()}")


def mx_forward(layer, x):
    """The layer's output (float32) in its mode (``fp32`` or ``exact``)."""
    from .exact import _reshape_out

    _check(layer)
    f, m = layer.formats, layer.inner
    if layer.mode != "exact" and _pointwise(m):
        return _pointwise_fp32(layer, x)
    cg, wg, g, size = mx_operands(layer, x)  # blocks run along K (axis 2 of the columns, -1 of the weights)
    n, groups, per, length = cg.shape[0], wg.shape[0], wg.shape[1], cg.shape[3]
    bias = m.bias.reshape(groups, per)[None, :, :, None] if m.bias is not None else None
    if layer.mode == "exact":
        y = _exact(f, cg.detach(), wg.detach(), None if bias is None else bias.detach())
    else:
        cq = _quant(cg, f.input if layer.quantize_activations else None, 2)
        wq = _quant(wg, f.weight, -1)
        y = torch.einsum("gok,ngkl->ngol", wq, cq)
        if bias is not None:
            y = y + bias
    return _reshape_out(g, y.reshape(n, groups * per, length), x, size)


def _pointwise(m):
    """A Linear, or a 1x1 Conv1d/Conv2d with zero padding: each dot product reads one position's channels."""
    if isinstance(m, torch.nn.Linear):
        return True
    return (isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)) and all(k == 1 for k in m.kernel_size)
            and m.padding_mode == "zeros")


def _quant(t, fmt, axis):
    if fmt is None:
        return t
    return _MXSTE.apply(t, fmt, axis) if t.requires_grad else fmt.quantize(t, axis=axis)


def _pointwise_fp32(layer, x):
    """fp32 mode of a pointwise layer without columns: its K order is the channel order, so the blocks run along
    each position's channels (within a group) of the input itself, and the module's own op computes the rest;
    the quantized operands are the columns' (a zero-padded position is a block of zeros either way)."""
    f, m = layer.formats, layer.inner
    wq = _quant(m.weight, f.weight, 1)  # [O, C/G(, 1, 1)]: blocks along each output channel's inputs
    xq = x
    if layer.quantize_activations and f.input is not None:
        if isinstance(m, torch.nn.Linear):
            xq = _quant(x, f.input, -1)
        else:
            n, c = x.shape[0], x.shape[1]
            xg = x.reshape(n, m.groups, c // m.groups, *x.shape[2:])
            xq = _quant(xg, f.input, 2).reshape(x.shape)
    return layer._op(xq, wq, m.bias)


def _exact(f, cg, wg, bias):
    need = exact_bits(f.input, f.weight)
    if need > 53:
        raise NotImplementedError(f"exact mode sums MX blocks exactly in float64 (53 bits); {f.input.slug} x "
                                  f"{f.weight.slug} block sums need {need} bits: use mode fp32 for these elements")
    a_codes, a_scales = f.input.encode(cg.float(), axis=2)  # [N, G, K, L], [N, G, nb, L]
    w_codes, w_scales = f.weight.encode(wg.float(), axis=-1)  # [G, O, K], [G, O, nb]
    qa, fa = element_ints(f.input.element, a_codes)
    qw, fw = element_ints(f.weight.element, w_codes)
    n, groups, per, length = cg.shape[0], wg.shape[0], wg.shape[1], cg.shape[3]
    acc = torch.full((n, groups, per, length), -0.0, dtype=torch.float32)
    if bias is not None:
        acc = torch.broadcast_to(bias.float(), acc.shape).clone()
    bs, k = f.weight.block_size, wg.shape[2]
    for b, k0 in enumerate(range(0, k, bs)):
        # exact integer block sums (float64 holds them: |S| < 2**53), one einsum per block
        s = torch.einsum("gok,ngkl->ngol", qw[:, :, k0:k0 + bs], qa[:, :, k0:k0 + bs])
        sa, sw = a_scales[:, :, b, None, :], w_scales[None, :, :, b, None]
        acc = acc + block_value(s, sa, sw, fa, fw)
    return acc
