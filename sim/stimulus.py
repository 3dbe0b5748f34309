"""Stimulus for the MAC testbenches: exhaustive code pairs, long and random accumulations."""

import numpy as np

__all__ = ["EXHAUSTIVE_OPERAND_BITS", "beat_fields", "coverage", "exhaustive_pairs", "long_accumulation",
           "mac_stimulus", "mx_stimulus", "pack_beats", "pack_lanes"]


def _float32_pool(rng, n):
    """Float32 bit patterns: moderate magnitudes mostly, plus random patterns, tiny values and specials."""
    kind = rng.random(n)
    moderate = (rng.standard_normal(n) * np.exp2(rng.integers(-20, 21, n))).astype(np.float32).view(np.uint32)
    random_bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    tiny = (rng.integers(0, 2**24, n).astype(np.uint32)) | (rng.integers(0, 2, n).astype(np.uint32) << 31)
    specials = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x00800000, 0x7F7FFFFF, 0x3F800000],
                        np.uint32)[rng.integers(0, 8, n)]
    out = np.where(kind < 0.7, moderate, np.where(kind < 0.85, random_bits, np.where(kind < 0.95, tiny, specials)))
    return out.astype(np.int64)


def _codes(fmt, rng, n):
    if fmt.bits > 16:  # too many to enumerate: float32
        return _float32_pool(rng, n)
    codes = fmt.codes().numpy()
    # extremes often, so sums hit accumulator overflow and output saturation
    ext = np.array([codes.min(), codes.max()] if fmt.to_dict()["kind"] == "dfp" else
                   fmt.encode(np.array([fmt.max_value, -fmt.max_value], np.float32)))
    return np.where(rng.random(n) < 0.3, rng.choice(ext, n), rng.choice(codes, n))


def pack_lanes(codes, bits):
    """Port values of a vector port: lane i's code (two's complement, ``bits`` wide) at bits ``[i*bits, ...)``.

    ``codes`` is ``[cycles]`` (one lane) or ``[cycles, lanes]``; returns Python ints.
    """
    codes = np.asarray(codes, dtype=np.int64)
    mask = (1 << bits) - 1
    if codes.ndim == 1:
        return (codes & mask).tolist()
    out = [0] * codes.shape[0]
    for i, col in enumerate((codes & mask).T.tolist()):
        out = [o | (c << (i * bits)) for o, c in zip(out, col, strict=True)]
    return out


def beat_fields(stim, fields, lane_bits):
    """``{name: [port value per beat]}`` of a stream unit's input fields (``[(name, bits)]``, the manifest's
    ``stream.fields``): ``a`` and ``w`` lane-packed (``lane_bits`` per lane), the others as unsigned codes."""
    return {name: pack_lanes(stim[name], lane_bits[name]) if name in ("a", "w") else
            (np.asarray(stim[name], np.int64) & ((1 << bits) - 1)).tolist() for name, bits in fields}


def pack_beats(stim, fields, lane_bits):
    """The ``s_axis_tdata`` word of every beat: the fields of ``beat_fields`` least significant first."""
    values, words, at = beat_fields(stim, fields, lane_bits), [0] * len(stim["a"]), 0
    for name, bits in fields:
        words = [x | (v << at) for x, v in zip(words, values[name], strict=True)]
        at += bits
    return words


def _lanes(cfg):
    return getattr(cfg, "lanes", 1)


def exhaustive_pairs(cfg):
    """Every (activation code, weight code) pair as a one-cycle dot product, in every lane.

    With N lanes, lane i sees all pairs too, rotated by a different offset, so
    each cycle sums N different pairs through the adder tree.
    """
    a, w = _rotated_pairs(cfg.a.codes().numpy(), cfg.w.codes().numpy(), _lanes(cfg))
    n = len(a)
    return {"a": a, "w": w, "valid": np.ones(n, np.int8), "clear": np.ones(n, np.int8)}


