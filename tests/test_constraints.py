"""CI is reproducible: every package in the test environment is the version constraints.txt pins."""

import importlib.metadata as md
import re
import sysconfig
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

_ROOT = Path(__file__).resolve().parents[1]
_UNPINNED = {"pip", "setuptools", "wheel", "ristretto-accel"}  # the installer's own and this package


def _pins():
    pins = {}
    for line in (_ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
            assert m, f"constraints.txt line {line!r} is not NAME==VERSION"
            pins[canonicalize_name(m[1])] = Version(m[2])
    return pins


def test_every_installed_package_is_pinned_at_its_version():
    pins = _pins()
    # what pip installed into this environment (Ray, once imported, puts its vendored psutil on sys.path too)
    site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in md.distributions()
                 if Path(d.locate_file("")).resolve() in site}
    unpinned = sorted(set(installed) - set(pins) - _UNPINNED)
    assert not unpinned, f"installed but not pinned (run tools/pin.sh after taking them on purpose): {unpinned}"
    # torch's pin names the public version (2.13.0) of the local CPU build (2.13.0+cpu)
    wrong = {n: (str(v), str(pins[n])) for n, v in installed.items()
             if n in pins and Version(v.public) != Version(pins[n].public)}
    assert not wrong, f"installed (version, pin) differ: {wrong}"
