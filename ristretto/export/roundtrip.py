"""Run an exported graph with an independent executor and compare it with fp32 mode, bit for bit."""

import warnings

import numpy as np
import torch

from ..nn.convert import quant_layers, set_mode

__all__ = ["round_trip"]


def _ours(net, x, batch_size=500):
    """Network outputs and each layer's (quantized) output in fp32 mode, as float32 arrays."""
    outs, layer_outs = [], {}
    layers = quant_layers(net)

    def keep(name):
        return lambda mod, inp, out: layer_outs.setdefault(name, []).append(out.detach().clone().numpy())

    hooks = [layer.register_forward_hook(keep(n)) for n, layer in layers.items()]
    set_mode(net, "fp32")
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                outs.append(net(x[i:i + batch_size]).numpy())
    finally:
        for h in hooks:
            h.remove()
    return np.concatenate(outs), {n: np.concatenate(v) for n, v in layer_outs.items()}


def _flushing(float_quant):
    """qonnx's ``float_quant`` with ``has_subnormal=False`` honoured as the QONNX spec defines it.

    Below the smallest normal ``2**emin`` a format without subnormals holds only
    0 and ``2**emin``: round to the nearer, a tie to 0 (the even code).
    """

    def patched(X, scale, exponent_bitwidth, mantissa_bitwidth, exponent_bias=None, signed=True, max_val=None,
                has_inf=False, has_nan=False, has_subnormal=False, rounding_mode="ROUND", saturation=True):
        q = float_quant(X, scale, exponent_bitwidth, mantissa_bitwidth, exponent_bias, signed, max_val, has_inf,
                        has_nan, has_subnormal, rounding_mode, saturation)
        if has_subnormal:
            return q
        bias = (2.0 ** (exponent_bitwidth - 1)) - 1 if exponent_bias is None else exponent_bias
        tiny = np.float32(2.0 ** (1 - bias))
        a = np.abs(X / scale)
        low = np.where(a > tiny / 2, np.copysign(tiny, X), np.copysign(np.float32(0), X)) * scale
        return np.where(a < tiny, low, q).astype(q.dtype)

    return patched


def _run_qonnx(path, x, layers, honour_subnormal=False):
    import contextlib
    from unittest import mock

    import qonnx.custom_op.general.floatquant as fq
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    model = ModelWrapper(str(path))
    model.set_tensor_shape("x", list(x.shape))
    model = model.transform(InferShapes())
    patch = mock.patch.object(fq, "float_quant", _flushing(fq.float_quant)) if honour_subnormal else \
        contextlib.nullcontext()
    with patch, warnings.catch_warnings():
        # qonnx checks each node's output shape against static inference, which a dynamic batch cannot satisfy
        warnings.filterwarnings("ignore", message="Output shapes disagree", category=UserWarning)
        ctx = execute_onnx(model, {"x": x.numpy()}, return_full_exec_context=True)
    names = {n.name: n.output[0] for n in model.graph.node}
    return ctx["y"], {n: ctx[names[f"{n}.output"]] for n in layers if f"{n}.output" in names}


def _run_ort(path, x, layers, **_):
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    wanted = {n.name.removesuffix(".output.dequantize"): n.output[0] for n in model.graph.node
              if n.name.endswith(".output.dequantize") and n.name.removesuffix(".output.dequantize") in layers}
    for name in wanted.values():
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    # the graph as written: no fusing of Q/DQ into integer kernels, no Q/DQ propagation
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    res = sess.run(["y", *wanted.values()], {"x": x.numpy()})
    return res[0], dict(zip(wanted, res[1:], strict=True))


