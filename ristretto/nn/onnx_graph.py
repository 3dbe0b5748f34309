"""ONNX models as ordinary modules: the graph replayed node by node, its layers as quantizable torch modules.

``Conv`` (1-D and 2-D), ``ConvTranspose``, ``Gemm`` and ``MatMul`` with a constant
weight (a following ``Add`` of a constant vector becomes its bias) turn into
``nn.Conv1d``/``nn.Conv2d``/``nn.ConvTranspose2d``/``nn.Linear``;
``BatchNormalization`` into ``nn.BatchNorm1d``/``2d`` (so ``--fold-bn`` folds
it). Every other supported operation runs as a torch function. An unsupported
operation is refused in one line naming the op and the node. Reading an ONNX
file parses a protobuf: nothing in it runs.
"""

import re

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .layers import add_unique

__all__ = ["OnnxGraph", "SUPPORTED_OPS", "load_onnx"]

_LAYERS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization")
_FUNCS = ("Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "Add", "Sub", "Mul", "Div", "Concat", "MaxPool",
          "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Softmax", "LogSoftmax",
          "Identity", "Dropout", "Transpose", "Squeeze", "Unsqueeze", "ReduceMean", "Pad", "Constant", "Cast",
          "Shape", "Gather", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus", "Erf", "Gelu", "Exp", "Log",
          "Sqrt", "Neg", "Abs", "Reciprocal", "Pow", "Max", "Min", "Sum", "Mean", "Slice", "Split", "Resize",
          "Upsample", "ReduceMax", "ReduceSum", "PRelu", "LayerNormalization")
SUPPORTED_OPS = _LAYERS + _FUNCS


class _Unsupported(TypeError):
    pass


def _attrs(node):
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _tensor(t):
    from onnx import numpy_helper

    return torch.from_numpy(np.array(numpy_helper.to_array(t)))


def _pairs(pads, n):
    """ONNX pads [b1..bn, e1..en] as per-dimension (begin, end)."""
    pads = list(pads) if pads else [0] * (2 * n)
    return [(pads[i], pads[i + n]) for i in range(n)]


