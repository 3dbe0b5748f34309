"""Network approximation: wrap, calibrate, search, fine-tune and simulate a PyTorch CNN exactly."""

from .convert import fold_batchnorm, quant_layers, set_mode, wrap_model
from .data import Dataset, load_data
from .evaluate import accuracy
from .flow import FlowResult, quantize_network, write_outputs
from .layers import LayerFormats, QuantLayer
from .models import LeNet, builtin_lenet, load_model
from .schemes import SCHEMES, Widths, apply_formats, assign_formats

__all__ = ["Dataset", "FlowResult", "LayerFormats", "LeNet", "QuantLayer", "SCHEMES", "Widths", "accuracy",
           "apply_formats", "assign_formats", "builtin_lenet", "fold_batchnorm", "load_data", "load_model",
           "quant_layers", "quantize_network", "set_mode", "wrap_model", "write_outputs"]