def _causes(path, executor):
    """Known reasons an executor can differ from the format's definition, read from the graph."""
    import onnx

    causes = []
    model = onnx.load(str(path))
    if executor == "qonnx":
        flushed = [n.name for n in model.graph.node if n.op_type == "FloatQuant" and
                   any(a.name == "has_subnormal" and a.i == 0 for a in n.attribute)]
        if flushed:
            causes.append(f"qonnx's executor ignores has_subnormal=0 on {len(flushed)} FloatQuant nodes (it always "
                          "rounds to subnormals; the format has none below 2**emin): values below the smallest "
                          "normal differ")
    causes.append("float32 sums computed in another order (onnxruntime's convolution vs torch's) round differently "
                  "once a partial sum needs more than 24 bits")
    return causes


def _bits(a):
    """float32 bit patterns, zeros made +0 (an integer grid has one zero; a -0.0 is torch's, not the format's)."""
    return (np.ascontiguousarray(a, dtype=np.float32) + np.float32(0.0)).view(np.int32)


def _signed_zeros(a, b):
    """Elements that differ only in the sign of zero."""
    a, b = np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32)
    return int(((a == 0) & (b == 0) & (a.view(np.int32) != b.view(np.int32))).sum())


def _execute(path, target, x, layers, batch_size, **kw):
    theirs, their_layers = [], {}
    for i in range(0, len(x), batch_size):
        y, lay = (_run_qonnx if target == "qonnx" else _run_ort)(path, x[i:i + batch_size], layers, **kw)
        theirs.append(y)
        for n, v in lay.items():
            their_layers.setdefault(n, []).append(v)
    return np.concatenate(theirs), {n: np.concatenate(v) for n, v in their_layers.items()}


def round_trip(net, path, target, x, *, batch_size=500, max_listed=10):
    """Execute ``path`` (qonnx: qonnx's executor; qdq: onnxruntime) on ``x`` and compare with ``net`` in fp32 mode.

    Outputs are compared as float32 bit patterns with zeros counted as one value:
    ``signed_zeros`` counts elements that differ only by the sign of zero (torch
    rounds a small negative value to -0.0; onnxruntime dequantizes integer 0 to +0).

    Returns a dict: ``executor``, ``samples``, ``outputs`` (elements compared),
    ``differ`` (elements whose float32 bits differ), ``identical`` (bool), ``signed_zeros``,
    ``first`` (up to ``max_listed`` differing elements: index, ours, theirs),
    ``first_layer`` (the first layer, in order, whose output differs, or None),
    ``layers`` ({layer: differing elements}), ``causes`` (why they may differ) and
    ``explained_by_subnormals`` (qonnx only, when a FloatQuant has
    ``has_subnormal=0``: how many of the differing outputs vanish when the
    executor is run again with that attribute honoured; None otherwise).
    """
    layers = list(quant_layers(net))
    ours, our_layers = _ours(net, x, batch_size)
    executor = "qonnx" if target == "qonnx" else "onnxruntime"
    theirs, their_layers = _execute(path, target, x, layers, batch_size)
    diff = _bits(ours) != _bits(theirs)
    per_layer = {n: int((_bits(our_layers[n]) != _bits(their_layers[n])).sum()) for n in layers if n in their_layers}
    explained = None
    if diff.any() and target == "qonnx" and any("has_subnormal" in c for c in _causes(path, executor)):
        # check the stated cause: run again with has_subnormal=0 honoured; what still differs is unexplained
        again, _ = _execute(path, target, x, layers, batch_size, honour_subnormal=True)
        explained = int(diff.sum()) - int((_bits(ours) != _bits(again)).sum())
    first = [{"index": [int(v) for v in idx], "ours": float(ours[tuple(idx)]), "theirs": float(theirs[tuple(idx)])}
             for idx in np.argwhere(diff)[:max_listed]]
    return {"executor": executor, "samples": len(x), "outputs": int(diff.size), "differ": int(diff.sum()),
            "identical": not bool(diff.any()), "signed_zeros": _signed_zeros(ours, theirs), "first": first,
            "first_layer": next((n for n in layers if per_layer.get(n)), None), "layers": per_layer,
            "explained_by_subnormals": explained,
            "causes": _causes(path, executor) if diff.any() else []}
