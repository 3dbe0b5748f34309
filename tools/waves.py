"""Regenerate the timing diagrams shown in the README (docs/waves/): `make waves`. A test keeps them current."""

import sys
from pathlib import Path

from ristretto.hw.generate import load_spec
from ristretto.sim.waves import write_timing_diagram

DIAGRAMS = {
    "fixed8_bare": {**load_spec("fixed8")},
    "fixed8_l4_stream": {**load_spec("fixed8"), "lanes": 4, "bias": True, "interface": "stream"},
    "minifloat8_stream": {**load_spec("minifloat8"), "interface": "stream"},
    "mxfp8_l8_stream": {**load_spec("mxfp8"), "lanes": 8, "interface": "stream"},
}


def main(out="docs/waves"):
    for name, spec in DIAGRAMS.items():
        for path in write_timing_diagram(spec, Path(out) / f"{name}.wave.json", Path(out) / f"{name}.svg"):
            print(f"wrote {path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
