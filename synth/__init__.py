"""Synthesis flows that turn a generated MAC into area, delay, power and FPGA figures; installed as
``ristretto.synth``."""

from .flow import synth_figures
from .tools import ToolFailed, ToolMissing, check_liberty, default_liberty, tool_versions

__all__ = ["ToolFailed", "ToolMissing", "check_liberty", "default_liberty", "synth_figures", "tool_versions"]
