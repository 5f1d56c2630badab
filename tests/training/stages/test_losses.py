"""SN and TF losses: asymmetric loss known values, σ pooling, composition, shape errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from trainer.models.aindnet import AINDNet  # noqa: E402
from trainer.models.config import ModelConfig  # noqa: E402
from trainer.stages.losses import (  # noqa: E402
    ASYMM_ALPHA,
    LAMBDA_ASYMM,
    SCALE_WEIGHTS,
    asymmetric_loss,
    downscale_sigma,
    sn_loss,
    tf_loss,
)


def test_paper_constants():
    assert ASYMM_ALPHA == 0.25 and LAMBDA_ASYMM == 0.05 and SCALE_WEIGHTS == (0.2, 0.8)


def test_asymmetric_loss_known_values():
    sigma = torch.tensor([0.2, 0.2, 0.2, 0.2])
    sigma_hat = torch.tensor([0.3, 0.1, 0.2, 0.6])  # over 0.1, under 0.1, exact, over 0.4
    # |α − 1(d<0)|·d²: 0.25·0.01, 0.75·0.01, 0, 0.25·0.16 → mean = (0.0025 + 0.0075 + 0.04) / 4
    expected = (0.25 * 0.01 + 0.75 * 0.01 + 0.0 + 0.25 * 0.16) / 4
    assert asymmetric_loss(sigma_hat, sigma).item() == pytest.approx(expected, rel=1e-6)
    assert asymmetric_loss(sigma_hat, sigma, alpha=0.5).item() == pytest.approx(
        0.5 * (0.01 + 0.01 + 0.16) / 4, rel=1e-6
    )


def test_under_estimation_weighs_three_times_over_estimation():
    sigma = torch.rand(2, 3, 5, 6) + 0.1
    over = asymmetric_loss(sigma + 0.05, sigma)
    under = asymmetric_loss(sigma - 0.05, sigma)
    assert over.item() == pytest.approx(0.25 * 0.05**2, rel=1e-4)  # weight α on over-estimation
    assert under.item() == pytest.approx(0.75 * 0.05**2, rel=1e-4)  # weight 1 − α on under-estimation
    assert asymmetric_loss(sigma, sigma).item() == 0.0


def test_asymmetric_loss_gradient():
    sigma = torch.tensor([0.2, 0.2])
    sigma_hat = torch.tensor([0.3, 0.1], requires_grad=True)
    asymmetric_loss(sigma_hat, sigma).backward()
    # d/dσ̂ mean(w·d²) = 2·w·d / n
    torch.testing.assert_close(sigma_hat.grad, torch.tensor([2 * 0.25 * 0.1 / 2, 2 * 0.75 * -0.1 / 2]))


def test_asymmetric_loss_bad_input():
    with pytest.raises(ValueError, match="equal shapes"):
        asymmetric_loss(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="alpha"):
        asymmetric_loss(torch.zeros(2), torch.zeros(2), alpha=1.5)
    with pytest.raises(TypeError, match="floating"):
        asymmetric_loss(torch.zeros(2, dtype=torch.int64), torch.zeros(2))


def test_downscale_sigma_pools_and_pads_like_the_model():
    sigma = torch.rand(2, 3, 8, 12)
    torch.testing.assert_close(downscale_sigma(sigma, 4), F.avg_pool2d(sigma, 4))
    assert downscale_sigma(sigma, 1) is sigma
    odd = torch.rand(1, 3, 9, 6)
    pooled = downscale_sigma(odd, 4)
    assert pooled.shape == (1, 3, 3, 2)
    a = odd[0].numpy()
    # Last row of cells covers rows 8, 9, 10, 11 = rows 8, 7, 6, 5 after bottom reflect padding.
    # Last column of cells covers columns 4, 5, 6, 7 = columns 4, 5, 4, 3.
    rows = a[:, [8, 7, 6, 5], :][:, :, [4, 5, 4, 3]]
    np.testing.assert_allclose(pooled[0, :, 2, 1].numpy(), rows.mean(axis=(1, 2)), rtol=1e-6)


def test_sn_loss_composition():
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 3, 16, 20, generator=g)
    denoised = (clean + 0.1 * torch.randn(2, 3, 16, 20, generator=g)).requires_grad_()
    sigma = 0.05 + 0.1 * torch.rand(2, 3, 16, 20, generator=g)
    sigma_hat = (sigma + 0.02 * torch.randn(2, 3, 16, 20, generator=g)).requires_grad_()
    sigma_coarse = (F.avg_pool2d(sigma, 4) - 0.03).requires_grad_()
    total, parts = sn_loss(denoised, clean, sigma_hat, sigma_coarse, sigma, coarse_factor=4)
    l1 = (denoised - clean).abs().mean()
    a1 = asymmetric_loss(sigma_hat, sigma)
    a4 = 0.75 * 0.03**2  # pure under-estimation by 0.03 everywhere
    expected = l1 + 0.05 * (0.2 * a1 + 0.8 * a4)
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    assert parts["asymm_coarse"].item() == pytest.approx(a4, rel=1e-4)
    assert parts["l1"].item() == pytest.approx(l1.item(), rel=1e-6)
    assert parts["asymm"].item() == pytest.approx(0.2 * a1.item() + 0.8 * a4, rel=1e-4)
    assert set(parts) == {"total", "l1", "asymm", "asymm_full", "asymm_coarse"}
    assert all(not v.requires_grad for v in parts.values())
    total.backward()
    assert all(t.grad is not None for t in (denoised, sigma_hat, sigma_coarse))


def test_sn_loss_on_model_output_odd_size_reaches_both_estimator_branches():
    torch.manual_seed(0)
    model = AINDNet(ModelConfig.tiny())
    clean = torch.rand(2, 3, 37, 54)
    sigma = torch.full_like(clean, 0.05)
    noisy = clean + sigma * torch.randn_like(clean)
    denoised, sigma_hat, coarse = model(noisy, return_coarse=True)
    total, parts = sn_loss(denoised, clean, sigma_hat, coarse, sigma, coarse_factor=model.coarse_factor)
    assert torch.isfinite(total) and total.dtype == torch.float32
    # The coarse term alone back-propagates into the coarse branch (not only through σ̂).
    _, _, coarse = model(noisy, return_coarse=True)
    model.zero_grad()
    sn_loss(
        clean, clean, sigma, coarse, sigma, coarse_factor=4, lambda_asymm=1.0, scale_weights=(0.0, 1.0)
    )[0].backward()
    assert model.estimator.coarse[-2].weight.grad is not None
    assert model.estimator.refine[0].weight.grad is None


def test_sn_loss_shape_errors():
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="coarse_factor=8"):
        sn_loss(x, x, x, F.avg_pool2d(x, 4), x, coarse_factor=8)
    with pytest.raises(ValueError, match="equal shapes"):
        sn_loss(x, x[..., :8], x, F.avg_pool2d(x, 4), x, coarse_factor=4)


def test_losses_compute_in_float32_for_bf16_inputs():
    x = torch.rand(1, 3, 8, 8)
    total, _ = sn_loss(x.bfloat16(), x, x.bfloat16(), F.avg_pool2d(x, 4).bfloat16(), x, coarse_factor=4)
    assert total.dtype == torch.float32


def test_tf_loss_is_l1():
    a, b = torch.rand(2, 3, 9, 7), torch.rand(2, 3, 9, 7)
    total, parts = tf_loss(a, b)
    torch.testing.assert_close(total, F.l1_loss(a, b))
    assert set(parts) == {"total", "l1"}
