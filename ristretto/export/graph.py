"""The quantized network, as the flow built it, written as ONNX with QONNX or Q/DQ quantizer nodes.

Every quantized group of every layer (input, weight, bias, output) becomes one
quantizer node in the graph, computing exactly what fp32 mode computes:

- dynamic fixed point ``dfp<b>f<f>``: QONNX ``Quant`` (scale ``2**-f``, zero point 0,
  ``b`` bits, signed, not narrow, ``ROUND`` = half to even; saturating), or
  ``QuantizeLinear``/``DequantizeLinear`` to int4, int8 or int16 (``b`` = 4, 8, 16).
- power-of-two weights: stored already rounded in the log domain (no ONNX or QONNX
  operator rounds that way), under a ``Quant`` (or int8 Q/DQ) whose integer grid
  ``2**exp_min`` holds every one of them, so it passes them unchanged.
- minifloat: QONNX ``FloatQuant`` (exponent and mantissa widths, exponent bias,
  largest value, ``has_subnormal``, ``has_inf``/``has_nan``, saturation as the
  format defines them), or Q/DQ to float8 e4m3fn, e5m2, e4m3fnuz or e5m2fnuz
  (a format equal to one of them up to its bias) with scale ``2**(B0 - bias)``.

The graph reads the config the flow wrote; it defines no format of its own.
"""

import copy
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..formats import DynamicFixedPoint, Minifloat, MXFormat, PowerOfTwo
from ..nn.config import check_config_layers, load_config
from ..nn.convert import quant_layers, set_mode, wrap_model
from ..nn.layers import GROUPS
from ..nn.schemes import apply_formats

__all__ = ["ExportError", "TARGETS", "build_network", "export_onnx"]

TARGETS = ("qonnx", "qdq")
_QONNX = "qonnx.custom_op.general"


class ExportError(InputError):
    """A format the chosen target cannot express, named with the layer and group."""


def build_network(model, config, *, fold_bn=None):
    """The flow's network for ``config``: ``model`` wrapped (BatchNorm folded as the config records), formats applied.

    Returns ``(net, scheme)`` with ``net`` in fp32 mode.
    """
    import json

    scheme, _, formats = load_config(config)
    if fold_bn is None:
        fold_bn = bool(json.loads(Path(config).read_text()).get("fold_bn", False))
    net = wrap_model(model, fold_bn=fold_bn)
    check_config_layers(config, formats, quant_layers(net))
    apply_formats(net, formats)
    set_mode(net, "fp32")
    return net.eval(), scheme


def _const(g, value):
    return g.op("Constant", value_t=torch.tensor(value, dtype=torch.float32))


def _grid(fmt):
    """``(scale, bits)`` of the integer grid a format's values lie on."""
    if isinstance(fmt, DynamicFixedPoint):
        return 2.0 ** -fmt.frac_bits, fmt.bits
    return 2.0 ** fmt.exp_min, fmt.exp_max - fmt.exp_min + 2  # power of two: |w| / 2**exp_min < 2**(span)


class _Quant(torch.autograd.Function):
    """``fmt.quantize(x)`` in torch; one QONNX quantizer node, named ``layer.group``, in the exported graph."""

    @staticmethod
    def forward(ctx, x, fmt, where):
        if torch.jit.is_tracing() or isinstance(fmt, PowerOfTwo):  # the exporter needs shapes only (the
            return x.clone()  # symbolic below is what it writes); pow2 weights come pre-rounded
        return fmt.quantize(x)

    @staticmethod
    def symbolic(g, x, fmt, where):
        if isinstance(fmt, Minifloat):
            out = g.op(f"{_QONNX}::FloatQuant", x, _const(g, 1.0), _const(g, float(fmt.exp_bits)),
                        _const(g, float(fmt.man_bits)), _const(g, float(fmt.bias)), _const(g, fmt.max_value),
                        has_inf_i=int(fmt.inf_nan), has_nan_i=int(fmt.inf_nan or bool(fmt.special)),
                        has_subnormal_i=int(fmt.subnormals), rounding_mode_s="ROUND",
                        saturation_i=int(not fmt.inf_nan and fmt.saturating), ristretto_group_s=where,
                        ristretto_format_s=json.dumps(fmt.to_dict()))
        else:
            scale, bits = _grid(fmt)
            out = g.op(f"{_QONNX}::Quant", x, _const(g, scale), _const(g, 0.0), _const(g, float(bits)),
                       signed_i=1, narrow_i=0, rounding_mode_s="ROUND", ristretto_group_s=where)
        out.setType(x.type())  # same shape and type as the input: the exporter needs it for the layer after
        return out


