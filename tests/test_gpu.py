"""CPU and GPU give the same answers (runs where torch sees a CUDA device; CI has none)."""

import pytest
import torch
from torch import nn

from ristretto.formats import FLOAT16, DynamicFixedPoint, Minifloat, PowerOfTwo

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

FORMATS = [DynamicFixedPoint(8, 5), DynamicFixedPoint(16, 3), Minifloat(4, 3), Minifloat(5, 2, subnormals=True),
           FLOAT16, Minifloat(8, 7, subnormals=True, inf_nan=True), PowerOfTwo(4, -8, -1, zero=False),
           PowerOfTwo(5, -10, 3)]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.slug)
def test_quantize_encode_decode_same_bits_on_gpu(fmt):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1 << 20, generator=g) * torch.exp2(torch.randint(-30, 30, (1 << 20,), generator=g).float())
    for rounding in fmt.rounding_modes:
        cpu = fmt.quantize(x, rounding=rounding, generator=7)
        gpu = fmt.quantize(x.cuda(), rounding=rounding, generator=7)
        assert gpu.device.type == "cuda"
        assert torch.equal(cpu.view(torch.int32), gpu.cpu().view(torch.int32)), rounding
    codes = fmt.encode(x.cuda())
    assert torch.equal(codes.cpu(), fmt.encode(x))
    assert torch.equal(fmt.decode(codes).cpu(), fmt.decode(codes.cpu()))


def test_exact_mode_on_gpu_equals_cpu():
    from ristretto.nn import LayerFormats, QuantLayer, set_mode
    from ristretto.nn.exact import exact_forward

    torch.manual_seed(0)
    D = DynamicFixedPoint
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(8, 4, 2, stride=2),
                        nn.Flatten(), nn.Linear(4 * 16 * 16, 10))
    for i in (0, 2, 4):
        net[i] = QuantLayer(net[i], LayerFormats(D(8, 4), D(8, 6), D(16, 10), D(8, 3)))
    set_mode(net, "exact")
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        cpu = net(x)
        gpu = net.cuda()(x.cuda())
    assert torch.equal(cpu, gpu.cpu())
    mf = Minifloat(4, 3)
    layer = QuantLayer(nn.Linear(20, 5), LayerFormats(mf, mf, mf, mf))
    layer.mode = "exact"
    xs = torch.randn(3, 20)
    with torch.no_grad():
        assert torch.equal(exact_forward(layer, xs), exact_forward(layer.cuda(), xs.cuda()).cpu())


def test_fp32_mode_and_finetuning_run_on_gpu():
    from ristretto.nn import Widths, apply_formats, assign_formats, wrap_model
    from ristretto.nn.finetune import finetune
    from ristretto.nn.ranges import calibrate

    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 3, (64,))
    net = wrap_model(model).cuda()
    apply_formats(net, assign_formats(net, calibrate(net, [x.cuda()]), "dfp", Widths(8, 8, 8)))
    finetune(net, x, y, epochs=1, device="cuda", quantize_activations=True, rounding="stochastic")
    with torch.no_grad():
        assert net(x.cuda()).shape == (64, 3)
