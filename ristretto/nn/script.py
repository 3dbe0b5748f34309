"""TorchScript models as ordinary modules: the frozen graph replayed op by op in Python.

Convolutions and linear layers of the graph become ``nn.Conv2d``,
``nn.ConvTranspose2d`` and ``nn.Linear`` submodules (named after their weights),
so the flow can wrap, calibrate, quantize and fine-tune them like any model.
Every other operation must be one of ``SUPPORTED_OPS``: pure tensor arithmetic,
shape and creation operations, which read and write nothing but tensors in
memory. Anything else (``aten::from_file``, which maps a file into a tensor so
that an in-place op rewrites it; custom ops; calls into other methods) is refused
in one line naming the op and the node, before the graph is frozen (freezing
folds constants, so it would run such an op) and again before it is replayed.
Graphs with control flow are refused with a clear error.

``check_archive`` reads a TorchScript file's code before ``torch.jit.load``: a
class with ``__setstate__`` runs that method while the file loads, so such a
file is refused unread.
"""

import re
import zipfile

import torch
from torch import nn

from ..errors import ModelError
from .layers import add_unique

__all__ = ["SUPPORTED_OPS", "ScriptGraph", "check_archive"]

_PRIMS = ("prim::ListConstruct", "prim::TupleConstruct", "prim::ListUnpack", "prim::TupleUnpack",
          "prim::NumToTensor")
_LAYER_OPS = ("aten::_convolution", "aten::conv2d", "aten::conv_transpose2d", "aten::linear")
# Pure operations on tensors, numbers and lists: no file, device, storage, RNG or uninitialized-memory access.
# In-place forms (relu_, add_, copy_) are pure too: every tensor they can reach lives in this process's memory.
_PURE = """
abs abs_ adaptive_avg_pool1d adaptive_avg_pool2d adaptive_max_pool1d adaptive_max_pool2d add add_ addmm amax amin
argmax argmin avg_pool1d avg_pool2d baddbmm batch_norm bmm cat ceil channel_shuffle chunk clamp clamp_ clamp_max
clamp_max_ clamp_min clamp_min_ clone constant_pad_nd contiguous conv1d copy_ cos cumsum detach dim div div_ dropout
dropout_ einsum elu elu_ eq erf exp expand expand_as feature_dropout feature_dropout_ flatten flip floor
floor_divide floordiv full full_like ge gelu group_norm gt hardsigmoid hardsigmoid_ hardswish hardswish_ hardtanh
hardtanh_ index_select instance_norm layer_norm le leaky_relu leaky_relu_ len linalg_vector_norm list log
log_softmax logsumexp lt masked_fill matmul max max_pool1d max_pool2d maximum mean min minimum mish mm mul mul_
narrow ne neg new_full new_ones new_zeros norm numel ones ones_like pad permute pixel_shuffle pixel_unshuffle pow
prelu prod reciprocal relu relu6 relu_ remainder repeat reshape reshape_as round rsqrt rsub scalar_tensor select
selu sigmoid sigmoid_ sign silu silu_ sin size slice softmax softplus split split_with_sizes sqrt square squeeze
stack std sub sub_ sum t tanh tanh_ tile to transpose type_as unbind unflatten unsqueeze upsample_bicubic2d
upsample_bilinear2d upsample_nearest1d upsample_nearest2d var view view_as where zeros zeros_like Int Float Bool
ScalarImplicit IntImplicit FloatImplicit __getitem__ __not__ __is__ __isnot__ __contains__ __and__ __or__
""".split()
SUPPORTED_OPS = tuple(sorted(f"aten::{n}" for n in _PURE)) + _LAYER_OPS
# interpreter nodes of an unfrozen graph: attribute reads, packing, control flow (refused later, after freezing)
_GRAPH_PRIMS = _PRIMS + ("prim::Constant", "prim::GetAttr", "prim::If", "prim::Loop", "prim::Uninitialized",
                         "prim::RaiseException", "prim::unchecked_cast", "prim::TupleIndex", "prim::dtype",
                         "prim::device", "prim::min", "prim::max")
_CODE_LIMIT = 64 << 20  # bytes of TorchScript source read when checking an archive


def _where(node):
    outs = [v.debugName() for v in node.outputs()]
    return f"{node.kind()} (node %{outs[0]})" if outs else f"{node.kind()} (a node without outputs)"


def _check_nodes(block):
    """Raise ``ModelError`` for the first node, in ``block`` or nested in it, that is not a pure operation."""
    for node in block.nodes():
        kind = node.kind()
        if kind.startswith("aten::") and kind not in SUPPORTED_OPS or not kind.startswith("aten::") and \
                kind not in _GRAPH_PRIMS:
            raise ModelError(f"TorchScript operation {_where(node)} is not a pure tensor operation this tool "
                             "replays; export the model without it, or pass the Python model with --model "
                             "package.module:factory")
        for sub in node.blocks():
            _check_nodes(sub)