def _qdq_check(fmt, where):
    """Refuse, in one line, a format QuantizeLinear/DequantizeLinear cannot express exactly."""
    if isinstance(fmt, DynamicFixedPoint) and fmt.bits in (4, 8, 16):
        return
    if isinstance(fmt, PowerOfTwo) and _grid(fmt)[1] <= 16:
        return
    if _float8(fmt) is not None:
        return
    raise ExportError(f"layer {where}: {fmt.slug} is not expressible as ONNX QuantizeLinear/DequantizeLinear (int4, "
                      "int8 or int16 with power-of-two scales, or float8 e4m3fn, e5m2, e4m3fnuz, e5m2fnuz of any "
                      "bias); use --to qonnx")


def _float8(fmt):
    """``(ONNX type name, its standard bias)`` of a minifloat that is an ONNX float8 type up to a power-of-two scale."""
    if not isinstance(fmt, Minifloat) or not fmt.subnormals:
        return None
    key = (fmt.exp_bits, fmt.man_bits, fmt.inf_nan, fmt.special)
    return {(5, 2, True, None): ("FLOAT8E5M2", 15), (4, 3, False, "fn"): ("FLOAT8E4M3FN", 7),
            (4, 3, False, "fnuz"): ("FLOAT8E4M3FNUZ", 8), (5, 2, False, "fnuz"): ("FLOAT8E5M2FNUZ", 16)}.get(key)


class _ExportLayer(nn.Module):
    """A QuantLayer as plain torch ops with a quantizer on each of its groups."""

    def __init__(self, name, layer, target):
        super().__init__()
        self.inner = copy.deepcopy(layer.inner)
        self.formats, self.name = layer.formats, name
        for g in GROUPS:
            fmt = getattr(self.formats, g)
            if isinstance(fmt, MXFormat):  # blocks run along each dot product's columns, not a tensor axis
                raise ExportError(f"layer {name}.{g}: {fmt.slug} (MX) is not exported yet: its blocks run along the "
                                  "unfolded columns of each dot product, which no QONNX or ONNX Q/DQ node "
                                  "expresses; export a dfp, pow2, minifloat or fp8 config")
            if fmt is not None and target == "qdq":
                _qdq_check(fmt, f"{name}.{g}")
            if isinstance(fmt, PowerOfTwo) and _grid(fmt)[1] > 32:
                raise ExportError(f"layer {name}.{g}: {fmt.slug} spans more exponents than a 32-bit grid holds")
        w = self.formats.weight
        if isinstance(w, PowerOfTwo):
            with torch.no_grad():
                self.inner.weight.copy_(w.quantize(self.inner.weight))
        self._op = layer._op

    def _q(self, x, group):
        fmt = getattr(self.formats, group)
        return x if fmt is None else _Quant.apply(x, fmt, f"{self.name}.{group}")

    def forward(self, x):
        m = self.inner
        b = self._q(m.bias, "bias") if m.bias is not None else None
        return self._q(self._op(self._q(x, "input"), self._q(m.weight, "weight"), b), "output")


