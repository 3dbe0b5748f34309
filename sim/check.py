"""Expected values and the verdict of a MAC run, shared by the cocotb and Amaranth testbenches."""

import numpy as np

__all__ = ["expected", "verdict"]


def expected(cfg, stim):
    """Reference ``(acc, out)`` after each edge, from ``ristretto.datapath``."""
    extra = {k: stim[k] for k in getattr(cfg, "inputs", ())}  # an MX unit's scale codes
    acc = np.asarray(cfg.trace(stim["a"], stim["w"], stim["valid"], stim["clear"], stim.get("bias"), **extra),
                     dtype=np.int64)
    return acc, np.asarray(cfg.output(acc), dtype=np.int64)


def verdict(cfg, stim, acc_reads, out_reads, *, stages, seconds):
    """Compare reads taken once per cycle (after each edge) with the reference.

    With ``network_out`` and ``ends`` in ``stim`` (real traces), the outputs at
    the ``ends`` cycles must also equal the network's output codes.

    ``acc`` lags the inputs by ``1 + min(stages, 1)`` edges and ``out`` by the
    latency ``1 + stages``; reads continue ``latency`` cycles past the stimulus.
    """
    n = len(stim["a"])
    acc_got = np.asarray(acc_reads[min(stages, 1):min(stages, 1) + n])
    out_got = np.asarray(out_reads[stages:stages + n])
    acc_want, out_want = expected(cfg, stim)
    bad = np.flatnonzero((acc_got != acc_want) | (out_got != out_want))
    result = {"vectors": int(n), "seconds": seconds, "vectors_per_s": n / seconds if seconds else None,
              "passed": not len(bad), "mismatches": int(len(bad))}
    if "network_out" in stim:  # real traces: the RTL's outputs at each neuron's end against the network's
        result["network_match"] = bool(np.array_equal(out_got[stim["ends"]], stim["network_out"]))
        result["passed"] = result["passed"] and result["network_match"]
    if len(bad):
        i = int(bad[0])
        result["first_mismatch"] = {
            "index": i, **{k: np.asarray(stim[k][i]).tolist() for k in ("a", "w", "valid", "clear")},
            "acc_expected": int(acc_want[i]), "acc_got": int(acc_got[i]),
            "out_expected": int(out_want[i]), "out_got": int(out_got[i])}
    return result
