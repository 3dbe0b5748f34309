"""Files we read and write: atomic writes, output folders checked before work, safe JSON reading."""

import contextlib
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from .errors import InputError

__all__ = ["atomic_path", "check_out_dir", "human_size", "read_json", "safe_name", "write_bytes", "write_json",
           "write_text"]


def human_size(n):
    """``n`` bytes as a short figure: ``512 B``, ``32.0 MiB``, ``4.0 GiB``."""
    for unit, k in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << k:
            return f"{n / 2**k:.1f} {unit}"
    return f"{n} B"


def safe_name(name):
    """A file name for a user's string (a layer, model or data name) that stays inside the folder it joins.

    Letters, digits, ``_``, ``-`` and ``.`` are kept (at most 40), anything else (``/``, ``..``, NUL, spaces)
    becomes ``_``, and a hash of the whole string follows, so distinct names never share a file and
    ``/etc/passwd`` or ``../../x`` name a plain file such as ``_etc_passwd-1c8bb0...``.
    """
    text = str(name)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:40].lstrip(".") or "_"
    return f"{stem}-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"


@contextlib.contextmanager
def atomic_path(path):
    """Yield a unique temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    A crash or a kill inside the block leaves ``path`` as it was (old content or
    absent), never half written; the temporary file is removed on error.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, obj, indent=2):
    """Write ``obj`` as JSON to ``path`` atomically; returns ``path``."""
    return write_text(path, json.dumps(obj, indent=indent, default=str) + "\n")


def read_json(path, what):
    """Parse the JSON file ``path`` (``what`` names it in errors: "config", "MAC spec" ...).

    Raises
    ------
    InputError
        For a missing, unreadable, empty or malformed file, naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{what} file {str(path)!r} cannot be read as UTF-8 text ({err})") from None
    if not text.strip():
        raise InputError(f"{what} file {str(path)!r} is empty; it must hold a JSON object")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{what} file {str(path)!r} is not valid JSON: {err.msg} at line {err.lineno} "
                         f"column {err.colno}") from None


def check_out_dir(path, option="--out"):
    """Create the output folder ``path`` if needed and prove it is writable, before any long work.

    Raises
    ------
    InputError
        When ``path`` is a file, cannot be created, or cannot be written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {str(path)!r} is a file, not a folder; give a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InputError(f"{option} {str(path)!r} is not writable ({err.strerror}); choose a folder you can "
                         "write to") from None
    return path