def _rotated_pairs(a_codes, w_codes, lanes):
    """Every (a, w) code pair once per lane: ``[pairs]`` codes, or ``[pairs, lanes]`` with lane i rotated by
    its own offset (each cycle sums different pairs through the adder tree)."""
    a, w = np.meshgrid(a_codes, w_codes, indexing="ij")
    a, w = a.ravel(), w.ravel()
    n = a.size
    if lanes > 1:
        shifts = [(i * (n // lanes + 7919)) % n for i in range(lanes)]
        a = np.stack([np.roll(a, s) for s in shifts], 1)
        w = np.stack([np.roll(w, s) for s in shifts], 1)
    return a, w


def long_accumulation(cfg, n, seed, mean_length=256):
    """Random codes in long dot products: random clear (mean length), 90% valid; ``[n, lanes]`` codes for N lanes."""
    rng = np.random.default_rng(seed)
    lanes = _lanes(cfg)
    shape = n if lanes == 1 else n * lanes
    a, w = _codes(cfg.a, rng, shape), _codes(cfg.w, rng, shape)
    if lanes > 1:
        a, w = a.reshape(n, lanes), w.reshape(n, lanes)
    clear = (rng.random(n) < 1 / mean_length).astype(np.int8)
    clear[0] = 1
    return {"a": a, "w": w, "valid": (rng.random(n) < 0.9).astype(np.int8), "clear": clear}


def random_bias(cfg, n, seed):
    """Bias preload values in the accumulator encoding: float32 patterns or integers across its range."""
    rng = np.random.default_rng(seed + 7)
    if cfg.family == "float32" or getattr(cfg, "accumulator", None) == "fp32":
        return _float32_pool(rng, n)
    acc = cfg.acc if cfg.family == "minifloat" else cfg.accumulator
    span = rng.integers(acc.min_code >> 2, (acc.max_code >> 2) + 1, n)
    ext = rng.choice([acc.min_code, acc.max_code, 0], n)
    return np.where(rng.random(n) < 0.2, ext, span).astype(np.int64)


_SCALES = np.array([0, 1, 2, 100, 120, 126, 127, 128, 130, 150, 200, 252, 253, 254])


def mx_stimulus(cfg, *, exhaustive=True, random_vectors=65536, seed=0):
    """Stimulus of an MX unit: every element-code pair in every lane (scales 1; one block per restart), then
    random cycles in long dot products (clears also mid-block, idle cycles) with scales near 1, at the E8M0
    limits (2**-127, 2**127) and, rarely, NaN (code 255)."""
    rng = np.random.default_rng(seed)
    lanes, parts = cfg.lanes, []
    if exhaustive:
        a, w = _rotated_pairs(np.arange(2**cfg.a.element.bits), np.arange(2**cfg.w.element.bits), lanes)
        n = len(a)
        a, w = a.reshape(n, -1), w.reshape(n, -1)  # [cycles, lanes], one lane too
        per = cfg.cycles_per_block  # each block, then the sum, restarts: every pair lands in a checked block
        pad = -n % per
        a, w = (np.concatenate([x, np.zeros((pad, lanes), x.dtype)]) for x in (a, w))
        n += pad
        parts.append({"a": a, "w": w, "valid": np.ones(n, np.int8),
                      "clear": (np.arange(n) % per == 0).astype(np.int8), "sa": np.full(n, 127), "sw": np.full(n, 127)})
    if random_vectors:
        n = random_vectors
        a = rng.integers(0, 2**cfg.a.element.bits, (n, lanes))
        w = rng.integers(0, 2**cfg.w.element.bits, (n, lanes))
        zeros = rng.random((n, lanes)) < 0.2  # sparse blocks, and whole zero blocks now and then
        a = np.where(zeros | (rng.random(n) < 0.03)[:, None], 0, a)

        def scales():
            k = rng.random(n)
            return np.where(k < 0.5, rng.integers(110, 145, n), np.where(
                k < 0.8, rng.choice(_SCALES, n), np.where(k < 0.995, rng.integers(0, 255, n), 255)))

        clear = (rng.random(n) < 1 / 16).astype(np.int8)
        clear[0] = 1
        parts.append({"a": a, "w": w, "valid": (rng.random(n) < 0.9).astype(np.int8), "clear": clear,
                      "sa": scales(), "sw": scales()})
    if not parts:
        raise ValueError("No vectors to simulate: keep the exhaustive pairs or ask for random vectors")
    stim = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    for k in ("a", "w"):  # MXINT8 codes are two's complement integers
        fmt, c = getattr(cfg, k).element, stim[k].astype(np.int64)
        stim[k] = np.where(c >= 2 ** (fmt.bits - 1), c - 2**fmt.bits, c) if fmt.to_dict()["kind"] == "dfp" else c
    return stim


EXHAUSTIVE_OPERAND_BITS = 16  # a MAC's code pairs are swept exhaustively when its operands have this many bits


def coverage(cfg, *, exhaustive=True, random_vectors=65536):
    """What ``mac_stimulus`` covers, in words: exhaustive code pairs or why not, then the random vectors."""
    if cfg.family == "mx":
        a, w = cfg.a.element.bits, cfg.w.element.bits
        pairs = f"every element-code pair ({2 ** (a + w):,}) in every lane" if exhaustive else "no exhaustive pairs"
    elif not exhaustive:
        pairs = "no exhaustive pairs (--no-exhaustive)"
    elif cfg.a.bits + cfg.w.bits <= EXHAUSTIVE_OPERAND_BITS:
        pairs = f"every code pair ({2 ** (cfg.a.bits + cfg.w.bits):,})"
    else:
        pairs = (f"no exhaustive pairs: {cfg.a.bits}+{cfg.w.bits}-bit operands have "
                 f"{2 ** (cfg.a.bits + cfg.w.bits):,} code pairs, more than the 2**{EXHAUSTIVE_OPERAND_BITS} swept")
    return f"{pairs}; {random_vectors:,} random accumulation vectors"


def mac_stimulus(cfg, *, exhaustive=True, random_vectors=65536, seed=0, bias=False):
    """Concatenated stimulus: exhaustive pairs (if asked, for <= 16 bits of operands), then long random
    accumulations. MX units: ``mx_stimulus``."""
    if cfg.family == "mx":
        stim = mx_stimulus(cfg, exhaustive=exhaustive, random_vectors=random_vectors, seed=seed)
        if bias:
            stim["bias"] = _float32_pool(np.random.default_rng(seed + 7), len(stim["a"]))
        return stim
    parts = [exhaustive_pairs(cfg)] if exhaustive and cfg.a.bits + cfg.w.bits <= EXHAUSTIVE_OPERAND_BITS else []
    if random_vectors:
        parts.append(long_accumulation(cfg, random_vectors, seed))
    if not parts:
        raise ValueError("No vectors to simulate: keep the exhaustive pairs (operands of <= 16 bits together) "
                         "or ask for random vectors (random_vectors / --random N > 0)")
    stim = {k: np.concatenate([p[k] for p in parts]) for k in ("a", "w", "valid", "clear")}
    if bias:
        stim["bias"] = random_bias(cfg, len(stim["a"]), seed)
    return stim
