"""The DDPM schedule and the conditional U-Net of Noise-DA (trainer.models.diffusion) against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trainer.models.diffusion import (  # noqa: E402
    CondUNet,
    cumulative_alphas,
    draw_noise_levels,
    level_embedding,
    linear_betas,
    q_sample,
)


def test_linear_schedule_and_cumulative_product_match_their_definitions():
    betas = linear_betas(1000, 1e-6, 1e-2)
    assert betas.shape == (1000,) and betas[0] == 1e-6 and betas[-1] == pytest.approx(1e-2, abs=1e-15)
    assert np.allclose(np.diff(betas), (1e-2 - 1e-6) / 999)
    ab = cumulative_alphas(betas)
    # ᾱ_t = Π (1 − β_s), by a plain loop
    expected, acc = [], 1.0
    for b in betas:
        acc *= 1.0 - b
        expected.append(acc)
    assert np.allclose(ab, expected, rtol=1e-12, atol=0)
    # closed form of log ᾱ_T ≈ −Σβ for small β: Σβ = T·(start + end)/2
    assert np.log(ab[-1]) == pytest.approx(-1000 * (1e-6 + 1e-2) / 2, rel=0.01)
    assert np.all(np.diff(ab) < 0)


@pytest.mark.parametrize("bad", [dict(timesteps=1), dict(start=0.0), dict(start=0.2, end=0.1), dict(end=1.0)])
def test_schedule_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        linear_betas(**{"timesteps": 10, "start": 1e-4, "end": 0.02, **bad})


def test_q_sample_is_the_closed_form_for_given_noise():
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 3, 8, 8, generator=g)
    eps = torch.randn(3, 3, 8, 8, generator=g)
    gamma = torch.tensor([0.999, 0.5, 0.01])
    x_t = q_sample(x0, gamma, eps)
    for i, gi in enumerate(gamma.tolist()):
        expected = np.sqrt(gi) * x0[i].double().numpy() + np.sqrt(1 - gi) * eps[i].double().numpy()
        assert np.allclose(x_t[i].numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError):
        q_sample(x0, gamma[:2], eps)


def test_q_sample_has_the_mean_and_variance_of_q_xt_given_x0():
    # q(x_t | x_0) = N(√ᾱ·x_0, (1 − ᾱ)·I): statistically, over 200k draws of ε per pixel value
    ab = cumulative_alphas(linear_betas())
    x0 = torch.tensor([0.0, 0.3, 1.0]).view(1, 3, 1, 1).expand(200_000, 3, 1, 1).contiguous()
    for t in (10, 500, 999):
        gamma = torch.full((x0.shape[0],), float(ab[t]))
        eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(t), dtype=torch.float32)
        x_t = q_sample(x0, gamma, eps).double()
        mean, var = x_t.mean(0).flatten().numpy(), x_t.var(0).flatten().numpy()
        se = np.sqrt((1 - ab[t]) / x0.shape[0])  # standard error of the mean
        assert np.all(np.abs(mean - np.sqrt(ab[t]) * np.array([0.0, 0.3, 1.0])) < 5 * se), (t, mean)
        assert np.allclose(var, 1 - ab[t], rtol=0.02), (t, var)


def test_noise_levels_lie_between_neighbouring_cumulative_alphas():
    ab = cumulative_alphas(linear_betas(50, 1e-4, 0.05))
    t, gamma = draw_noise_levels(np.random.default_rng(1), ab, 5000)
    assert t.min() >= 1 and t.max() <= 49 and len(set(t.tolist())) == 49
    assert np.all(gamma <= ab[t - 1]) and np.all(gamma >= ab[t])
    # same generator state, same draws
    t2, g2 = draw_noise_levels(np.random.default_rng(1), ab, 5000)
    assert np.array_equal(t, t2) and np.array_equal(gamma, g2)


def test_level_embedding_is_sinusoidal():
    e = level_embedding(torch.tensor([0.0, 0.5]), 8)
    assert e.shape == (2, 8)
    assert torch.equal(e[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    freqs = np.exp(-np.log(10_000) * np.arange(4) / 4)
    assert np.allclose(e[1, :4].numpy(), np.cos(500 * freqs), atol=1e-4)
    with pytest.raises(ValueError):
        level_embedding(torch.tensor([0.1]), 7)


def test_cond_unet_shapes_zero_start_and_conditions_matter_after_a_step():
    torch.manual_seed(0)
    net = CondUNet((8, 16, 16))
    x = torch.randn(2, 3, 16, 12)
    c1, c2 = torch.rand(2, 3, 16, 12), torch.rand(2, 3, 16, 12)
    gamma = torch.tensor([0.9, 0.2])
    out = net(x, c1, c2, gamma)
    assert out.shape == x.shape and torch.count_nonzero(out) == 0  # zero-initialised last conv
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net(x, c1, c2, gamma).sub(x).square().mean().backward()
    opt.step()
    with torch.no_grad():
        a, b = net(x, c1, c2, gamma), net(x, c2, c1, gamma)
    assert not torch.equal(a, b)  # the slots are not interchangeable: the order of the conditions is seen
    assert net.size_multiple == 4
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.randn(1, 3, 10, 12), *(torch.rand(1, 3, 10, 12),) * 2, gamma[:1])


def test_cond_unet_samples_are_independent_of_the_batch():
    torch.manual_seed(1)
    net = CondUNet((8, 16))
    for p in net.parameters():  # move off the zero start so that outputs are non-trivial
        p.data.add_(0.05 * torch.randn_like(p))
    x, c1, c2 = (torch.rand(3, 3, 8, 8) for _ in range(3))
    gamma = torch.tensor([0.9, 0.5, 0.1])
    full = net(x, c1, c2, gamma)
    one = net(x[1:2], c1[1:2], c2[1:2], gamma[1:2])
    assert torch.allclose(full[1:2], one, atol=1e-6)  # GroupNorm: no statistics across samples
