"""Models: the built-in LeNet-5 (trained once, deterministically, cached) and user models."""

import hashlib
import importlib
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .data import builtin_mnist
from .train import fit

__all__ = ["LeNet", "ModelError", "builtin_lenet", "cache_dir", "load_model"]


class ModelError(ValueError):
    """A model that cannot be loaded, with what is wrong and how to fix it."""


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
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)
    return model.eval()


def _factory(spec):
    if ":" not in spec:
        raise ModelError(f"--model must look like package.module:factory, not {spec!r}")
    mod_name, attr = spec.split(":", 1)
    try:
        module = importlib.import_module(mod_name)
    except ImportError as err:
        raise ModelError(f"Cannot import {mod_name!r} for --model {spec!r}: {err}; "
                         "check the name and that it is on PYTHONPATH") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ModelError(f"{mod_name!r} has no callable {attr!r} (from --model {spec!r})")
    model = factory()
    if not isinstance(model, nn.Module):
        raise ModelError(f"{spec!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def load_model(model=None, weights=None):
    """A user model: ``package.module:factory`` (+ ``weights`` state_dict) or a TorchScript file.

    A TorchScript file becomes a ``ScriptGraph``: its frozen graph replayed op by op, with
    its convolutions and linear layers as ordinary, quantizable modules.

    Weights load with ``weights_only=True``: a checkpoint that needs arbitrary code
    to unpickle is refused, never executed.

    Raises
    ------
    ModelError
        For a factory that does not import, weights that do not load or match.
    """
    if model and Path(model).suffix in (".pt", ".pth", ".ts") and Path(model).is_file():
        from .script import ScriptGraph

        # torch 2.13 deprecates TorchScript, but still reads it; users with such files are who this serves
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=r"`torch\.jit")
            try:
                scripted = torch.jit.load(model, map_location="cpu")
            except RuntimeError as err:
                raise ModelError(f"{model!r} is not a TorchScript file ({str(err).splitlines()[0]}); "
                                 "pass package.module:factory with --weights instead") from None
            try:
                return ScriptGraph(scripted).eval()
            except TypeError as err:
                raise ModelError(f"{model!r}: {err}") from None
    net = _factory(model)
    if weights:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise ModelError(f"Weights file {weights!r} does not exist") from None
        except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError and others
            raise ModelError(f"Refusing {weights!r}: it does not load as plain tensors (weights_only=True): "
                             f"{str(err).splitlines()[0]}. Save a state_dict: torch.save(model.state_dict(), path)"
                             ) from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as err:
            raise ModelError(f"Weights {weights!r} do not match {model!r}: {str(err).splitlines()[0]}") from None
    return net.eval()
