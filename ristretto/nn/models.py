"""Models: the built-in LeNet-5 (trained once, deterministically, cached) and user models."""

import hashlib
import importlib
import os
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelError
from ..files import atomic_path, human_size
from .data import builtin_mnist
from .onnx_graph import load_onnx
from .script import ScriptGraph, check_archive
from .train import fit

__all__ = ["LeNet", "ModelError", "builtin_lenet", "cache_dir", "check_finite", "load_model"]


class LeNet(nn.Module):
    """Caffe's LeNet as used in the paper: conv 20@5x5, pool, conv 50@5x5, pool, fc 500, ReLU, fc 10."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(800, 500)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x):
        x = self.pool2(self.conv2(self.pool1(self.conv1(x))))
        return self.fc2(self.relu(self.fc1(torch.flatten(x, 1))))


def cache_dir():
    """Where trained built-in weights are kept: ``$RISTRETTO_CACHE`` or ``~/.cache/ristretto``."""
    path = Path(os.environ.get("RISTRETTO_CACHE", Path.home() / ".cache" / "ristretto"))
    path.mkdir(parents=True, exist_ok=True)
    return path


_LENET_RECIPE = {"epochs": 8, "lr": 0.05, "batch_size": 64, "seed": 0, "init": "seeded"}


def builtin_lenet(data=None):
    """LeNet trained on the built-in MNIST subset; trained once (about 10 s) and cached.

    Training is seeded and single-threaded, so the weights are reproducible on a machine.
    """
    data = data or builtin_mnist()
    key = hashlib.sha256(repr((_LENET_RECIPE, torch.__version__, data.name, len(data.x_train))).encode())
    path = cache_dir() / f"lenet-{key.hexdigest()[:12]}.pt"
    if path.exists():
        model = LeNet()
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(_LENET_RECIPE["seed"])  # the initial weights too
        model = LeNet()
        fit(model, data.x_train, data.y_train, **{k: v for k, v in _LENET_RECIPE.items() if k != "init"})
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(rng)
    with atomic_path(path) as tmp:
        torch.save(model.state_dict(), tmp)
    return model.eval()


def _import(mod_name, spec):
    """Import ``mod_name`` with the current folder on the path first, as ``python -m`` does."""
    import sys

    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(mod_name)
    except ModuleNotFoundError as err:
        if err.name and (mod_name == err.name or mod_name.startswith(err.name + ".")):
            raise ModelError(f"Cannot import {mod_name!r} for --model {spec!r}: no such module; run from the folder "
                             "holding it or add its folder to PYTHONPATH") from None
        raise ModelError(f"Importing {mod_name!r} for --model {spec!r} failed: {err}") from None
    except SyntaxError as err:
        raise ModelError(f"Importing {mod_name!r} for --model {spec!r} failed: SyntaxError in {err.filename} line "
                         f"{err.lineno}: {err.msg}") from None
    except Exception as err:  # noqa: BLE001 - user code may raise anything on import
        raise ModelError(f"Importing {mod_name!r} for --model {spec!r} failed: {type(err).__name__}: "
                         f"{_first_line(err)}") from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _is_state_dict(path):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - anything unreadable is not a state_dict
        return False
    return isinstance(state, dict) and bool(state)


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _factory(spec):
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ModelError(f"--model must look like package.module:factory (or be a TorchScript .pt or ONNX .onnx "
                         f"file), not {spec!r}")
    mod_name, attr = spec.split(":", 1)
    module = _import(mod_name, spec)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ModelError(f"{mod_name!r} has no callable {attr!r} (from --model {spec!r})")
    try:
        model = factory()
    except Exception as err:  # noqa: BLE001 - user code may raise anything
        raise ModelError(f"--model {spec!r}: calling {attr}() raised {type(err).__name__}: {_first_line(err)}"
                         ) from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"{spec!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")


def _state_from_checkpoint(state, weights):
    """The state_dict inside common checkpoint layouts; ``module.`` prefixes (DataParallel) removed."""
    if isinstance(state, nn.Module):
        state = state.state_dict()
    if isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        for key in _CHECKPOINT_KEYS:
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        keys = sorted(state)[:8] if isinstance(state, dict) else type(state).__name__
        raise ModelError(f"Weights {weights!r} hold no state_dict (found {keys}); save one with "
                         "torch.save(model.state_dict(), path), or a dict with it under 'state_dict' or 'model'")
    if all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def _check_state(net, state, weights, model):
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [f"{k} {list(state[k].shape)} vs {list(own[k].shape)}" for k in sorted(set(own) & set(state))
              if state[k].shape != own[k].shape]
    if missing or extra or shapes:
        parts = [f"missing keys {_few(missing)}" if missing else "", f"unexpected keys {_few(extra)}" if extra else "",
                 f"mis-shaped keys (file vs model) {_few(shapes)}" if shapes else ""]
        raise ModelError(f"Weights {weights!r} do not match {model!r}: " + "; ".join(p for p in parts if p))


def _few(items, n=6):
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def check_finite(net, what="model"):
    """Raise ``ModelError`` naming the first parameters or buffers that hold NaN or inf."""
    bad = [n for n, t in list(net.named_parameters()) + list(net.named_buffers())
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise ModelError(f"The {what}'s weights hold NaN or inf in {_few(bad)}; the weights are broken, not the "
                         "input data")


def _check_inflated_size(path, what):
    """Refuse a zip archive (TorchScript, torch.save) whose members declare more than the data limit when
    inflated (``RISTRETTO_MAX_DATA_GB``), before torch reads it: a zip bomb would exhaust memory."""
    import zipfile

    from .data import data_limit_bytes

    try:
        with zipfile.ZipFile(path) as z:
            total = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # not a zip: torch refuses it, or reads a legacy file of its own size
    if total > data_limit_bytes():
        raise ModelError(f"{what} {str(path)!r} inflates to {human_size(total)}, over the limit of "
                         f"{human_size(data_limit_bytes())}; raise RISTRETTO_MAX_DATA_GB if it is meant")


def load_model(model=None, weights=None):
    """A user model: ``package.module:factory`` (+ ``weights`` state_dict), a TorchScript file or an ONNX file.

    A ``package.module`` is imported with the current folder first on the path
    (as ``python -m`` does). A TorchScript file becomes a ``ScriptGraph``: its
    frozen graph replayed op by op, with its convolutions and linear layers as
    ordinary, quantizable modules; an ``.onnx`` file becomes an ``OnnxGraph`` the
    same way (``ristretto.nn.onnx_graph``).

    Weights load with ``weights_only=True``: a checkpoint that needs arbitrary code
    to unpickle is refused, never executed. Plain state_dicts and checkpoints
    holding one under ``state_dict``, ``model_state_dict``, ``model``, ``net`` or
    ``weights`` are accepted, with a DataParallel ``module.`` prefix removed.

    Raises
    ------
    ModelError
        For a factory that does not import or run, weights that do not load or
        match (the keys are listed), or weights with NaN or inf.
    """
    if weights and not model:
        raise ModelError("--weights needs --model package.module:factory (the built-in LeNet has its own weights)")
    if model and Path(model).suffix.lower() == ".onnx":
        if weights:
            raise ModelError(f"--weights cannot be combined with the ONNX file {model!r}: its weights are inside it")
        if not Path(model).is_file():
            raise ModelError(f"ONNX file {model!r} does not exist")
        net = load_onnx(model)
        check_finite(net)
        return net
    if model and Path(model).suffix.lower() in (".pt", ".pth", ".ts", ".jit"):
        if weights:
            raise ModelError(f"--weights cannot be combined with the TorchScript file {model!r}: its weights are "
                             "inside it")
        if not Path(model).is_file():
            raise ModelError(f"TorchScript file {model!r} does not exist")
        # torch 2.13 deprecates TorchScript, but still reads it; users with such files are who this serves
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=r"`torch\.jit")
            _check_inflated_size(model, "TorchScript file")
            check_archive(model)
            try:
                scripted = torch.jit.load(model, map_location="cpu")
            except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, ValueError and others
                if _is_state_dict(model):
                    raise ModelError(f"{model!r} holds weights (a state_dict), not a TorchScript model: pass "
                                     f"--model package.module:factory --weights {model}") from None
                raise ModelError(f"{model!r} is not a TorchScript file ({_first_line(err)[:160]}); "
                                 "pass package.module:factory with --weights instead") from None
            try:
                net = ScriptGraph(scripted).eval()
            except TypeError as err:
                raise ModelError(f"{model!r}: {err}") from None
        check_finite(net)
        return net
    net = _factory(model)
    if weights:
        if not Path(weights).is_file():
            raise ModelError(f"Weights file {weights!r} does not exist")
        _check_inflated_size(weights, "Weights file")
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError and others
            found = re.search(r"GLOBAL ([\w.]+)", str(err))
            why = f"it asks for {found[1]}" if found else _first_line(err)[:80]
            raise ModelError(f"Refusing {weights!r}: it does not load as plain tensors with weights_only=True "
                             f"({why}); nothing in it was run. Save a state_dict: "
                             "torch.save(model.state_dict(), path)") from None
        state = _state_from_checkpoint(state, weights)
        _check_state(net, state, weights, model)
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as err:
            raise ModelError(f"Weights {weights!r} do not match {model!r}: {_first_line(err)}") from None
    check_finite(net)
    return net.eval()
