"""The synthesis tier: Yosys, OpenSTA, nextpnr and the OSU liberty must be there."""

import pytest
from tiers import OSU018, need


@pytest.fixture(autouse=True)
def _tools():
    need(("yosys", "yosys-abc", "sta", "nextpnr-ice40"), (OSU018,))
