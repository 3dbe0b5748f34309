"""The simulator tier: Icarus must be there (in CI a missing simulator is a failure)."""

import os
import shutil

import pytest


@pytest.fixture(autouse=True)
def _icarus():
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        msg = "Icarus Verilog (iverilog, vvp) not found: apt-get install iverilog, or run tools/setup.sh"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
