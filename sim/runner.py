"""Launch the cocotb testbench of a MAC under Icarus Verilog (``cocotb_tools.runner``)."""

import json
import shutil
from pathlib import Path

import numpy as np

from ..datapath import config_from_dict
from ..files import atomic_path, write_json
from ..hw.generate import generate, parse_spec
from .check import verdict
from .stimulus import mac_stimulus

__all__ = ["SimulationFailed", "SimulatorMissing", "require_icarus", "run_cocotb", "verify"]


class SimulatorMissing(RuntimeError):
    """Icarus Verilog is not installed."""


class SimulationFailed(RuntimeError):
    """The simulator ran but the testbench wrote no reads; the message holds the log tail."""


def require_icarus():
    """Raise ``SimulatorMissing`` unless Icarus Verilog (``iverilog``, ``vvp``) is on the PATH."""
    for tool in ("iverilog", "vvp"):
        if shutil.which(tool) is None:
            raise SimulatorMissing(
                f"{tool} not found: install Icarus Verilog (Debian: apt-get install iverilog, "
                "or run tools/setup.sh)")


def run_cocotb(v_path, j_path, stim, build_dir, *, test_module, result_name, extra_env=None):
    """Run testbench ``test_module`` on the unit ``v_path`` (manifest ``j_path``) under Icarus with stimulus
    ``stim`` (written to ``stimulus.npz``); return the JSON the testbench wrote to ``result_name``."""
    from cocotb_tools.runner import get_runner

    manifest = json.loads(Path(j_path).read_text())
    stim_path, result_path = build_dir / "stimulus.npz", build_dir / result_name
    with atomic_path(stim_path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **stim)
    result_path.unlink(missing_ok=True)
    runner = get_runner("icarus")
    runner.build(sources=[v_path], hdl_toplevel=manifest["module"], build_dir=build_dir,
                 timescale=("1ns", "1ps"), log_file=build_dir / "build.log")
    try:
        runner.test(hdl_toplevel=manifest["module"], test_module=test_module, build_dir=build_dir,
                    test_dir=build_dir, log_file=build_dir / "sim.log",
                    extra_env={"RISTRETTO_MANIFEST": str(j_path), "RISTRETTO_STIMULUS": str(stim_path),
                               "RISTRETTO_RESULT": str(result_path), **(extra_env or {})})
    except SystemExit:
        pass  # the runner exits on a failed test; the missing results are reported below
    if not result_path.exists():
        log = (build_dir / "sim.log").read_text()[-3000:] if (build_dir / "sim.log").exists() else ""
        raise SimulationFailed(f"the testbench wrote no results (files in {build_dir}); simulator log tail:\n{log}")
    return json.loads(result_path.read_text())


def verify(spec, build_dir, *, exhaustive=True, random_vectors=65536, seed=0, stimulus=None):
    """Generate the MAC of ``spec``, simulate it against the reference model, return the verdict.

    ``stimulus`` (a dict of arrays ``a``, ``w``, ``valid``, ``clear`` and, for a
    MAC with a bias port, ``bias``) replaces the generated vectors.

    Returns a dict with ``vectors``, ``seconds``, ``vectors_per_s``, ``passed`` and,
    on failure, ``first_mismatch`` (the first vector with expected and got values).

    Raises
    ------
    SimulatorMissing
        When ``iverilog`` or ``vvp`` is not on the PATH.
    """
    require_icarus()
    build_dir = Path(build_dir).resolve()
    v_path, j_path = generate(spec, build_dir)
    manifest = json.loads(j_path.read_text())
    cfg, options = parse_spec(spec)
    stim = stimulus if stimulus is not None else mac_stimulus(
        cfg, exhaustive=exhaustive, random_vectors=random_vectors, seed=seed, bias=options["bias"])
    reads = run_cocotb(v_path, j_path, stim, build_dir, test_module="ristretto.sim.mac_tb", result_name="reads.json")
    result = verdict(config_from_dict(manifest["config"]), stim, reads["acc"], reads["out"],
                     stages=manifest["stages"], seconds=reads["seconds"])
    write_json(build_dir / "result.json", result)
    return result
