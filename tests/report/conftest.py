"""The report needs the simulator and the synthesis tools."""

import pytest
from tiers import OSU018, need


@pytest.fixture(autouse=True)
def _tools():
    need(("iverilog", "vvp", "yosys", "yosys-abc", "sta", "nextpnr-ice40"), (OSU018,))
