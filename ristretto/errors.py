"""The one exception family for bad user input: every boundary raises it, the CLI prints it in one line."""

__all__ = ["InputError", "ModelError"]


class InputError(ValueError):
    """Input that cannot be used (data, model, option, config, spec, path): what is wrong and how to fix it."""


class ModelError(InputError):
    """A model that cannot be loaded, with what is wrong and how to fix it."""
