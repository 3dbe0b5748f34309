"""Quantization schemes: from word widths and observed ranges to a format for every layer group."""

from dataclasses import asdict, dataclass

from ..formats import DynamicFixedPoint, MXFormat, named
from .convert import quant_layers
from .layers import LayerFormats
from .ranges import choose_dfp, choose_fp8, choose_minifloat, choose_pow2

__all__ = ["FP8_ELEMENTS", "MX_ELEMENTS", "SCHEMES", "Widths", "assign_formats", "apply_formats", "mx_element_for"]

SCHEMES = ("dfp", "fixed", "minifloat", "pow2", "fp8", "fp8e5m2", "mx")
FP8_ELEMENTS = {"fp8": "float8_e4m3fn", "fp8e5m2": "float8_e5m2"}  # OCP FP8 schemes: one width (8 bits)

# OCP MX v1.0 element formats (--mx-element), all with 32-element blocks and an E8M0 scale
MX_ELEMENTS = {"fp8e4m3": "float8_e4m3fn", "fp8e5m2": "float8_e5m2", "fp6e3m2": "float6_e3m2fn",
               "fp6e2m3": "float6_e2m3fn", "fp4": "float4_e2m1fn", "int8": None}
# the element the search takes for a width ("width" is the element's bits): the widest that fits
_MX_BY_WIDTH = ((8, "fp8e4m3"), (6, "fp6e2m3"), (4, "fp4"))


def mx_element_for(bits, element=None):
    """The MX format for ``element`` (a name of ``MX_ELEMENTS``), or for a width: the widest element of at
    most ``bits`` (fp8e4m3, fp6e2m3, fp4; below 4 bits fp4)."""
    if element is None:
        element = next((name for w, name in _MX_BY_WIDTH if bits >= w), "fp4")
    if element not in MX_ELEMENTS:
        raise ValueError(f"--mx-element must be one of {', '.join(MX_ELEMENTS)}, not {element!r}")
    name = MX_ELEMENTS[element]
    return MXFormat(DynamicFixedPoint(8, 6) if name is None else named(name))


@dataclass(frozen=True)
class Widths:
    """Word widths of the paper's three groups; ``None`` keeps a group in float32."""

    conv_w: int = None
    fc_w: int = None
    act: int = None

    def to_dict(self):
        return asdict(self)


def _static_il(stats):
    """Integer length covering every tensor of the net (static fixed point)."""
    import math

    m = max(s.absmax for groups in stats.values() for s in groups.values())
    return math.ceil(math.log2(m)) + 1 if m > 0 else 1


def _fixed(bits, il):
    return DynamicFixedPoint(bits, max(-100, min(100, bits - il)))


def _activation(scheme, stats, bits, rule, il):
    if bits is None:
        return None
    if scheme in FP8_ELEMENTS:
        return choose_fp8(stats, rule, element=FP8_ELEMENTS[scheme])
    if scheme == "minifloat":
        return choose_minifloat(stats, bits, rule)
    if scheme == "fixed":
        return _fixed(bits, il)
    return choose_dfp(stats, bits, rule, activation=True)


def _weight(scheme, stats, bits, rule, il):
    if bits is None:
        return None
    if scheme in FP8_ELEMENTS:
        return choose_fp8(stats, rule, element=FP8_ELEMENTS[scheme])
    if scheme == "minifloat":
        return choose_minifloat(stats, bits, rule)
    if scheme == "pow2":
        return choose_pow2(stats, bits, rule)
    if scheme == "fixed":
        return _fixed(bits, il)
    return choose_dfp(stats, bits, rule)


def _bias(scheme, stats, wb, ab, rule, il):
    if stats is None or wb is None:
        return None
    if scheme in FP8_ELEMENTS:
        return choose_fp8(stats, rule, element=FP8_ELEMENTS[scheme])
    if scheme == "minifloat":
        return choose_minifloat(stats, wb, rule)
    bits = min(24, (ab or 8) + (wb if scheme != "pow2" else 8))
    return _fixed(bits, il) if scheme == "fixed" else choose_dfp(stats, bits, rule)


def assign_formats(net, stats, scheme, widths, *, rule="mse", layer_widths=None, mx_element=None):
    """``{layer name: LayerFormats}`` for ``scheme`` at ``widths``.

    - ``dfp``: every group its own fractional length (dynamic fixed point).
    - ``fixed``: one integer length for the whole net (static fixed point).
    - ``minifloat``: paper-semantics minifloats, the bias chosen per group.
    - ``pow2``: power-of-two weights (``widths`` of the code, sign included), DFP activations.
    - ``fp8``: OCP FP8 E4M3 (float8_e4m3fn) with a power-of-two scale per group; always 8 bits.
    - ``fp8e5m2``: OCP FP8 E5M2 (float8_e5m2: inf and NaN codes) likewise; no generated unit takes its
      infinities, so exact mode sums it in float32 adders without a unit.
    - ``mx``: OCP MX, weights and inputs in blocks of 32 along each dot product, each block with its own
      E8M0 scale (no calibration: the scales follow the data); the element is ``mx_element``, or the widest
      of at most the group's width (``mx_element_for``). Bias and output stay float32 (``ristretto.nn.mx``).

    The bias gets its own format, ``min(24, act + weight)`` bits wide (the
    product width, added in the accumulator); unlike the original it is not
    forced into the weights' format. ``layer_widths`` maps a layer name to
    ``(weight bits, activation bits)`` that replace the group widths for it.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"Scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}")
    il = _static_il(stats) if scheme == "fixed" else None
    out = {}
    for name, layer in quant_layers(net).items():
        s = stats[name]
        wb = widths.conv_w if layer.kind == "conv" else widths.fc_w
        ab = widths.act
        if layer_widths and name in layer_widths:
            wb, ab = layer_widths[name]
        if scheme == "mx":
            out[name] = LayerFormats(input=None if ab is None else mx_element_for(ab, mx_element),
                                     weight=None if wb is None else mx_element_for(wb, mx_element))
            continue
        out[name] = LayerFormats(input=_activation(scheme, s["input"], ab, rule, il),
                                 weight=_weight(scheme, s["weight"], wb, rule, il),
                                 bias=_bias(scheme, s.get("bias"), wb, ab, rule, il),
                                 output=_activation(scheme, s["output"], ab, rule, il))
    return out


def apply_formats(net, formats):
    """Set each QuantLayer's formats from ``{name: LayerFormats}``."""
    layers = quant_layers(net)
    unknown = sorted(set(formats) - set(layers))
    if unknown:
        raise ValueError(f"Configuration names layers the model does not have: {unknown}; it has {sorted(layers)}")
    for name, layer in layers.items():
        layer.formats = formats.get(name, LayerFormats())