class OnnxGraph(nn.Module):
    """An ONNX CNN as a module with swappable layers (see the module docstring).

    Raises
    ------
    TypeError
        For an operation outside ``SUPPORTED_OPS`` (naming op and node), a layer
        whose weights are not constants, or attributes this replay cannot honour.
    """

    def __init__(self, model):
        super().__init__()
        graph = model.graph
        self._consts = {i.name: _tensor(i) for i in graph.initializer}
        self._inputs = [i.name for i in graph.input if i.name not in self._consts]
        self._outputs = [o.name for o in graph.output]
        self._steps, self._float_ops, self._made = [], [], {}
        consumers = {}
        for node in graph.node:
            for i in node.input:
                consumers.setdefault(i, []).append(node)
        skip = set()
        for k, node in enumerate(graph.node):
            if id(node) in skip:
                continue
            where = f"node {node.name or k!r} ({node.op_type})"
            op, a = node.op_type, _attrs(node)
            if node.domain not in ("", "ai.onnx"):
                raise _Unsupported(f"ONNX {where} is in domain {node.domain!r}; only standard ONNX operations are "
                                   "supported")
            if op not in SUPPORTED_OPS:
                raise _Unsupported(f"ONNX operation {op} ({where}) is not supported; supported: "
                                   f"{', '.join(SUPPORTED_OPS)}")
            if op == "Constant":
                self._consts[node.output[0]] = self._constant(a, where)
                continue
            if op in _LAYERS and not (op == "MatMul" and node.input[1] not in self._consts):
                if op == "MatMul":
                    bias_add = self._bias_add(node, consumers)
                    if bias_add is not None:
                        skip.add(id(bias_add))
                        layer = self._linear(self._weight(node, 1, where), self._consts[
                            next(i for i in bias_add.input if i != node.output[0])], where)
                        self._add_step("layer", self._register(node, layer), [node.input[0]], [bias_add.output[0]])
                        continue
                layer, pre = self._layer(op, node, a, where)
                inp = [node.input[0]]
                if pre is not None:  # asymmetric padding: zeros added before the layer, which then pads nothing
                    self._add_step("pad", pre, inp, [f"{node.output[0]}/padded"])
                    inp = [f"{node.output[0]}/padded"]
                self._add_step("layer", self._register(node, layer), inp, [node.output[0]])
                continue
            self._add_step("op", (op, a, where), list(node.input), list(node.output))
            weights = [self._consts[i] for i in node.input if i in self._consts and self._consts[i].numel() > 1
                       and self._consts[i].is_floating_point()]
            if weights and op in ("Add", "Sub", "Mul", "Div", "MatMul", "PRelu", "Max", "Min", "Sum", "Mean", "Pow",
                                  "LayerNormalization"):  # stays in float32, as nn.LayerNorm does: listed
                self._float_ops.append({"name": f"{op} {node.name or k}", "type": f"onnx::{op}",
                                        "parameters": sum(w.numel() for w in weights)})

    # -- building ----------------------------------------------------------------------------------
    def _constant(self, a, where):
        if "value" in a:
            return _tensor(a["value"])
        for key, dtype in (("value_float", torch.float32), ("value_int", torch.int64),
                           ("value_floats", torch.float32), ("value_ints", torch.int64)):
            if key in a:
                return torch.tensor(a[key], dtype=dtype)
        raise _Unsupported(f"ONNX {where}: a Constant without a tensor value is not supported")

    def _add_step(self, kind, what, ins, outs):
        self._steps.append((kind, what, ins, outs))
        if kind == "layer":
            self._made[outs[0]] = getattr(self, what)

    def _bias_add(self, node, consumers):
        users = consumers.get(node.output[0], [])
        if len(users) == 1 and users[0].op_type == "Add" and node.output[0] not in self._outputs:
            other = [i for i in users[0].input if i != node.output[0]]
            if len(other) == 1 and other[0] in self._consts and self._consts[other[0]].ndim == 1:
                return users[0]
        return None

    def _weight(self, node, i, where):
        if len(node.input) <= i or node.input[i] not in self._consts:
            raise _Unsupported(f"ONNX {where}: its weight is computed, not a constant initializer")
        return self._consts[node.input[i]].float()

    def _linear(self, w_in_out, bias, where):
        if w_in_out.ndim != 2:
            raise _Unsupported(f"ONNX {where}: a MatMul weight must be 2-D, not {list(w_in_out.shape)}")
        layer = nn.Linear(w_in_out.shape[0], w_in_out.shape[1], bias=bias is not None)
        with torch.no_grad():
            layer.weight.copy_(w_in_out.t())
            if bias is not None:
                layer.bias.copy_(bias.float().reshape(-1))
        return layer

    def _layer(self, op, node, a, where):
        if op == "MatMul":
            return self._linear(self._weight(node, 1, where), None, where), None
        if op == "Gemm":
            if a.get("transA", 0):
                raise _Unsupported(f"ONNX {where}: Gemm with transA=1 is not supported")
            w = self._weight(node, 1, where) * float(a.get("alpha", 1.0))
            w = w.t() if a.get("transB", 0) else w  # [in, out]
            c = self._consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            if len(node.input) > 2 and node.input[2] and c is None:
                raise _Unsupported(f"ONNX {where}: the Gemm bias is computed, not a constant")
            if c is not None and c.numel() not in (1, w.shape[1]):
                raise _Unsupported(f"ONNX {where}: a Gemm bias of shape {list(c.shape)} is not supported")
            bias = None if c is None else (c.float().reshape(-1).expand(w.shape[1]) * float(a.get("beta", 1.0)))
            return self._linear(w, bias, where), None
        if op == "BatchNormalization":
            scale, b, mean, var = (self._weight(node, i, where) for i in range(1, 5))
            # a BatchNorm after a convolution or linear layer gets torch's type, so --fold-bn can fold it
            prev = self._made.get(node.input[0])
            kind = nn.BatchNorm2d if isinstance(prev, nn.Conv2d) else \
                nn.BatchNorm1d if isinstance(prev, (nn.Conv1d, nn.Linear)) else _BatchNorm
            bn = kind(scale.numel(), eps=float(a.get("epsilon", 1e-5)))
            with torch.no_grad():
                bn.weight.copy_(scale)
                bn.bias.copy_(b)
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
            return bn, None
        w = self._weight(node, 1, where)
        bias = self._consts[node.input[2]].float() if len(node.input) > 2 and node.input[2] else None
        if len(node.input) > 2 and node.input[2] and node.input[2] not in self._consts:
            raise _Unsupported(f"ONNX {where}: its bias is computed, not a constant initializer")
        dims = w.ndim - 2
        if dims not in (1, 2):
            raise _Unsupported(f"ONNX {where}: only 1-D and 2-D convolutions are supported, not {dims}-D")
        stride = tuple(a.get("strides", [1] * dims))
        dilation = tuple(a.get("dilations", [1] * dims))
        groups = int(a.get("group", 1))
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if op == "ConvTranspose":
            if dims != 2 or auto not in ("NOTSET", "VALID") or "output_shape" in a:
                raise _Unsupported(f"ONNX {where}: ConvTranspose is supported in 2-D with explicit pads only")
            pairs = _pairs(a.get("pads"), 2)
            if any(p0 != p1 for p0, p1 in pairs):
                raise _Unsupported(f"ONNX {where}: ConvTranspose with asymmetric pads is not supported")
            layer = nn.ConvTranspose2d(w.shape[0], w.shape[1] * groups, tuple(w.shape[2:]), stride,
                                       tuple(p for p, _ in pairs), tuple(a.get("output_padding", [0, 0])), groups,
                                       bias is not None, dilation)
            pre = None
        else:
            if auto in ("SAME_UPPER", "SAME_LOWER"):
                if any(s != 1 for s in stride):
                    raise _Unsupported(f"ONNX {where}: auto_pad {auto} with strides is not supported; export with "
                                       "explicit pads")
                total = [d * (k - 1) for d, k in zip(dilation, w.shape[2:], strict=True)]
                lo = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in total]
                pairs = [(p, t - p) for p, t in zip(lo, total, strict=True)]
            elif auto in ("NOTSET", "VALID"):
                pairs = _pairs(a.get("pads") if auto == "NOTSET" else None, dims)
            else:
                raise _Unsupported(f"ONNX {where}: auto_pad {auto!r} is not supported")
            symmetric = all(p0 == p1 for p0, p1 in pairs)
            conv = nn.Conv1d if dims == 1 else nn.Conv2d
            layer = conv(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride,
                         tuple(p for p, _ in pairs) if symmetric else 0, dilation, groups, bias is not None)
            pre = None if symmetric else tuple(v for p0, p1 in reversed(pairs) for v in (p0, p1))
        with torch.no_grad():
            layer.weight.copy_(w)
            if bias is not None:
                layer.bias.copy_(bias)
        return layer, pre

    def _register(self, node, layer):
        source = node.input[1] if node.op_type != "BatchNormalization" else node.input[1]
        base = re.sub(r"\.(weight|bias|scale)$", "", source)
        base = re.sub(r"[^0-9A-Za-z_]", "_", base).strip("_") or node.op_type.lower()
        if base[0].isdigit():
            base = f"{node.op_type.lower()}_{base}"
        return add_unique(self, base, layer)

    def float_ops(self):
        """Graph operations that compute with constant tensors and stay in float32 (``unquantized``)."""
        return list(self._float_ops)

    # -- running -----------------------------------------------------------------------------------
    def fold_batchnorm(self):
        """A copy with each BatchNormalization folded into the layer that feeds only it (``--fold-bn``)."""
        import copy
        from collections import Counter

        from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

        g = copy.deepcopy(self)
        uses = Counter(i for _, _, ins, _ in g._steps for i in ins) + Counter(g._outputs)
        steps = []
        for kind, what, ins, outs in g._steps:
            prev = steps[-1] if steps else None
            bn = getattr(g, what) if kind == "layer" else None
            if isinstance(bn, nn.modules.batchnorm._BatchNorm) and prev and prev[0] == "layer" and \
                    prev[3][0] == ins[0] and uses[ins[0]] == 1:
                layer = getattr(g, prev[1])
                if isinstance(layer, nn.Linear) and bn.num_features == layer.out_features:
                    fused = fuse_linear_bn_eval(layer, bn)
                elif isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
                    fused = fuse_conv_bn_eval(layer, bn, transpose=isinstance(layer, nn.ConvTranspose2d))
                else:
                    steps.append((kind, what, ins, outs))
                    continue
                setattr(g, prev[1], fused)
                delattr(g, what)
                steps[-1] = (prev[0], prev[1], prev[2], outs)
                continue
            steps.append((kind, what, ins, outs))
        g._steps = steps
        return g.eval()

    def forward(self, *args):
        env = dict(self._consts)
        env.update(zip(self._inputs, args, strict=True))
        for kind, what, ins, outs in self._steps:
            if kind == "layer":
                env[outs[0]] = getattr(self, what)(env[ins[0]])
            elif kind == "pad":
                env[outs[0]] = F.pad(env[ins[0]], what)
            else:
                res = _run(what, [env[i] if i else None for i in ins])
                for o, r in zip(outs, res if isinstance(res, tuple) else (res,), strict=False):
                    env[o] = r
        out = [env[o] for o in self._outputs]
        return out[0] if len(out) == 1 else tuple(out)


