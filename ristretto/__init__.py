"""Ristretto: choose and prove the number format of a CNN accelerator."""

__version__ = "0.2.0"
