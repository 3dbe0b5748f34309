"""Dot-product units: N lanes, one adder tree, one accumulator; the order of every addition, defined once.

An N-lane unit takes N (activation, weight) pairs per cycle. Its N products
are summed by an adder tree, and the tree's sum enters the accumulator:

    acc <- (bias if clear else acc) + tree(p[0], ..., p[N-1])      (if valid)

The tree (``tree_reduce``) adds neighbours level by level: ``p0+p1``,
``p2+p3``, ...; a level of odd length passes its last element up unchanged.
For lanes = 5: ``((p0+p1) + (p2+p3)) + p4``. Integer and exact fixed-point
sums do not depend on this order (their tree is exact and wide enough); a
saturating accumulator clamps once per cycle, after the tree's sum is added;
float32 adders round at every node, so the tree's shape is part of the result.

A dot product of length K on an N-lane unit takes ``ceil(K / N)`` cycles:
cycle ``c`` gets elements ``c*N .. c*N+N-1`` in lanes ``0 .. N-1``; the last
cycle's unused lanes get zero codes (their products are +0).
"""

import math

import numpy as np

__all__ = ["MAX_LANES", "check_lanes", "chunks", "f32_tree", "tree_depth", "tree_reduce", "tree_reduce_stream"]

MAX_LANES = 64


def check_lanes(lanes):
    """``lanes`` as an int in 1..64, or a ValueError naming the value."""
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)) or not 1 <= lanes <= MAX_LANES:
        raise ValueError(f"lanes must be an integer in 1..{MAX_LANES}, not {lanes!r}")
    return int(lanes)


def tree_reduce(items, add):
    """Sum ``items`` with ``add`` in the adder tree's order (see the module docstring).

    ``add`` is any two-operand addition: Python ints, numpy float32 arrays,
    torch tensors, or an Amaranth function that builds an adder. The RTL, the
    cycle reference and the network's exact mode all call this one function.
    """
    level = list(items)
    if not level:
        raise ValueError("an adder tree needs at least one input")
    while len(level) > 1:
        nxt = [add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def tree_reduce_stream(n, item, add):
    """``tree_reduce([item(0), ..., item(n-1)], add)``, computing each item only when the tree needs it.

    The same tree, evaluated depth first: at most ``log2(n) + 1`` partial sums
    are alive at once (exact mode keeps them in cache). A subtree of level k
    is closed as soon as its two halves exist; at the end the open subtrees
    are joined from the right, which is where ``tree_reduce`` carries an odd
    level's last element.
    """
    stack = []  # (level, value)
    for i in range(n):
        level, v = 0, item(i)
        while stack and stack[-1][0] == level:
            v = add(stack.pop()[1], v)
            level += 1
        stack.append((level, v))
    v = stack.pop()[1]
    while stack:
        v = add(stack.pop()[1], v)
    return v


def tree_depth(lanes):
    """Adder levels of the tree over ``lanes`` inputs (0 for one lane)."""
    return math.ceil(math.log2(lanes)) if lanes > 1 else 0


def f32_tree(p):
    """Float32 tree sum over the last axis of ``p`` (numpy float32, one rounding per node)."""
    p = np.asarray(p, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        return tree_reduce([p[..., i] for i in range(p.shape[-1])], lambda x, y: (x + y).astype(np.float32))


def chunks(length, lanes):
    """Cycles a dot product of ``length`` takes on ``lanes`` lanes, and the zero lanes padded at its end."""
    cycles = max(1, -(-length // lanes))
    return cycles, cycles * lanes - length