class _BatchNorm(nn.modules.batchnorm._BatchNorm):
    """ONNX BatchNormalization (inference): any input rank from [N, C] up."""

    def _check_input_dim(self, x):
        if x.ndim < 2:
            raise ValueError(f"BatchNormalization expects [N, C, ...], not {list(x.shape)}")


def _s(value):
    return value.decode() if isinstance(value, bytes) else value


def _ints(t):
    return [int(v) for v in (t.tolist() if isinstance(t, torch.Tensor) else t)]


def _pool(op, x, a):
    k = tuple(a["kernel_shape"])
    dims = len(k)
    pairs = _pairs(a.get("pads"), dims)
    stride = tuple(a.get("strides", [1] * dims))
    ceil = bool(a.get("ceil_mode", 0))
    if any(p0 != p1 for p0, p1 in pairs):
        fill = float("-inf") if op == "MaxPool" else 0.0
        x = F.pad(x, tuple(v for p0, p1 in reversed(pairs) for v in (p0, p1)), value=fill)
        pad = 0
    else:
        pad = tuple(p for p, _ in pairs)
    if op == "MaxPool":
        f = F.max_pool1d if dims == 1 else F.max_pool2d
        return f(x, k, stride, pad, tuple(a.get("dilations", [1] * dims)), ceil)
    f = F.avg_pool1d if dims == 1 else F.avg_pool2d
    return f(x, k, stride, pad, ceil, bool(a.get("count_include_pad", 0)))


