"""MX block formats: OCP MX v1.0 conversion, equal to torchao's MX emulation, with partial blocks, zeros, NaN."""

import logging

import numpy as np
import pytest
import torch

from ristretto.formats import DynamicFixedPoint, MXFormat, from_dict, named

ELEMENTS = ["float8_e4m3fn", "float8_e5m2", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn"]


def _data(rows=64, cols=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=g) * torch.exp2(torch.randint(-30, 30, (rows, 1), generator=g).float())
    if cols >= 32:
        x[0, :5] = torch.tensor([1e30, -3.0, 0.0, 5e-20, 7.0])  # a block spanning 50 binades
        x[1, :32] = 0.0  # a block of zeros
        x[2, 7] = 448.0 * 2**10  # exactly on a power of two times the largest element
    return x


@pytest.fixture(scope="module")
def torchao_mx():
    pytest.importorskip("torchao")
    logging.disable(logging.WARNING)  # torchao logs about kernels this CPU build lacks
    try:
        from torchao.prototype.mx_formats.config import ScaleCalculationMode
        from torchao.prototype.mx_formats.constants import DTYPE_FP6_E2M3, DTYPE_FP6_E3M2
        from torchao.prototype.mx_formats.mx_tensor import to_dtype, to_mx
    finally:
        logging.disable(logging.NOTSET)
    dtypes = {"float8_e4m3fn": torch.float8_e4m3fn, "float8_e5m2": torch.float8_e5m2,
              "float6_e2m3fn": DTYPE_FP6_E2M3, "float6_e3m2fn": DTYPE_FP6_E3M2,
              "float4_e2m1fn": torch.float4_e2m1fn_x2}

    def run(x, name, block):
        s, d = to_mx(x, dtypes[name], block, ScaleCalculationMode.FLOOR)
        return s.view(torch.uint8).to(torch.int64), to_dtype(d, s, dtypes[name], block, torch.float32)

    return run


@pytest.mark.parametrize("block", [32, 16])
@pytest.mark.parametrize("name", ELEMENTS)
def test_equal_to_torchao(torchao_mx, name, block):
    """Scale codes and values equal torchao's FLOOR mode (the OCP rule) for every element type."""
    x = _data()
    fmt = MXFormat(named(name), block)
    codes, scales = fmt.encode(x)
    ours = fmt.decode(codes, scales)
    their_scales, theirs = torchao_mx(x, name, block)
    assert torch.equal(scales, their_scales.reshape(scales.shape))
    assert torch.equal(ours, theirs.reshape(ours.shape)), int((ours != theirs.reshape(ours.shape)).sum())


def test_the_one_known_difference_with_torchao(torchao_mx):
    """Where the scale code is 0 (2**-127) torchao divides by 2**-126 (a Triton workaround, see its source) but
    multiplies back by 2**-127: its values come out halved and rounded at the wrong scale."""
    x = torch.linspace(1e-40, 3e-39, 32)[None]
    fmt = MXFormat(named("float8_e4m3fn"))
    codes, scales = fmt.encode(x)
    their_scales, theirs = torchao_mx(x, "float8_e4m3fn", 32)
    assert scales.tolist() == their_scales.tolist() == [[0]]
    e4m3 = named("float8_e4m3fn")
    x64 = x.double()
    assert torch.equal(fmt.decode(codes, scales).double(), e4m3.quantize(x64 * 2.0**127) * 2.0**-127)
    assert torch.equal(theirs.reshape(x.shape).double(), e4m3.quantize(x64 * 2.0**126) * 2.0**-127)


@pytest.mark.parametrize("name", ELEMENTS + ["mxint8"])
def test_the_ocp_rule(name):
    element = DynamicFixedPoint(8, 6) if name == "mxint8" else named(name)
    fmt = MXFormat(element, 32)
    x = _data(8, 96, seed=3)
    codes, scales = fmt.encode(x)
    blocks = x.reshape(8, 3, 32).double()
    amax = blocks.abs().amax(-1)
    want = torch.where(amax == 0, -127, torch.floor(torch.log2(amax)).long() - fmt.emax).clamp(-127, 127)
    assert torch.equal(scales, want + 127)
    scaled = (blocks / torch.exp2(want.double())[..., None]).clamp(-element.max_value, element.max_value)
    assert torch.equal(codes, element.encode(scaled).reshape(8, 96))
    assert fmt.emax == {"mxint8": 0, "float8_e4m3fn": 8, "float8_e5m2": 15, "float6_e2m3fn": 2, "float6_e3m2fn": 4,
                        "float4_e2m1fn": 2}[name]


def test_axis_partial_blocks_zeros_and_nan():
    fmt = MXFormat(named("float8_e4m3fn"), 32)
    x = _data(70, 3, seed=5)
    along0 = fmt.quantize(x, axis=0)
    assert torch.equal(along0, fmt.quantize(x.T.contiguous()).T)  # blocks along the reduction axis
    codes, scales = fmt.encode(x, axis=0)
    assert scales.shape == (3, 3) and codes.shape == (70, 3)  # 70 = 32 + 32 + a partial block of 6
    part = x[64:, 0:1].T
    assert torch.equal(fmt.quantize(part), along0[64:, 0:1].T)  # a partial block is a block of what it has
    y = torch.zeros(2, 32)
    y[1, 3], y[1, 4] = float("nan"), 2.0
    codes, scales = fmt.encode(y)
    assert scales.tolist() == [[0], [255]] and torch.equal(fmt.decode(codes, scales)[0], torch.zeros(32))
    assert fmt.decode(codes, scales)[1].isnan().all()
    int8 = MXFormat(DynamicFixedPoint(8, 6))
    codes, scales = int8.encode(y)
    assert scales.tolist() == [[0], [255]] and int8.decode(codes, scales)[1].isnan().all()


def test_description_and_errors():
    fmt = MXFormat(named("float4_e2m1fn"), 32)
    assert fmt.slug == "mxmf4e2m1sk32" and fmt.bits == 4
    assert from_dict(fmt.to_dict()) == fmt
    with pytest.raises(TypeError, match=r"^MX element must be a Minifloat or DynamicFixedPoint, not 'e4m3'$"):
        MXFormat("e4m3")
    with pytest.raises(ValueError, match=r"^MX elements are at most 8 bits, not mf16e5m10si$"):
        MXFormat(named("float16"))
    with pytest.raises(ValueError, match=r"^block_size must be in \[1, 1024\], not 0$"):
        MXFormat(named("float8_e4m3fn"), 0)
    with pytest.raises(ValueError, match=r"^Scale codes of shape \[2, 1\] do not fit 2 blocks"):
        fmt.decode(np.zeros((2, 64), np.int64), np.zeros((2, 1), np.int64))
