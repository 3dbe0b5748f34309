"""The tool tiers: tests that need system tools fail in CI when one is missing, and skip elsewhere."""

import os
import shutil
from pathlib import Path

import pytest

OSU018 = "/usr/share/qflow/tech/osu018/osu018_stdcells.lib"


def need(tools=(), files=()):
    missing = [t for t in tools if shutil.which(t) is None] + [f for f in files if not Path(f).exists()]
    if missing:
        msg = f"missing {missing}: run tools/setup.sh (Debian packages iverilog, yosys, opensta, nextpnr-ice40, " \
              "qflow-tech-osu018)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