def _run(what, v):
    op, a, where = what
    x = v[0]
    if op in ("Identity", "Dropout"):
        return x
    if op == "Relu":
        return torch.relu(x)
    if op == "Sigmoid":
        return torch.sigmoid(x)
    if op == "Tanh":
        return torch.tanh(x)
    if op == "LeakyRelu":
        return F.leaky_relu(x, float(a.get("alpha", 0.01)))
    if op == "Clip":
        lo = v[1] if len(v) > 1 and v[1] is not None else a.get("min")
        hi = v[2] if len(v) > 2 and v[2] is not None else a.get("max")
        return torch.clamp(x, None if lo is None else float(lo), None if hi is None else float(hi))
    if op in ("Add", "Sub", "Mul", "Div"):
        return {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[op](x, v[1])
    if op == "Concat":
        return torch.cat([t for t in v if t is not None], int(a["axis"]))
    if op in ("MaxPool", "AveragePool"):
        return _pool(op, x, a)
    if op == "GlobalAveragePool":
        return x.mean(tuple(range(2, x.ndim)), keepdim=True)
    if op == "GlobalMaxPool":
        return x.amax(tuple(range(2, x.ndim)), keepdim=True)
    if op == "Flatten":
        axis = int(a.get("axis", 1)) % max(x.ndim, 1)
        return x.reshape(1, -1) if axis == 0 else x.flatten(axis).flatten(0, axis - 1)
    if op == "Reshape":
        shape = _ints(v[1])
        shape = [x.shape[i] if s == 0 and not a.get("allowzero", 0) else s for i, s in enumerate(shape)]
        return x.reshape(shape)
    if op == "LayerNormalization":  # over the axes from `axis` on; Scale and B broadcast (opset 17)
        dims = tuple(range(int(a.get("axis", -1)) % x.ndim, x.ndim))
        mean = x.mean(dims, keepdim=True)
        y = (x - mean) / torch.sqrt((x - mean).square().mean(dims, keepdim=True) + float(a.get("epsilon", 1e-5)))
        return y * v[1] + (v[2] if len(v) > 2 and v[2] is not None else 0)
    if op in ("Softmax", "LogSoftmax"):
        f = torch.softmax if op == "Softmax" else torch.log_softmax
        return f(x, int(a.get("axis", -1)))
    if op == "Transpose":
        return x.permute(*a["perm"]) if "perm" in a else x.permute(*reversed(range(x.ndim)))
    if op in ("Squeeze", "Unsqueeze"):
        axes = _ints(v[1]) if len(v) > 1 and v[1] is not None else list(a.get("axes", []))
        if op == "Squeeze":
            return x.squeeze(tuple(axes)) if axes else x.squeeze()
        for ax in sorted(ax % (x.ndim + len(axes)) for ax in axes):
            x = x.unsqueeze(ax)
        return x
    if op == "ReduceMean":
        axes = _ints(v[1]) if len(v) > 1 and v[1] is not None else list(a.get("axes", range(x.ndim)))
        return x.mean(tuple(axes), keepdim=bool(a.get("keepdims", 1)))
    if op == "Pad":
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        pads = _ints(v[1]) if len(v) > 1 and v[1] is not None else list(a["pads"])
        value = float(v[2]) if len(v) > 2 and v[2] is not None else float(a.get("value", 0.0))
        n = x.ndim
        pt = [p for i in reversed(range(n)) for p in (pads[i], pads[i + n])]
        while len(pt) > 2 and pt[-2:] == [0, 0]:  # torch pads only the last dims in reflect/edge modes
            pt = pt[:-2]
        return F.pad(x, pt, mode=mode if mode != "edge" else "replicate", value=value if mode == "constant" else None)
    if op == "Cast":
        return x
    unary = {"Elu": lambda t: F.elu(t, float(a.get("alpha", 1.0))), "Softplus": F.softplus, "Erf": torch.erf,
             "Exp": torch.exp, "Log": torch.log, "Sqrt": torch.sqrt, "Neg": torch.neg, "Abs": torch.abs,
             "Reciprocal": torch.reciprocal,
             "Selu": lambda t: float(a.get("gamma", 1.0507009873554805)) * F.elu(t, float(a.get("alpha",
                                                                                         1.6732632423543772))),
             "HardSigmoid": lambda t: torch.clamp(float(a.get("alpha", 0.2)) * t + float(a.get("beta", 0.5)), 0, 1),
             "HardSwish": lambda t: t * torch.clamp(t / 6 + 0.5, 0, 1),
             "Gelu": lambda t: F.gelu(t, approximate="tanh" if _s(a.get("approximate", b"none")) == "tanh"
                                      else "none")}
    if op in unary:
        return unary[op](x)
    if op == "PRelu":
        return torch.where(x >= 0, x, x * v[1])
    if op == "Pow":
        return torch.pow(x, v[1])
    if op in ("Max", "Min", "Sum", "Mean"):
        out = v[0]
        for t in v[1:]:
            out = torch.maximum(out, t) if op == "Max" else torch.minimum(out, t) if op == "Min" else out + t
        return out / len(v) if op == "Mean" else out
    if op in ("ReduceMax", "ReduceSum"):
        axes = _ints(v[1]) if len(v) > 1 and v[1] is not None else list(a.get("axes", range(x.ndim)))
        keep = bool(a.get("keepdims", 1))
        return x.amax(tuple(axes), keepdim=keep) if op == "ReduceMax" else x.sum(tuple(axes), keepdim=keep)
    if op == "Slice":
        starts, ends = _ints(v[1]), _ints(v[2])
        axes = _ints(v[3]) if len(v) > 3 and v[3] is not None else list(range(len(starts)))
        steps = _ints(v[4]) if len(v) > 4 and v[4] is not None else [1] * len(starts)
        idx = [slice(None)] * x.ndim
        for s0, e0, ax, st in zip(starts, ends, axes, steps, strict=True):
            if st < 1:
                raise TypeError(f"ONNX {where}: Slice with a negative step is not supported")
            idx[ax] = slice(s0, min(e0, 2**62), st)
        return x[tuple(idx)]
    if op == "Split":
        axis = int(a.get("axis", 0))
        sizes = _ints(v[1]) if len(v) > 1 and v[1] is not None else a.get("split")
        if sizes is None:
            n = int(a.get("num_outputs", 0)) or None
            if n is None:
                raise TypeError(f"ONNX {where}: Split needs its sizes or num_outputs")
            return tuple(torch.tensor_split(x, n, axis))
        return tuple(torch.split(x, list(sizes), axis))
    if op in ("Resize", "Upsample"):
        mode = _s(a.get("mode", b"nearest"))
        scales = v[2] if op == "Resize" and len(v) > 2 and v[2] is not None and v[2].numel() else \
            (v[1] if op == "Upsample" else None)
        sizes = v[3] if op == "Resize" and len(v) > 3 and v[3] is not None else None
        coord = _s(a.get("coordinate_transformation_mode", b"half_pixel"))
        if mode == "nearest" and scales is not None and all(float(s).is_integer() for s in scales.tolist()):
            return F.interpolate(x, scale_factor=tuple(float(s) for s in scales.tolist()[2:]), mode="nearest")
        if mode == "linear" and coord in ("half_pixel", "pytorch_half_pixel", "align_corners"):
            kw = {"scale_factor": tuple(float(s) for s in scales.tolist()[2:])} if scales is not None else \
                {"size": tuple(_ints(sizes)[2:])}
            return F.interpolate(x, mode="bilinear" if x.ndim == 4 else "linear",
                                 align_corners=coord == "align_corners", **kw)
        raise TypeError(f"ONNX {where}: {op} mode {mode!r} ({coord}) is supported only as integer-scale nearest or "
                        "linear")
    if op == "Shape":  # shape arithmetic of dynamic-batch exports (view(x.shape[0], -1))
        return torch.tensor(list(x.shape), dtype=torch.int64)
    if op == "Gather":
        idx = v[1]
        out = torch.index_select(x, int(a.get("axis", 0)), idx.reshape(-1).long())
        ax = int(a.get("axis", 0))
        return out.reshape([*x.shape[:ax], *idx.shape, *x.shape[ax + 1:]])
    raise TypeError(f"ONNX {where}: no replay for {op}")  # pragma: no cover - SUPPORTED_OPS lists only the above


def load_onnx(path):
    """Read an ONNX file (a protobuf: nothing in it runs) and return an ``OnnxGraph``.

    Raises
    ------
    ModelError
        For a file that is not ONNX, fails the ONNX checker, or uses an
        unsupported operation (named with its node).
    """
    try:
        import onnx
    except ImportError:
        raise ModelError("Reading ONNX models needs the onnx package: pip install 'ristretto-accel[onnx]' "
                         "(tools/setup.sh installs it)") from None
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as err:  # noqa: BLE001 - protobuf and the checker raise many kinds
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"{str(path)!r} is not a valid ONNX model ({text[:200]})") from None
    try:
        return OnnxGraph(model).eval()
    except TypeError as err:
        raise ModelError(f"{str(path)!r}: {err}") from None
