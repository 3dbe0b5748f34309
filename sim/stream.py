"""Verification of stream-interface units: packets through cocotbext-axi's source and sink under random stalls.

The expected result of each packet is the reference datapath's (``cfg.trace``)
output at the packet's last beat, the packet run as the bare unit sees it: one
valid cycle per beat, ``clear`` at its first. The unit must return exactly one
result per packet, in order, and nothing more, whatever the stalls.
"""

import json
from pathlib import Path

import numpy as np

from ..datapath import config_from_dict
from ..files import write_json
from ..hw.generate import generate, parse_spec
from .runner import require_icarus, run_cocotb
from .stimulus import mac_stimulus

__all__ = ["expected_results", "stream_stimulus", "verify_stream"]


def stream_stimulus(cfg, *, beats=2000, seed=0, bias=False, mean_length=6):
    """Per-beat fields (``a``, ``w``, MX ``sa``/``sw``, ``bias``) and ``last``, in packets of random length
    (one-beat packets a quarter of the time, so results pile up in the queue; MX: whole blocks)."""
    rng = np.random.default_rng(seed + 11)
    stim = mac_stimulus(cfg, exhaustive=False, random_vectors=beats, seed=seed, bias=bias)
    per = getattr(cfg, "cycles_per_block", 1)
    last = np.zeros(beats, np.int8)
    at = 0
    while at < beats:
        n = 1 if rng.random() < 0.25 else int(rng.integers(1, 2 * mean_length))
        at += n * per
        last[min(at, beats) - 1] = 1
    n = np.flatnonzero(last)[-1] + 1
    if per > 1:  # whole blocks only
        n -= n % per
        last = last[:n]
        last[-1] = 1
    out = {k: np.asarray(v)[:n] for k, v in stim.items() if k not in ("valid", "clear")}
    out["last"] = last[:n]
    return out


def expected_results(cfg, stim):
    """Each packet's result code (unsigned bit pattern of the output port), from the reference datapath."""
    last = np.asarray(stim["last"], bool)
    clear = np.concatenate([[True], last[:-1]]).astype(np.int8)
    extra = {k: stim[k] for k in getattr(cfg, "inputs", ())}
    acc = np.asarray(cfg.trace(stim["a"], stim["w"], np.ones(len(last), np.int8), clear, stim.get("bias"), **extra),
                     dtype=np.int64)
    out = np.asarray(cfg.output(acc), dtype=np.int64)[last]
    bits = 32 if cfg.family in ("float32", "mx") else cfg.out.bits  # the output port's width
    return (out & ((1 << bits) - 1)).tolist()


def verify_stream(spec, build_dir, *, beats=2000, seed=0, stalls=(0.3, 0.5), stimulus=None, _credit=None):
    """Generate the stream unit of ``spec`` (its ``interface`` forced to ``stream``), send packets through
    cocotbext-axi with the source holding back a beat with probability ``stalls[0]`` and the sink not ready
    with ``stalls[1]``; return the verdict: ``passed``, ``packets``, ``beats``, ``cycles``, ``held`` (cycles
    the unit held back an offered beat), ``latency``, ``depth``, ``mismatches``,
    ``missing``/``extra`` result counts and, on failure, ``first_mismatch``.

    ``stimulus`` (``stream_stimulus``'s dict) replaces the random packets.

    Raises
    ------
    SimulatorMissing
        When ``iverilog`` or ``vvp`` is not on the PATH.
    SimulationFailed
        When the testbench wrote no results.
    """
    require_icarus()
    from ..hw.generate import load_spec

    spec = {**load_spec(spec), "interface": "stream"}
    cfg, options = parse_spec(spec)
    build_dir = Path(build_dir).resolve()
    v_path, j_path = generate(spec, build_dir, _credit=_credit)
    manifest = json.loads(j_path.read_text())
    stim = stimulus if stimulus is not None else stream_stimulus(cfg, beats=beats, seed=seed, bias=options["bias"])
    reads = run_cocotb(v_path, j_path, stim, build_dir, test_module="ristretto.sim.stream_tb",
                       result_name="results.json", extra_env={"RISTRETTO_STALLS": f"{stalls[0]},{stalls[1]},{seed}"})
    want = expected_results(config_from_dict(manifest["config"]), stim)
    got = reads["results"]
    bad = [i for i, (x, y) in enumerate(zip(want, got, strict=False)) if x != y]  # missing or extra: counted below
    result = {"packets": len(want), "beats": reads["beats"], "cycles": reads["cycles"], "held": reads["held"],
              "seconds": reads["seconds"],
              "stalls": list(stalls), "latency": manifest["stream"]["latency"], "depth": manifest["stream"]["depth"],
              "mismatches": len(bad), "missing": max(0, len(want) - len(got)),
              "extra": len(reads["extra"]) + max(0, len(got) - len(want))}
    result["passed"] = not bad and not result["missing"] and not result["extra"]
    if bad:
        result["first_mismatch"] = {"packet": bad[0], "expected": want[bad[0]], "got": got[bad[0]]}
    write_json(build_dir / "result.json", result)
    return result
