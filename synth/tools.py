"""Finding and running the external tools, with clear errors when one is missing or fails."""

import functools
import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

from ..errors import InputError
from ..files import write_text

__all__ = ["DEBIAN_PACKAGES", "ToolFailed", "ToolMissing", "ToolTimeout", "check_liberty", "default_liberty",
           "abc_binary", "local_copy", "require", "require_abc", "run", "tool_versions"]

DEBIAN_PACKAGES = {"yosys": "yosys", "yosys-abc": "yosys", "berkeley-abc": "berkeley-abc", "sta": "opensta",
                   "nextpnr-ice40": "nextpnr-ice40"}
OSU018 = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")


class ToolMissing(RuntimeError):
    """A system tool or file is not installed; the message says how to install it."""


class ToolFailed(RuntimeError):
    """A tool exited with an error; the message holds its log tail and the command to reproduce it."""


class ToolTimeout(ToolFailed):
    """A tool ran past its time limit and was stopped (with its children)."""


def require(tool):
    path = shutil.which(tool)
    if path is None:
        pkg = DEBIAN_PACKAGES.get(tool, tool)
        raise ToolMissing(f"{tool} not found: install it (Debian: apt-get install {pkg}) or run tools/setup.sh")
    return path


@functools.cache
def abc_binary():
    """The ABC program this Yosys runs for ``abc``: Debian's build calls ``berkeley-abc``, upstream's
    ``yosys-abc`` (``help abc`` names it)."""
    require("yosys")
    try:
        text = subprocess.run(["yosys", "-p", "help abc"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        text = ""
    found = re.search(r'instead of "([^"]+)" to execute ABC', text)
    return found[1] if found else "yosys-abc"


def require_abc():
    """Raise ``ToolMissing`` naming the package when the ABC program Yosys calls is not installed."""
    return require(abc_binary())


def default_liberty():
    """The OSU 0.18 um standard-cell liberty of Debian's qflow-tech-osu018."""
    if not OSU018.exists():
        raise ToolMissing(f"{OSU018} not found: apt-get install qflow-tech-osu018 (or run tools/setup.sh), "
                          "or pass your own library with --liberty")
    return OSU018


def check_liberty(path):
    """Refuse a liberty file that is missing, empty, truncated or not liberty, before Yosys sees it.

    Raises
    ------
    InputError
        Naming the file and what is wrong with it.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"Liberty file {str(path)!r} is a folder; pass the .lib file itself with --liberty")
    if not path.is_file():
        raise InputError(f"Liberty file {str(path)!r} does not exist; pass an existing .lib with --liberty")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise InputError(f"Liberty file {str(path)!r} cannot be read ({err.strerror})") from None
    body = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    if not body.strip():
        raise InputError(f"Liberty file {str(path)!r} is empty; pass a standard-cell .lib with --liberty")
    if not re.match(r"\s*library\s*\(", body):
        raise InputError(f"Liberty file {str(path)!r} does not start with 'library (...)': not a liberty file")
    if body.count("{") != body.count("}"):
        raise InputError(f"Liberty file {str(path)!r} is truncated or malformed: {body.count('{')} '{{' against "
                         f"{body.count('}')} '}}'")
    if not re.search(r"\bcell\s*\(", body):
        raise InputError(f"Liberty file {str(path)!r} defines no cell; pass a standard-cell library")
    return path


def local_copy(path, workdir, name):
    """``workdir/name`` linking (or copying) ``path``, so tool scripts name files without spaces or odd characters."""
    dest = Path(workdir) / name
    src = Path(path).resolve()
    if dest.is_symlink() or dest.exists():
        if dest.is_symlink() and Path(os.readlink(dest)) == src:
            return dest
        dest.unlink()
    try:
        dest.symlink_to(src)
    except OSError:
        shutil.copyfile(src, dest)
    return dest


def run(cmd, cwd, log_name, timeout=600):
    """Run ``cmd`` in ``cwd``, keep its output in ``cwd/log_name``; raise ``ToolFailed`` on error."""
    require(cmd[0])
    cwd = Path(cwd)
    # its own process group: a timeout stops the tool's children too (Yosys runs ABC as a child process)
    with subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            out = None
        except BaseException:  # Ctrl-C or a kill: the group does not see our SIGINT, so stop it here
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    if out is None:
        raise ToolTimeout(f"{cmd[0]} ran past {timeout} s and was stopped (a design this large needs a faster "
                         f"machine or fewer lanes); reproduce: cd {shlex.quote(str(cwd))} && "
                         f"{shlex.join(cmd)}") from None
    log = out + err
    write_text(cwd / log_name, log)
    if proc.returncode != 0:
        tail = "\n".join(log.strip().splitlines()[-15:])
        raise ToolFailed(f"{cmd[0]} failed (exit {proc.returncode}); log tail:\n{tail}\n"
                         f"reproduce: cd {shlex.quote(str(cwd))} && {shlex.join(cmd)}")
    return log


def tool_versions():
    """First version line of each tool that is installed."""
    out = {}
    for tool, args in (("yosys", ["-V"]), ("sta", ["-version"]), ("nextpnr-ice40", ["--version"])):
        if shutil.which(tool):
            p = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
            out[tool] = (p.stdout + p.stderr).strip().splitlines()[0] if (p.stdout + p.stderr).strip() else "?"
    return out