def export_onnx(net, target, path, example):
    """Write ``net`` (the flow's network, fp32 mode) as ONNX with ``target`` quantizer nodes; return the path.

    ``qonnx``: QONNX ``Quant``/``FloatQuant`` nodes (opset 17 + the QONNX domain).
    ``qdq``: the same graph with each quantizer rewritten as a standard
    ``QuantizeLinear``/``DequantizeLinear`` pair (opset 21). Quantizer nodes are
    named ``layer.group``.

    Raises
    ------
    ExportError
        For a group whose format ``target`` cannot express (layer and group named).
    """
    import onnx

    if target not in TARGETS:
        raise InputError(f"--to must be one of {', '.join(TARGETS)}, not {target!r}")
    ex = copy.deepcopy(net).cpu().eval()
    for name, layer in quant_layers(ex).items():
        parent, _, attr = name.rpartition(".")
        setattr(ex.get_submodule(parent) if parent else ex, attr, _ExportLayer(name, layer, target))
    from ..files import atomic_path

    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on the legacy exporter and custom domains
            torch.onnx.export(ex, (example,), str(tmp), dynamo=False, opset_version=17, input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
                              custom_opsets={_QONNX: 1}, do_constant_folding=False)
        model = onnx.load(str(tmp))
        floats = _name_quantizers(model)
        if target == "qdq":  # the float graph to opset 21 first (e.g. ReduceMean's axes become an input)
            from onnx import version_converter

            model = _to_qdq(version_converter.convert_version(model, 21), floats)
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
    return Path(path)


def _name_quantizers(model):
    """Name each quantizer node after its layer and group; return ``{name: format}`` of the minifloat ones.

    Both travel in private attributes during the export and are removed here.
    """
    from ..formats import from_dict

    formats = {}
    for node in model.graph.node:
        for a in list(node.attribute):
            if a.name == "ristretto_group":
                node.name = a.s.decode()
                node.attribute.remove(a)
        for a in list(node.attribute):
            if a.name == "ristretto_format":
                formats[node.name] = from_dict(json.loads(a.s.decode()))
                node.attribute.remove(a)
    return formats


def _to_qdq(model, floats):
    """Rewrite QONNX ``Quant``/``FloatQuant`` nodes as ``QuantizeLinear``/``DequantizeLinear`` pairs (opset 21)."""
    import onnx
    from onnx import TensorProto, helper

    consts = {n.output[0]: onnx.numpy_helper.to_array(n.attribute[0].t) for n in model.graph.node
              if n.op_type == "Constant"}
    nodes, inits = [], []
    for node in model.graph.node:
        if node.domain != _QONNX:
            nodes.append(node)
            continue
        x, out, where = node.input[0], node.output[0], node.name
        if node.op_type == "FloatQuant":
            fmt = floats[where]
            kind, bias0 = _float8(fmt)
            scale = 2.0 ** (bias0 - fmt.bias)  # our values are the standard type's times 2**(bias0 - bias)
            zp = helper.make_tensor(f"{where}.zero_point", getattr(TensorProto, kind), [], [0.0])
            # IEEE e5m2 overflows to inf (saturate=0); the finite types as the format says
            extra = {"saturate": int(bool(fmt.special) and fmt.saturating)}
        else:
            scale, bits = float(consts[node.input[1]]), int(consts[node.input[3]])
            # int4/int8/int16 saturate exactly like a dfp of 4/8/16 bits; pre-rounded power-of-two
            # weights go in the narrowest type whose range holds their grid, so nothing saturates
            kind = TensorProto.INT4 if bits <= 4 else TensorProto.INT8 if bits <= 8 else TensorProto.INT16
            zp = helper.make_tensor(f"{where}.zero_point", kind, [], [0])
            extra = {}
        inits += [helper.make_tensor(f"{where}.scale", TensorProto.FLOAT, [], [scale]), zp]
        nodes.append(helper.make_node("QuantizeLinear", [x, f"{where}.scale", zp.name], [f"{out}.q"],
                                      name=f"{where}.quantize", **extra))
        nodes.append(helper.make_node("DequantizeLinear", [f"{out}.q", f"{where}.scale", zp.name], [out],
                                      name=f"{where}.dequantize"))
    used = {i for n in nodes for i in n.input}
    nodes = [n for n in nodes if n.op_type != "Constant" or n.output[0] in used]
    graph = helper.make_graph(nodes, model.graph.name, model.graph.input, model.graph.output,
                              list(model.graph.initializer) + inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], producer_name="ristretto")
