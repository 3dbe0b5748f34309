"""TorchScript models as ordinary modules: the frozen graph replayed op by op in Python.

Convolutions and linear layers of the graph become ``nn.Conv2d``,
``nn.ConvTranspose2d`` and ``nn.Linear`` submodules (named after their weights),
so the flow can wrap, calibrate, quantize and fine-tune them like any model.
Every other ``aten`` operation runs as recorded. Graphs with control flow are
refused with a clear error.
"""

import re

import torch
from torch import nn

from .layers import add_unique

__all__ = ["ScriptGraph"]

_PRIMS = ("prim::ListConstruct", "prim::TupleConstruct", "prim::ListUnpack", "prim::TupleUnpack",
          "prim::NumToTensor")


class ScriptGraph(nn.Module):
    """A traced or scripted CNN (``torch.jit``) as a module with swappable layers.

    Raises
    ------
    TypeError
        For graph nodes other than constants, ``aten`` operations and list/tuple
        packing (e.g. ``prim::If`` or ``prim::Loop``), or a layer whose
        parameters are not constants of the frozen graph.
    """

    def __init__(self, script_module):
        super().__init__()
        graph = torch.jit.freeze(script_module.eval()).graph
        self._inputs = [v.debugName() for v in list(graph.inputs())[1:]]  # the first is self
        self._outputs = [v.debugName() for v in graph.outputs()]
        self._consts, self._steps, self._float_ops = {}, [], []
        for node in graph.nodes():
            kind, ins = node.kind(), [v.debugName() for v in node.inputs()]
            outs = [v.debugName() for v in node.outputs()]
            if kind == "prim::Constant":
                self._consts[outs[0]] = node.output().toIValue()
            elif kind in ("aten::_convolution", "aten::conv2d", "aten::conv_transpose2d", "aten::linear"):
                name = self._add_layer(kind, ins)
                self._steps.append(("layer", name, ins[:1], outs))
            elif kind in _PRIMS:
                self._steps.append((kind, None, ins, outs))
            elif kind.startswith("aten::"):
                schema = node.schema()
                parsed = torch._C.parse_schema(schema)
                op = (kind[6:], parsed.overload_name or "default",
                      tuple(a.name if a.kwarg_only else None for a in parsed.arguments))
                self._steps.append(("aten", op, ins, outs))
                weights = [self._consts[i] for i in ins if isinstance(self._consts.get(i), torch.Tensor)
                           and self._consts[i].numel() > 1]
                if weights:  # an op computing with constant tensors (e.g. a BatchNorm freezing could not fold)
                    self._float_ops.append({"name": f"{kind} -> %{outs[0]}", "type": kind,
                                            "parameters": sum(w.numel() for w in weights)})
            else:
                raise TypeError(f"TorchScript node {kind} is not supported (only straight-line graphs of aten "
                                "operations, as torch.jit.trace produces); pass the Python model with "
                                "--model package.module:factory instead")

    def float_ops(self):
        """Graph operations that compute with constant tensors and stay in float32 (``unquantized``)."""
        return list(self._float_ops)

    def _const(self, name, what):
        if name not in self._consts:
            raise TypeError(f"The {what} of a TorchScript layer is computed, not a constant; pass the Python model "
                            "with --model package.module:factory instead")
        return self._consts[name]

    def _add_layer(self, kind, ins):
        c = lambda i, what: self._const(ins[i], what)  # noqa: E731
        weight, bias = c(1, "weight"), c(2, "bias")
        if kind == "aten::linear":
            layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        else:
            if kind == "aten::_convolution":
                stride, padding, dilation, transposed, out_pad, groups = (c(i, "parameters") for i in range(3, 9))
            elif kind == "aten::conv2d":
                stride, padding, dilation, groups = (c(i, "parameters") for i in range(3, 7))
                transposed, out_pad = False, (0, 0)
            else:
                stride, padding, out_pad, groups, dilation = (c(i, "parameters") for i in range(3, 8))
                transposed = True
            if weight.ndim != 4:
                raise TypeError(f"Only 2-D convolutions are supported, not a {weight.ndim - 2}-D one")
            if transposed:
                layer = nn.ConvTranspose2d(weight.shape[0], weight.shape[1] * groups, weight.shape[2:], stride,
                                           padding, out_pad, groups, bias is not None, dilation)
            else:
                layer = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], weight.shape[2:], stride, padding,
                                  dilation, groups, bias is not None)
        with torch.no_grad():
            layer.weight.copy_(weight)
            if bias is not None:
                layer.bias.copy_(bias)
        base = re.sub(r"\.weight.*$", "", ins[1].removeprefix("self.")).replace(".", "_") or "layer"
        return add_unique(self, base, layer)

    def forward(self, *args):
        env = dict(self._consts)
        env.update(zip(self._inputs, args, strict=True))
        for kind, what, ins, outs in self._steps:
            vals = [env[i] for i in ins]
            if kind == "layer":
                res = [getattr(self, what)(vals[0])]
            elif kind == "aten":
                name, overload, kw = what
                op = getattr(getattr(torch.ops.aten, name), overload)
                args = [v for v, k in zip(vals, kw, strict=True) if k is None]
                res = [op(*args, **{k: v for v, k in zip(vals, kw, strict=True) if k is not None})]
            elif kind in ("prim::ListConstruct", "prim::TupleConstruct"):
                res = [list(vals) if kind == "prim::ListConstruct" else tuple(vals)]
            elif kind == "prim::NumToTensor":
                res = [torch.scalar_tensor(vals[0])]
            else:  # unpack
                res = list(vals[0])
            if len(outs) == 1 and kind != "prim::ListUnpack" and kind != "prim::TupleUnpack":
                env[outs[0]] = res[0]
            else:
                env.update(zip(outs, res, strict=True))
        out = [env[o] for o in self._outputs]
        return out[0] if len(out) == 1 else tuple(out)
