"""trainer.models.flops: convolution MACs counted from the layers a forward pass runs, against hand counts."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from trainer.models.aindnet import AINDNet  # noqa: E402
from trainer.models.config import MODEL_CONFIGS  # noqa: E402
from trainer.models.flops import forward_macs, mfu, peak_tflops, training_flops  # noqa: E402


def test_hand_counted_layers():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.AvgPool2d(2), nn.Conv2d(8, 4, 1, groups=2),
                        nn.ConvTranspose2d(4, 6, 2, stride=2, bias=False))
    h, w = 10, 12
    expect = (h * w * 8) * 3 * 9 + (5 * 6 * 4) * (8 // 2) * 1 + (4 * 5 * 6) * 6 * 4
    assert forward_macs(net, h, w) == expect
    assert training_flops(net, h, w) == 6 * expect


def test_paper_model_costs_about_a_teraflop_per_256_training_patch():
    model = AINDNet(MODEL_CONFIGS["paper"]())
    small = forward_macs(model, 64, 64)
    assert forward_macs(model, 128, 128) == 4 * small  # all convolutions: ∝ pixels (sizes multiples of 16)
    flops = 6 * 16 * small  # a 256² patch
    assert 0.9e12 < flops < 1.0e12  # ≈ 0.96 TFLOP: 160 GMAC forward (the estimate: ≈ 0.98)
    assert model.training  # counting leaves the mode as it was


def test_peaks_and_mfu():
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.0 and peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops("NVIDIA H200") == 989.0 and peak_tflops("Some CPU") is None
    assert mfu(330, 0.96e12, 790.0) == pytest.approx(330 * 0.96 / 790) and mfu(1, 1, None) is None
