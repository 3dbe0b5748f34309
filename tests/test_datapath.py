"""The integer MAC reference: products, accumulation policies, requantization, cycle trace."""

import numpy as np
import pytest
import torch

from ristretto.datapath import IntAccumulator, IntMacConfig
from ristretto.formats import DynamicFixedPoint, PowerOfTwo

A = DynamicFixedPoint(8, 4)


@pytest.mark.parametrize("w", [DynamicFixedPoint(8, 7), DynamicFixedPoint(5, -2), PowerOfTwo(4, -8, -1, zero=False),
                               PowerOfTwo(5, -6, 6)])
def test_products_equal_the_product_of_decoded_values(w):
    cfg = IntMacConfig(A, w, A)
    a, wc = torch.meshgrid(A.codes(), w.codes(), indexing="ij")
    p = cfg.products(a, wc)
    exact = A.decode(a).double() * w.decode(wc).double()
    assert torch.equal(p.double() * 2.0 ** -cfg.accumulator.frac_bits, exact)
    assert int(p.abs().max()).bit_length() + 1 <= cfg.product_bits


def test_wrap_and_saturate_policies():
    wrap, sat = IntAccumulator(8, 0, "wrap"), IntAccumulator(8, 0, "saturate")
    v = torch.tensor([127, 128, 300, -129, -128])
    assert wrap.fit(v).tolist() == [127, -128, 44, 127, -128]
    assert sat.fit(v).tolist() == [127, 127, 127, -128, -128]


def test_saturating_accumulation_depends_on_order_and_matches_the_trace():
    cfg = IntMacConfig(DynamicFixedPoint(8, 0), DynamicFixedPoint(8, 0), DynamicFixedPoint(8, 0),
                       acc_bits=16, overflow="saturate")
    a = torch.tensor([[127, 127, 127, -128], [-128, 127, 127, 127]])
    w = torch.tensor([[127, 127, 127, 127], [127, 127, 127, 127]])
    acc = cfg.accumulate(cfg.products(a, w))
    assert acc.tolist() == [32767 - 16256, 3 * 16129 - 16256]  # same products, other order
    ones = np.ones(4, np.int8)
    assert cfg.trace(a[0], w[0], ones, [1, 0, 0, 0]).tolist()[-1] == acc[0]


def test_trace_follows_the_port_contract():
    cfg = IntMacConfig(A, DynamicFixedPoint(8, 0), A)
    a, w = [1, 2, 3, 4, 5], [10, 10, 10, 10, 10]
    valid, clear = [1, 1, 0, 1, 0], [1, 0, 0, 1, 1]
    assert cfg.trace(a, w, valid, clear).tolist() == [10, 30, 30, 40, 0]


def test_output_is_the_formats_requantizer():
    cfg = IntMacConfig(A, DynamicFixedPoint(8, 7), DynamicFixedPoint(6, 2))
    acc = torch.arange(-5000, 5000)
    assert torch.equal(cfg.output(acc), cfg.out.requantize_codes(acc, 11))
    assert torch.equal(cfg.output(acc), cfg.out.encode(acc.double() * 2.0**-11))


def test_dict_round_trip_and_errors():
    cfg = IntMacConfig(A, PowerOfTwo(4, -8, -1, zero=False), A, acc_bits=20, overflow="saturate")
    assert IntMacConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"missing \['out'\], unknown \['acc'\]$"):
        IntMacConfig.from_dict({"a": A.to_dict(), "w": A.to_dict(), "acc": 3})
    with pytest.raises(TypeError, match=r"^w must be a DynamicFixedPoint or PowerOfTwo, not Minifloat"):
        IntMacConfig(A, __import__("ristretto.formats").formats.Minifloat(4, 3), A)
    with pytest.raises(ValueError, match=r"^Overflow policy must be 'wrap' or 'saturate', not 'clip'$"):
        IntMacConfig(A, A, A, overflow="clip")
    with pytest.raises(ValueError, match=r"^Accumulator width must be an integer in \[2, 53\], not 64$"):
        IntMacConfig(A, A, A, acc_bits=64)


@pytest.mark.parametrize("lanes", [1, 2, 3, 5, 7, 16, 33, 64])
def test_tree_orders_agree(lanes):
    """The tensor tree (exact mode), the list tree (RTL generator, cycle reference) round alike in float32."""
    from ristretto.datapath import f32_tree, tree_reduce, tree_reduce_stream

    rng = np.random.default_rng(lanes)
    p = (rng.standard_normal((500, lanes)) * np.exp2(rng.integers(-30, 30, (500, lanes)))).astype(np.float32)
    want = f32_tree(p)
    t = torch.from_numpy(p)
    assert np.array_equal(tree_reduce_stream(lanes, lambda i: t[:, i], torch.add).numpy(), want)
    assert np.array_equal(tree_reduce(list(torch.from_numpy(p).T), torch.add).numpy(), want)
    if lanes == 5:  # ((p0+p1) + (p2+p3)) + p4
        r = ((p[:, 0] + p[:, 1]) + (p[:, 2] + p[:, 3])) + p[:, 4]
        assert np.array_equal(want, r)
        assert tree_reduce(["a", "b", "c", "d", "e"], lambda x, y: f"({x}+{y})") == "(((a+b)+(c+d))+e)"


def test_the_streamed_tree_is_the_same_tree():
    from ristretto.datapath import tree_reduce, tree_reduce_stream

    def add(x, y):
        return f"({x}+{y})"

    for n in range(1, 65):
        assert tree_reduce_stream(n, str, add) == tree_reduce([str(i) for i in range(n)], add), n