def check_archive(path):
    """Refuse a TorchScript file whose code would run while it loads (``__setstate__``), before loading it.

    Raises
    ------
    ModelError
        For a class defining ``__setstate__``, or code too large to check.
        A file that is not a zip archive passes (``torch.jit.load`` refuses it).
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return
    with archive:
        code = [i for i in archive.infolist() if "/code/" in f"/{i.filename}" and i.filename.endswith(".py")]
        if sum(i.file_size for i in code) > _CODE_LIMIT:
            raise ModelError(f"{str(path)!r} holds more than {_CODE_LIMIT >> 20} MiB of TorchScript code; refusing "
                             "to load it")
        for info in code:
            text = archive.read(info).decode("utf-8", "replace")
            if re.search(r"\bdef\s+__setstate__\s*\(", text):
                raise ModelError(f"{str(path)!r} defines __setstate__ in {info.filename.rsplit('/', 1)[-1]}: "
                                 "TorchScript runs it while loading the file, so it is refused unread; save "
                                 "the model without custom state methods")


class ScriptGraph(nn.Module):
    """A traced or scripted CNN (``torch.jit``) as a module with swappable layers.

    Raises
    ------
    ModelError
        For an operation outside ``SUPPORTED_OPS`` (naming op and node).
    TypeError
        For graph nodes other than constants, ``aten`` operations and list/tuple
        packing (e.g. ``prim::If`` or ``prim::Loop``), or a layer whose
        parameters are not constants of the frozen graph.
    """

    def __init__(self, script_module):
        super().__init__()
        _check_nodes(script_module.inlined_graph)  # before freezing: constant folding would run what it finds
        graph = torch.jit.freeze(script_module.eval()).graph
        _check_nodes(graph)
        self._inputs = [v.debugName() for v in list(graph.inputs())[1:]]  # the first is self
        self._outputs = [v.debugName() for v in graph.outputs()]
        self._consts, self._steps, self._float_ops = {}, [], []
        for node in graph.nodes():
            kind, ins = node.kind(), [v.debugName() for v in node.inputs()]
            outs = [v.debugName() for v in node.outputs()]
            if kind == "prim::Constant":
                self._consts[outs[0]] = node.output().toIValue()
            elif kind in _LAYER_OPS:
                name = self._add_layer(kind, ins)
                self._steps.append(("layer", name, ins[:1], outs))
            elif kind in _PRIMS:
                self._steps.append((kind, None, ins, outs))
            elif kind.startswith("aten::"):
                schema = node.schema()
                parsed = torch._C.parse_schema(schema)
                op = (kind[6:], parsed.overload_name or "default",
                      tuple(a.name if a.kwarg_only else None for a in parsed.arguments))
                ins = self._inference(kind, [a.name for a in parsed.arguments], ins, outs)
                self._steps.append(("aten", op, ins, outs))
                weights = [self._consts[i] for i in ins if isinstance(self._consts.get(i), torch.Tensor)
                           and self._consts[i].numel() > 1]
                if weights:  # an op computing with constant tensors (e.g. a BatchNorm freezing could not fold)
                    self._float_ops.append({"name": f"{kind} -> %{outs[0]}", "type": kind,
                                            "parameters": sum(w.numel() for w in weights)})
            elif kind in ("prim::GetAttr", "prim::SetAttr"):  # state freezing could not fold: it is written
                raise TypeError(f"TorchScript node {kind} (%{outs[0] if outs else ''}): the graph updates module "
                                "state as it runs (a BatchNorm traced in training mode updates its running "
                                "statistics); trace or script the model after model.eval()")
            else:
                raise TypeError(f"TorchScript node {kind} is not supported (only straight-line graphs of aten "
                                "operations, as torch.jit.trace produces); pass the Python model with "
                                "--model package.module:factory instead")

    def _inference(self, kind, names, ins, outs):
        """``ins`` with inference semantics: a graph traced in training mode recorded dropout with ``train=True``
        and BatchNorm with ``training=True`` (batch statistics); both replay as in ``model.eval()``.

        Raises ``ModelError`` for a BatchNorm without running statistics: it can only normalize per batch.
        """
        flag = {"aten::dropout": "train", "aten::dropout_": "train", "aten::feature_dropout": "train",
                "aten::feature_dropout_": "train", "aten::batch_norm": "training"}.get(kind)
        if flag is None or flag not in names or self._consts.get(ins[names.index(flag)]) is not True:
            return ins
        if kind == "aten::batch_norm" and any(self._consts.get(ins[names.index(k)], 0) is None
                                              for k in ("running_mean", "running_var")):
            raise ModelError(f"TorchScript {kind} (node %{outs[0]}) has no running statistics, so it normalizes "
                             "each batch by itself and no quantized unit can compute it; keep running stats "
                             "(track_running_stats=True) and save the model after model.eval()")
        ins = list(ins)
        ins[names.index(flag)] = "%inference:false"
        self._consts["%inference:false"] = False
        return ins

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
            if kind == "aten" and len(outs) > 1:  # an op returning several tensors (max_pool2d_with_indices)
                res = list(res[0])
            if len(outs) == 1 and kind != "prim::ListUnpack" and kind != "prim::TupleUnpack":
                env[outs[0]] = res[0]
            else:
                env.update(zip(outs, res, strict=True))
        out = [env[o] for o in self._outputs]
        return out[0] if len(out) == 1 else tuple(out)
