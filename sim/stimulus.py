"""Stimulus for the MAC testbenches: exhaustive code pairs, long and random accumulations."""

import numpy as np

__all__ = ["exhaustive_pairs", "long_accumulation", "mac_stimulus"]


def exhaustive_pairs(cfg):
    """Every (activation code, weight code) pair as a one-product dot product."""
    a_codes, w_codes = cfg.a.codes().numpy(), cfg.w.codes().numpy()
    a, w = np.meshgrid(a_codes, w_codes, indexing="ij")
    n = a.size
    return {"a": a.ravel(), "w": w.ravel(), "valid": np.ones(n, np.int8), "clear": np.ones(n, np.int8)}


def long_accumulation(cfg, n, seed, mean_length=256):
    """Random codes in long dot products: random clear (mean length), 90% valid."""
    rng = np.random.default_rng(seed)
    a_codes, w_codes = cfg.a.codes().numpy(), cfg.w.codes().numpy()
    # extremes often, so sums hit accumulator overflow and output saturation
    a = np.where(rng.random(n) < 0.3, rng.choice([a_codes.min(), a_codes.max()], n), rng.choice(a_codes, n))
    w = np.where(rng.random(n) < 0.3, rng.choice([w_codes.min(), w_codes.max()], n), rng.choice(w_codes, n))
    clear = (rng.random(n) < 1 / mean_length).astype(np.int8)
    clear[0] = 1
    return {"a": a, "w": w, "valid": (rng.random(n) < 0.9).astype(np.int8), "clear": clear}


def mac_stimulus(cfg, *, exhaustive=True, random_vectors=65536, seed=0):
    """Concatenated stimulus: exhaustive pairs (if asked) then long random accumulations."""
    parts = [exhaustive_pairs(cfg)] if exhaustive else []
    if random_vectors:
        parts.append(long_accumulation(cfg, random_vectors, seed))
    return {k: np.concatenate([p[k] for p in parts]) for k in ("a", "w", "valid", "clear")}
