"""The ``config.json`` the flow writes and reads back: checked key by key, and against the model."""

from ..errors import InputError
from ..files import read_json
from .layers import GROUPS, LayerFormats
from .schemes import SCHEMES, Widths

__all__ = ["ConfigError", "load_config", "check_config_layers"]


class ConfigError(InputError):
    """A ``config.json`` that is malformed or does not fit the model; names the file and the key."""


def _formats(path, name, d):
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: layers.{name} must be an object with keys {', '.join(GROUPS)}, not {d!r}")
    unknown = sorted(set(d) - set(GROUPS))
    if unknown:
        raise ConfigError(f"{path}: layers.{name} has unknown keys {unknown}; allowed: {', '.join(GROUPS)}")
    try:
        return LayerFormats.from_dict(d)
    except (TypeError, ValueError, KeyError) as err:
        raise ConfigError(f"{path}: layers.{name}: {err}") from None


def load_config(path):
    """``(scheme, widths, {layer: LayerFormats})`` from a ``config.json`` written by the flow.

    Raises
    ------
    ConfigError
        For a missing or unreadable file, bad JSON, or a missing or malformed
        key (the message names the file and the key).
    """
    d = read_json(path, "config")
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: a config must be a JSON object with scheme, widths and layers, not "
                          f"{type(d).__name__}")
    missing = [k for k in ("scheme", "widths", "layers") if k not in d]
    if missing:
        raise ConfigError(f"{path}: missing keys {missing}; a config holds scheme, widths and layers (as written by "
                          "'ristretto quantize')")
    if d["scheme"] not in SCHEMES:
        raise ConfigError(f"{path}: scheme must be one of {', '.join(SCHEMES)}, not {d['scheme']!r}")
    w = d["widths"]
    if not isinstance(w, dict) or set(w) - {"conv_w", "fc_w", "act"} or not all(
            v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in w.values()):
        raise ConfigError(f"{path}: widths must map conv_w, fc_w, act to integers or null, not {w!r}")
    if not isinstance(d["layers"], dict) or not d["layers"]:
        raise ConfigError(f"{path}: layers must be a non-empty object of layer name -> formats")
    layers = {n: _formats(path, n, f) for n, f in d["layers"].items()}
    _check_kinds(path, d["scheme"], layers)
    return d["scheme"], Widths(**w), layers


def _kinds(scheme, group):
    """The format kinds a layer group of ``scheme`` holds (what ``schemes.assign_formats`` writes)."""
    if scheme in ("dfp", "fixed"):
        return {"dfp"}
    if scheme == "pow2":
        return {"pow2"} if group == "weight" else {"dfp"}
    if scheme == "mx":
        return {"mx"} if group in ("input", "weight") else set()
    return {"minifloat"}  # minifloat, fp8, fp8e5m2


def _check_kinds(path, scheme, layers):
    """A hand-edited config whose layer formats contradict its scheme is refused, naming the first."""
    for name, formats in layers.items():
        for g in GROUPS:
            f = getattr(formats, g)
            if f is not None and f.to_dict()["kind"] not in _kinds(scheme, g):
                allowed = " or ".join(sorted(_kinds(scheme, g))) or "none (float32)"
                raise ConfigError(f"{path}: layers.{name}.{g} is a {f.to_dict()['kind']} format, but the scheme "
                                  f"{scheme!r} gives {g}s {allowed}; fix the scheme or the layer's formats")


def check_config_layers(path, formats, layers):
    """Refuse a config that names layers the model lacks, or omits one (it would stay in float unseen)."""
    unknown = sorted(set(formats) - set(layers))
    if unknown:
        raise ConfigError(f"{path} names layers the model does not have: {unknown}; the model has {sorted(layers)}")
    omitted = [n for n in layers if n not in formats]
    if omitted:
        raise ConfigError(f"{path} has no formats for layers {omitted}; they would stay in float32. Give every layer "
                          "(re-run 'ristretto quantize' on this model to write a complete config)")
    for name, f in formats.items():
        if layers[name].inner.bias is not None and f.weight is not None and f.bias is None:
            raise ConfigError(f"{path}: layers.{name} quantizes the weights but gives no bias format")
