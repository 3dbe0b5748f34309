"""The integration example: stream units fed whole layers of the quantized LeNet from a memory (plain Icarus).

``sim/integration/stream_layer_tb.v`` is what an integrator writes: a memory of
beats, a source and a sink with random stalls around the generated stream unit,
the results written back to a memory. ``run_layer`` fills the memory with every
dot product of a layer (``sim.traces``: the exact-mode operands in the unit's
order, the bias on each packet's first beat), runs it, and compares every result
with the network's exact-mode output code.
"""

import json
import subprocess
from pathlib import Path

import numpy as np

from ..files import safe_name, write_text
from ..hw.generate import generate
from .runner import require_icarus
from .stimulus import pack_beats

__all__ = ["TOP", "run_layer", "verify_lenet_stream"]

TOP = Path(__file__).with_name("integration") / "stream_layer_tb.v"


def _beats(manifest, stim):
    """The ``s_axis_tdata`` word of every beat and each packet's last beat, from a layer trace's stimulus."""
    fields = [(f["name"], f["bits"]) for f in manifest["stream"]["fields"]]
    last = np.zeros(len(stim["a"]), np.int8)
    last[np.asarray(stim["ends"])] = 1
    return pack_beats(stim, fields, manifest["lane_bits"]), last


def run_layer(trace, build_dir, *, stalls=(0.2, 0.4), seed=1, reset="sync-high", timeout=1800):
    """Run one ``LayerTrace`` through the stream unit in the integration top; return the verdict dict:
    ``passed``, ``results``, ``mismatches``, ``beats``, ``cycles`` and the first mismatch."""
    require_icarus()
    build_dir = Path(build_dir)
    spec = {**trace.spec, "interface": "stream", "reset": reset}
    v_path, j_path = generate(spec, build_dir)
    manifest = json.loads(j_path.read_text())
    words, last = _beats(manifest, trace.stimulus)
    s = manifest["stream"]
    digits = -(-s["tdata_bits"] // 4)
    write_text(build_dir / "beats.hex", "".join(f"{w:0{digits}x}\n" for w in words))
    write_text(build_dir / "last.bin", "".join(f"{b}\n" for b in last.tolist()))
    mask = (1 << s["result_bits"]) - 1
    want = (np.asarray(trace.stimulus["network_out"], np.int64) & mask).tolist()
    params = {"N": len(words), "R": len(want), "TDATA": s["tdata_bits"], "ODATA": s["out_bits"],
              "P_IN": round(100 * stalls[0]), "P_OUT": round(100 * stalls[1]), "SEED": seed}
    defines = [f"-DUNIT={manifest['module']}"] + (["-DRESET_HIGH"] if reset.endswith("high") else [])
    cmd = ["iverilog", "-g2012", "-o", str(build_dir / "layer.vvp"), "-s", "stream_layer_tb", *defines,
           *[f"-Pstream_layer_tb.{k}={v}" for k, v in params.items()], str(TOP), str(v_path)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout)
    results = build_dir / "results.hex"
    results.unlink(missing_ok=True)
    run = subprocess.run(["vvp", "-n", str(build_dir / "layer.vvp"), f"+beats={build_dir / 'beats.hex'}",
                          f"+last={build_dir / 'last.bin'}", f"+results={results}"],
                         check=True, capture_output=True, text=True, timeout=timeout)
    log = run.stdout
    lines = results.read_text().splitlines() if results.exists() else []
    got = [None if "x" in x.lower() else int(x, 16) for x in (ln.strip() for ln in lines) if x and x[0] != "/"]
    bad = [i for i, (x, y) in enumerate(zip(want, got, strict=False)) if x != y]
    cycles = next((int(ln.split(" in ")[1].split()[0]) for ln in log.splitlines() if " cycles" in ln), None)
    result = {"layer": trace.layer, "module": manifest["module"], "beats": len(words), "results": len(want),
              "cycles": cycles, "mismatches": len(bad) + max(0, len(want) - len(got)),
              "passed": not bad and len(got) == len(want) and "TIMEOUT" not in log and "EXTRA" not in log}
    if bad:
        result["first_mismatch"] = {"result": bad[0], "expected": want[bad[0]], "got": got[bad[0]]}
    return result


def verify_lenet_stream(scheme, build_dir, *, lanes=8, accumulator="auto", images=1, seed=0, stalls=(0.2, 0.4),
                        log=None):
    """Every layer of the quantized LeNet, all of its output channels over ``images`` digits, through its
    stream unit in the integration top; ``{layer: verdict}``."""
    from .traces import lenet_traces

    out = {}
    for tr in lenet_traces(scheme, lanes=lanes, accumulator=accumulator, channels=10**6, images=images, seed=seed):
        out[tr.layer] = run_layer(tr, Path(build_dir) / scheme / safe_name(tr.layer), stalls=stalls, seed=seed + 1)
        if log:
            log(tr.layer, out[tr.layer])
    return out
