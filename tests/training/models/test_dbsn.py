"""D-BSN (trainer.models.dbsn), its 3×3 Gaussian algebra (trainer.models.gaussian3), pixel-shuffle
down-sampling (trainer.models.pd) and the NLL (trainer.stages.dbsn_loss), against direct computations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
scipy_stats = pytest.importorskip("scipy.stats")

from trainer.models.dbsn import DBSN, dbsn_from_state  # noqa: E402
from trainer.models.dbsn_config import DBSN_CONFIGS, DBSNConfig, is_dbsn_config  # noqa: E402
from trainer.models.gaussian3 import (  # noqa: E402
    add_cov,
    cholesky,
    covariance,
    diag_std,
    factor_from_raw,
    map_combine,
    solve_lower,
    solve_upper,
    to_matrix,
)
from trainer.models.pd import pad_to, pd_down, pd_up, r3_masks  # noqa: E402
from trainer.stages.dbsn_loss import dbsn_nll, nll_map  # noqa: E402

SMALL = DBSNConfig(width=8, blocks=1, sigma_mu_width=8, sigma_n_width=8, sigma_n_layers=3)


def _factors(seed: int, shape=(2, 6, 3, 4)) -> tuple:
    g = torch.Generator().manual_seed(seed)
    raw = [torch.randn(shape, generator=g, dtype=torch.float64) + 4 for _ in range(2)]  # softplus(≈0) ≈ 0.7
    return factor_from_raw(raw[0], 0.01), factor_from_raw(raw[1], 0.01)


def _np(L: torch.Tensor, n: int, i: int, j: int) -> np.ndarray:
    """The 3×3 covariance L·Lᵀ at one pixel, from the matrix layout (independent of ``covariance``)."""
    m = to_matrix(L)[n, i, j].numpy()
    return m @ m.T


# ---------------------------------------------------------------------------------------------- Gaussian algebra

def test_covariance_cholesky_and_solves_match_numpy():
    L_a, L_b = _factors(0)
    S = covariance(L_a)
    assert torch.allclose(cholesky(S), L_a, atol=1e-12)
    v = torch.randn(2, 3, 3, 4, dtype=torch.float64)
    for n, i, j in [(0, 0, 0), (1, 2, 3)]:
        m = to_matrix(L_a)[n, i, j].numpy()
        assert np.allclose(solve_lower(L_a, v)[n, :, i, j].numpy(), np.linalg.solve(m, v[n, :, i, j].numpy()))
        assert np.allclose(solve_upper(L_a, v)[n, :, i, j].numpy(), np.linalg.solve(m.T, v[n, :, i, j].numpy()))
        assert np.allclose(_np(add_cov(L_a, L_b), n, i, j), _np(L_a, n, i, j) + _np(L_b, n, i, j))
        assert np.allclose(diag_std(L_a)[n, :, i, j].numpy(), np.sqrt(np.diag(_np(L_a, n, i, j))))


def test_factors_are_positive_definite_whatever_the_network_outputs():
    raw = torch.tensor([-1e4, 3.0, -1e4, -2.0, 5.0, -1e4], dtype=torch.float64).reshape(1, 6, 1, 1)
    L = factor_from_raw(raw, 1e-3)
    eig = np.linalg.eigvalsh(_np(L, 0, 0, 0))
    assert eig.min() > 0 and L[0, [0, 2, 5], 0, 0].min().item() >= 1e-3
    with pytest.raises(ValueError, match="floor"):
        factor_from_raw(raw, 0.0)
    with pytest.raises(ValueError, match=r"\(N, 6, H, W\)"):
        factor_from_raw(raw[:, :3], 1e-3)


def test_map_combination_matches_the_direct_formula():
    L_mu, L_n = _factors(1)
    g = torch.Generator().manual_seed(2)
    mu, y = (torch.rand(2, 3, 3, 4, generator=g, dtype=torch.float64) for _ in range(2))
    x = map_combine(mu, y, L_mu, L_n)
    for n, i, j in [(0, 1, 2), (1, 0, 3)]:
        a_inv, b_inv = np.linalg.inv(_np(L_mu, n, i, j)), np.linalg.inv(_np(L_n, n, i, j))
        ref = np.linalg.inv(a_inv + b_inv) @ (a_inv @ mu[n, :, i, j].numpy() + b_inv @ y[n, :, i, j].numpy())
        assert np.allclose(x[n, :, i, j].numpy(), ref, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------- NLL

def test_the_nll_matches_scipys_multivariate_normal_on_3x3_covariances():
    L_mu, L_n = _factors(3)
    g = torch.Generator().manual_seed(4)
    mu, y = (torch.rand(2, 3, 3, 4, generator=g, dtype=torch.float64) for _ in range(2))
    marginal = nll_map(y, mu, L_mu, L_n, "marginal")["nll"]
    paper = nll_map(y, mu, L_mu, L_n, "paper")["nll"]
    for n, i, j in [(0, 0, 0), (0, 2, 1), (1, 1, 3)]:
        s_mu, s_n = _np(L_mu, n, i, j), _np(L_n, n, i, j)
        logpdf = scipy_stats.multivariate_normal(mu[n, :, i, j].numpy(), s_mu + s_n).logpdf(y[n, :, i, j].numpy())
        exact = -logpdf - 1.5 * np.log(2 * np.pi)
        assert marginal[n, i, j].item() == pytest.approx(exact, rel=1e-10)
        # the paper's loss: ½ log|Σ_y| replaced by ½ log|Σ_n| + ½ tr(Σ_n⁻¹Σ_μ)
        bound = (exact - 0.5 * np.linalg.slogdet(s_mu + s_n)[1] + 0.5 * np.linalg.slogdet(s_n)[1]
                 + 0.5 * np.trace(np.linalg.solve(s_n, s_mu)))
        assert paper[n, i, j].item() == pytest.approx(bound, rel=1e-10)
        assert paper[n, i, j].item() >= marginal[n, i, j].item()  # log(1 + λ) ≤ λ
    loss, parts = dbsn_nll(y, mu, L_mu, L_n)
    assert loss.item() == pytest.approx(paper.mean().item())
    assert set(parts) == {"total", "maha", "logdet", "trace"}
    with pytest.raises(ValueError, match="kind"):
        nll_map(y, mu, L_mu, L_n, "joint")


# ---------------------------------------------------------------------------------------------- PD and R³

@pytest.mark.parametrize("f", [1, 2, 5])
def test_pd_is_a_permutation_into_subimages_and_back(f):
    x = torch.randn(2, 3, 10, 15 if f != 2 else 14)
    s = pd_down(x, f)
    assert s.shape == (2 * f * f, 3, 10 // f, x.shape[-1] // f)
    assert torch.equal(s[f * f + (f - 1) * f + 0], x[1, :, f - 1::f, 0::f])  # image 1, sub-image (f−1, 0)
    assert torch.equal(pd_up(s, f), x)
    with pytest.raises(ValueError, match="multiples"):
        pd_down(torch.zeros(1, 3, 7, 8), 5) if f == 5 else pd_down(torch.zeros(1, 3, 7, 8), 2)


def test_padding_is_zero_and_r3_masks_follow_their_seed():
    x, (h, w) = pad_to(torch.ones(1, 3, 7, 9), 5)
    assert x.shape[-2:] == (10, 10) and (h, w) == (7, 9) and x[..., 7:, :].abs().sum() == 0
    a, b = r3_masks((1, 3, 50, 50), 8, 0.16, seed=3), r3_masks((1, 3, 50, 50), 8, 0.16, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, r3_masks((1, 3, 50, 50), 8, 0.16, seed=4))
    assert 0.13 < a.float().mean().item() < 0.19


# ---------------------------------------------------------------------------------------------- the blind spot

@pytest.mark.parametrize(("stride", "size"), [(1, (23, 26)), (5, (40, 35)), (2, (21, 30))])
def test_the_output_never_sees_its_own_pixel(stride, size):
    torch.manual_seed(0)
    model = DBSN(dataclasses.replace(SMALL, pd_train=stride))
    with torch.no_grad():  # the Σ heads start at zero: give every path weights, so that a leak would show
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    y = torch.rand(1, 3, *size, requires_grad=True)  # float32: no path gives an exact 0.0 in any precision
    mu, L_mu, L_n = model(y, heads=True)
    for r, c in [(size[0] // 2, size[1] // 2), (0, 0), (size[0] - 1, size[1] - 3)]:
        near = (r, c + stride) if c + stride < size[1] else (r, c - stride)  # same PD sub-image, next pixel
        grad, = torch.autograd.grad(mu[0, :, r, c].sum(), y, retain_graph=True)
        assert grad[0, :, r, c].abs().max().item() == 0.0, (r, c)  # exactly zero: no path reaches the centre
        assert grad[0, :, near[0], near[1]].abs().max().item() > 0.0
        assert (grad.abs().sum(1) > 0).sum().item() > 20  # it does see a neighbourhood
        # Σ_n reads μ detached (no gradient to y at all): perturb the input instead, for both covariances
        with torch.no_grad():
            for (pr, pc), changes in (((r, c), False), (near, True)):
                y2 = y.detach().clone()
                y2[0, :, pr, pc] += 0.5
                _, L_mu2, L_n2 = model(y2, heads=True)
                for new, old in ((L_mu2, L_mu), (L_n2, L_n)):
                    delta = (new - old)[0, :, r, c].abs().max().item()
                    assert (delta > 1e-6) if changes else (delta < 1e-7), ((pr, pc), delta)


def test_the_map_output_uses_the_noisy_pixel_and_r3_is_deterministic():
    torch.manual_seed(1)
    cfg = dataclasses.replace(SMALL, pd_train=5, pd_infer=2, r3_steps=2)
    model = DBSN(cfg).eval()
    y = torch.rand(1, 3, 17, 22, requires_grad=True)
    x, sigma = DBSN(dataclasses.replace(cfg, r3_steps=0)).eval()(y)
    assert x.shape == sigma.shape == y.shape
    grad, = torch.autograd.grad(x[0, :, 8, 9].sum(), y)
    assert grad[0, :, 8, 9].abs().max() > 0  # MAP weighs y itself in, by design
    with torch.no_grad():
        a, b = model(y)[0], model(y)[0]
    assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------------- configuration

def test_configurations_round_trip_and_reject_bad_values():
    for name, make in DBSN_CONFIGS.items():
        cfg = make()
        assert DBSNConfig.from_dict(cfg.to_dict()) == cfg and is_dbsn_config(cfg.to_dict()), name
    assert DBSNConfig().dilations() == (2, 3)
    assert sum(p.numel() for p in DBSN(DBSNConfig.tiny()).parameters()) == 56_703
    assert not is_dbsn_config({"widths": [8, 16, 32]})
    for bad in ({"kernels": (4,)}, {"kernels": (1, 3)}, {"r3_steps": 8}, {"output": "x"}, {"network": "aindnet"},
                {"r3_prob": 1.0}, {"width": 0}):
        with pytest.raises(ValueError):
            DBSNConfig(**bad)


def test_a_checkpoint_whose_weights_do_not_fit_its_configuration_is_refused():
    model = DBSN(SMALL)
    state = {"model_config": SMALL.to_dict(), "model": model.state_dict()}
    assert isinstance(dbsn_from_state(state, "x.pt"), DBSN)
    with pytest.raises(ValueError, match="do not match"):
        dbsn_from_state({**state, "model_config": {**SMALL.to_dict(), "width": 12}}, "x.pt")
    with pytest.raises(ValueError, match="damaged D-BSN configuration"):
        dbsn_from_state({**state, "model_config": {**SMALL.to_dict(), "depth": 3}}, "x.pt")
    with pytest.raises(ValueError, match="more blocks"):
        dbsn_from_state({**state, "model_config": {**SMALL.to_dict(), "blocks": 10**9}}, "x.pt")


def test_the_neighbour_skip_is_the_mean_of_the_pixels_inside_the_3x3_window_but_the_centre():
    from trainer.models.dbsn import neighbour_mean

    x = torch.rand(1, 3, 5, 6, dtype=torch.float64)
    out = neighbour_mean(x)
    a = x[0].numpy()
    for r, c in [(0, 0), (2, 3), (4, 5), (0, 3)]:
        vals = [a[:, i, j] for i in range(r - 1, r + 2) for j in range(c - 1, c + 2)
                if (i, j) != (r, c) and 0 <= i < 5 and 0 <= j < 6]
        assert np.allclose(out[0, :, r, c].numpy(), np.mean(vals, axis=0))
    fresh = DBSN(SMALL)  # the correction starts at zero: a fresh μ is that mean
    assert torch.allclose(fresh.heads(x.float(), 1)[0], out.float(), atol=1e-6)
    assert not DBSNConfig.paper().neighbour_skip and DBSNConfig.tiny().neighbour_skip
