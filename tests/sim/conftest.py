"""The simulator tier: Icarus Verilog must be there."""

import pytest
from tiers import need


@pytest.fixture(autouse=True)
def _icarus():
    need(("iverilog", "vvp"))
