"""Interchange out: the quantized network as QONNX or as standard ONNX Q/DQ, with a bit-exact round trip."""

from .graph import ExportError, build_network, export_onnx
from .roundtrip import round_trip

__all__ = ["ExportError", "build_network", "export_onnx", "round_trip"]
