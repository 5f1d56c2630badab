"""trainer.stages.n2n (Neighbor2Neighbor, Huang et al., CVPR 2021) and `noisegen-train tf --mode n2n`.

Oracles: the sub-sampler's masks are decoded back to rows and columns and checked against the
paper's definition (same 2×2 cell, 4-adjacent, one choice for all channels, 8 equally likely
ordered pairs by a chi-square test); the loss against a plain numpy loop over the cells; the
stop-gradient against autograd with f(y) detached by hand. End to end: a tiny SN checkpoint
(tests/checkpoints.make_checkpoint) adapted on folders of noisy-only PNGs, and a behavioural
check that N2N lowers the error to hidden clean images below the noisy input's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from checkpoints import make_checkpoint, make_image, write_pairs
from scipy import stats

from noisegen.dataset.images import write_png
from trainer.cli import main as cli_main
from trainer.engine.checkpoint import load_checkpoint
from trainer.engine.metrics import read_metrics
from trainer.infer.inference import load_model
from trainer.models.aindnet import AINDNet, trainable_groups
from trainer.models.config import ModelConfig
from trainer.stages.n2n import NEIGHBOR_PAIRS, gamma_at, n2n_loss, n2n_objective, sample_neighbors, subsample
from trainer.stages.tf import TFConfig, transfer


@pytest.fixture(autouse=True)
def one_thread():
    """Run this module's training on one torch thread, restoring the setting afterwards.

    The tensors here are tiny (≤ 4×3×64×64), so per-op overhead dominates and a second thread
    does not help; on a machine whose cores are busy, two threads' synchronisation made the
    behavioural test 4-15× slower (measured: 150 steps in 3-5 s on one thread, 14-61 s on two).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cells(idx: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices → (row, column)."""
    return np.divmod(idx, width)


@pytest.mark.parametrize(("n", "height", "width"), [(3, 6, 10), (1, 2, 2), (2, 14, 4)])
def test_sampler_picks_4_adjacent_pixels_of_each_cell(n, height, width):
    idx1, idx2 = sample_neighbors(np.random.default_rng(0), n, height, width)
    assert idx1.shape == idx2.shape == (n, height // 2, width // 2) and idx1.dtype == idx2.dtype == np.int64
    i = np.arange(height // 2)[None, :, None]
    j = np.arange(width // 2)[None, None, :]
    (r1, c1), (r2, c2) = _cells(idx1, width), _cells(idx2, width)
    for r, c in ((r1, c1), (r2, c2)):
        assert (r // 2 == i).all() and (c // 2 == j).all()  # cell (i, j) of the output comes from cell (i, j)
    assert (np.abs(r1 - r2) + np.abs(c1 - c2) == 1).all()  # distinct, same row or column, never diagonal


def test_subsample_uses_one_choice_for_all_channels():
    n, c, height, width = 2, 3, 8, 6
    idx1, _ = sample_neighbors(np.random.default_rng(1), n, height, width)
    base = torch.arange(n * height * width, dtype=torch.float64).reshape(n, 1, height, width)
    x = base + 1000.0 * torch.arange(c, dtype=torch.float64).reshape(1, c, 1, 1)
    sub = subsample(x, idx1)
    assert sub.shape == (n, c, height // 2, width // 2) and sub.dtype == torch.float64
    picked = np.take_along_axis(base.reshape(n, -1).numpy(), idx1.reshape(n, -1), axis=1).reshape(idx1.shape)
    for ch in range(c):
        np.testing.assert_array_equal(sub[:, ch].numpy(), picked + 1000.0 * ch)
    assert torch.equal(subsample(x, torch.from_numpy(idx1)), sub)  # tensor or array indices


def test_sampler_ordered_pairs_are_equally_likely():
    width = 200
    idx1, idx2 = sample_neighbors(np.random.default_rng(2024), 2, 200, width)  # 20,000 cells
    (r1, c1), (r2, c2) = _cells(idx1, width), _cells(idx2, width)
    pos1, pos2 = 2 * (r1 % 2) + c1 % 2, 2 * (r2 % 2) + c2 % 2
    pairs, counts = np.unique(np.stack([pos1.ravel(), pos2.ravel()], 1), axis=0, return_counts=True)
    np.testing.assert_array_equal(pairs, NEIGHBOR_PAIRS)  # exactly the 8 adjacent ordered pairs
    assert stats.chisquare(counts).pvalue > 1e-3


def test_sampler_is_deterministic_and_checks_its_inputs():
    a = sample_neighbors(np.random.default_rng(7), 2, 8, 8)
    b = sample_neighbors(np.random.default_rng(7), 2, 8, 8)
    c = sample_neighbors(np.random.default_rng(8), 2, 8, 8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    with pytest.raises(ValueError, match="even"):
        sample_neighbors(np.random.default_rng(0), 1, 7, 8)
    with pytest.raises(ValueError, match="n must be"):
        sample_neighbors(np.random.default_rng(0), 0, 8, 8)
    with pytest.raises(ValueError, match=r"expected idx of shape \(2, 4, 4\)"):
        subsample(torch.zeros(2, 3, 8, 8), a[0][:, :3])
    with pytest.raises(TypeError, match="int64"):
        subsample(torch.zeros(2, 3, 8, 8), a[0].astype(np.int32))


def _loss_numpy(out1, sub2, full, idx1, idx2, gamma, lam1, lam2):
    """The N2N loss, cell by cell in float64 (Huang et al. 2021)."""
    n, c, h, w = out1.shape
    width = full.shape[-1]
    rec = reg = 0.0
    for b in range(n):
        for i in range(h):
            for j in range(w):
                r1, c1 = divmod(int(idx1[b, i, j]), width)
                r2, c2 = divmod(int(idx2[b, i, j]), width)
                d = out1[b, :, i, j] - sub2[b, :, i, j]
                e = full[b, :, r1, c1] - full[b, :, r2, c2]
                rec += float(np.sum(d**2))
                reg += float(np.sum((d - e) ** 2))
    m = n * c * h * w
    return lam1 * rec / m + lam2 * gamma * reg / m, rec / m, reg / m


def test_loss_matches_numpy():
    g = torch.Generator().manual_seed(3)
    n, c, height, width = 2, 3, 8, 6
    out1, sub2 = torch.rand(n, c, 4, 3, generator=g), torch.rand(n, c, 4, 3, generator=g)
    full = torch.rand(n, c, height, width, generator=g)
    idx1, idx2 = sample_neighbors(np.random.default_rng(3), n, height, width)
    for gamma, lam1, lam2 in ((0.7, 1.0, 1.0), (0.0, 1.0, 1.0), (1.3, 0.5, 3.0)):
        total, parts = n2n_loss(out1, sub2, full, idx1, idx2, gamma, lambda_rec=lam1, lambda_reg=lam2)
        want = _loss_numpy(out1.double().numpy(), sub2.double().numpy(), full.double().numpy(), idx1, idx2, gamma,
                           lam1, lam2)
        assert total.dtype == torch.float32 and total.ndim == 0
        np.testing.assert_allclose([float(total), float(parts["rec"]), float(parts["reg"])], want, rtol=1e-6)
    with pytest.raises(ValueError, match="gamma"):
        n2n_loss(out1, sub2, full, idx1, idx2, -1.0)
    with pytest.raises(ValueError, match="equal shapes"):
        n2n_loss(out1, sub2[:, :, :2], full, idx1, idx2, 1.0)


def test_no_gradient_flows_through_the_full_output():
    g = torch.Generator().manual_seed(4)
    n, c, height, width = 2, 3, 8, 8
    idx1, idx2 = (torch.from_numpy(i) for i in sample_neighbors(np.random.default_rng(4), n, height, width))
    # On tensors: f(y) gets no gradient and d loss / d f(g1(y)) is the analytic 2/M·(λ1·d + λ2·γ·(d − e)).
    out1 = torch.rand(n, c, 4, 4, generator=g, requires_grad=True)
    sub2 = torch.rand(n, c, 4, 4, generator=g)
    full = torch.rand(n, c, height, width, generator=g, requires_grad=True)
    gamma = 0.8
    n2n_loss(out1, sub2, full, idx1, idx2, gamma)[0].backward()
    assert full.grad is None
    d = (out1 - sub2).detach()
    e = subsample(full.detach(), idx1) - subsample(full.detach(), idx2)
    torch.testing.assert_close(out1.grad, 2 / d.numel() * (d + gamma * (d - e)))

    # Through a network: the parameters' gradient is that of the loss with f(y) detached by hand,
    # and differs from the one where f(y) would be differentiated (so the check can fail).
    torch.manual_seed(4)
    f = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 3, 3, padding=1))
    y = torch.rand(n, c, height, width, generator=g)

    def grads(detach: bool | None) -> list[torch.Tensor]:
        f.zero_grad()
        if detach is None:
            loss, _ = n2n_objective(f, y, idx1, idx2, gamma)
        else:
            fy = f(y).detach() if detach else f(y)
            dd = f(subsample(y, idx1)) - subsample(y, idx2)
            ee = subsample(fy, idx1) - subsample(fy, idx2)
            loss = dd.square().mean() + gamma * (dd - ee).square().mean()
        loss.backward()
        return [p.grad.clone() for p in f.parameters()]

    got, want, through = grads(None), grads(True), grads(False)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    assert any(not torch.allclose(a, b) for a, b in zip(got, through))


def test_gamma_ramp():
    assert gamma_at(0, 100) == 0.0
    assert gamma_at(50, 100) == 1.0  # the official sRGB ratio 2
    assert gamma_at(100, 100) == 2.0
    assert gamma_at(25, 100, ratio=4.0) == 1.0
    for bad in ((101, 100, 2.0), (-1, 100, 2.0), (0, 0, 2.0), (1, 2, -0.5)):
        with pytest.raises(ValueError):
            gamma_at(*bad)


# --- end to end: noisegen-train tf --mode n2n ---------------------------------------------------------------------

PAIR_NAMES = ("Canon5D2_5_160_3200_toy_1", "Canon5D2_5_160_3200_plant_2", "NikonD800_6_125_1600_door_3")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(SN checkpoint, folder of 3 noisy-only PNGs + a broken one + a text file, pairs folder)."""
    root = tmp_path_factory.mktemp("n2n")
    sn = make_checkpoint(root / "sn.pt")
    noisy = root / "noisy"
    noisy.mkdir()
    for i in range(3):
        write_png(noisy / f"photo{i}.png", make_image(40 + 4 * i, 36, i)[1])
    (noisy / "broken.png").write_bytes(b"not a png")
    (noisy / "SOURCE.md").write_text("no clean images here\n")
    pairs = write_pairs(root / "pairs", {name: make_image(40, 44, 10 + i) for i, name in enumerate(PAIR_NAMES)})
    return sn, noisy, pairs


def _config(init, data, out, **kw) -> TFConfig:
    base = dict(init=str(init), data=str(data), out=str(out), mode="n2n", steps=3, batch=2, patch=16, lr=1e-3,
                log_every=1, device="cpu", threads=1, progress=False)
    return TFConfig(**{**base, **kw})


def _quiet(msg: str) -> None:
    pass


def _loss_rows(run) -> list[dict]:
    """The loss records of a run's metrics.jsonl (not its start, end or validation records)."""
    return [r for r in read_metrics(run / "metrics.jsonl") if "loss" in r]


def test_n2n_trains_exactly_the_tf_subset_on_noisy_images(setup, tmp_path):
    sn, noisy, _ = setup
    out = tmp_path / "n2n"
    after = load_checkpoint(transfer(_config(sn, noisy, out), echo=_quiet).checkpoint)
    before = load_checkpoint(sn)["model"]
    groups = trainable_groups(AINDNet(ModelConfig.tiny()))
    for name in groups.frozen:
        assert torch.equal(before[name], after["model"][name]), f"frozen {name} changed"
    for name in groups.trainable:
        assert not torch.equal(before[name], after["model"][name]), f"trainable {name} did not change"
    rows = _loss_rows(out)
    assert [r["step"] for r in rows] == [1, 2, 3]
    np.testing.assert_allclose([r["gamma"] for r in rows], [2 / 3, 4 / 3, 2.0])
    for r in rows:
        assert np.isclose(r["loss"], r["rec"] + r["gamma"] * r["reg"], rtol=1e-5)
    rec = json.loads((out / "config.json").read_text())
    assert rec["source"] == "images" and rec["samples"] == 3 and rec["config"]["patch"] == 16
    assert len(rec["skipped"]) == 1 and "broken.png" in rec["skipped"][0]
    assert after["stage"] == "n2n" and after["train_config"]["n2n_ratio"] == 2.0


def test_n2n_keeps_the_first_k_images_and_the_noisy_side_of_pairs(setup, tmp_path):
    sn, noisy, pairs = setup
    for name, data in (("images", noisy), ("pairs", pairs)):
        transfer(_config(sn, data, tmp_path / name, pairs=2, steps=1), echo=_quiet)
        rec = json.loads((tmp_path / name / "config.json").read_text())
        assert rec["source"] == name and rec["samples"] == 2


def test_n2n_errors(setup, tmp_path):
    sn, noisy, _ = setup
    with pytest.raises(ValueError, match="multiple of 8"):
        transfer(_config(sn, noisy, tmp_path / "a", patch=12), echo=_quiet)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ValueError, match="holds only 3 readable images"):
        transfer(_config(sn, noisy, tmp_path / "b", pairs=4), echo=_quiet)
    with pytest.raises(ValueError, match="n2n_ratio"):
        _config(sn, noisy, tmp_path / "c", n2n_ratio=-1.0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no readable noisy images"):
        transfer(_config(sn, tmp_path / "empty", tmp_path / "d"), echo=_quiet)


def test_n2n_cli(setup, tmp_path, capsys):
    sn, noisy, _ = setup
    args = ["tf", "--mode", "n2n", "--init", str(sn), "--data", str(noisy), "--steps", "2", "--batch", "1",
            "--n2n-ratio", "1.5", "--device", "cpu", "--threads", "1", "--no-progress"]
    assert cli_main(args + ["--patch", "16", "--out", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    assert "3 noisy images" in captured.out + captured.err
    assert load_checkpoint(tmp_path / "run" / "last.pt")["train_config"]["n2n_ratio"] == 1.5
    last = _loss_rows(tmp_path / "run")[-1]
    assert last["gamma"] == 1.5
    assert cli_main(args + ["--patch", "20", "--out", str(tmp_path / "bad")]) == 2
    assert "multiple of 8" in capsys.readouterr().err


def _smooth(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth float image in [0.2, 0.8], H×W×3: products of random-phase sinusoids per channel."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 64
    return np.stack([0.5 + 0.3 * np.sin(2.5 * (1 + 0.3 * c) * xx + rng.uniform(0, 6))
                     * np.cos(2 * yy + rng.uniform(0, 6)) for c in range(3)], axis=-1)


def test_n2n_denoises_without_clean_images(tmp_path):
    """150 n2n steps bring a fresh tiny AINDNet, started as the identity, clearly below the noisy input's MSE.

    The last conv is zeroed so that the model starts as x̂ = y (a fresh model's random last conv
    starts far from any denoiser, and mode n2n leaves the rest of its U-Net frozen and random):
    whatever brings the error below the noise's is learned from the noisy images alone. Measured
    (σ = 25/255, 2 images 64×64): MSE after/before 0.82-0.87 over checkpoint seeds 0-4 and
    0.86-0.88 over crop seeds 0-3 (this test: seeds 0, 0.87); the frozen random U-Net convs of a
    fresh model, not the loss, limit the gain.
    """
    state = load_checkpoint(make_checkpoint(tmp_path / "sn.pt"))
    for name in ("unet.out_conv.weight", "unet.out_conv.bias"):
        state["model"][name].zero_()
    torch.save(state, tmp_path / "sn.pt")
    rng = np.random.default_rng(0)
    clean = np.stack([_smooth(64, 64, i) for i in range(2)])
    noisy = np.clip(np.round((clean + rng.normal(0, 25 / 255, clean.shape)) * 255), 0, 255).astype(np.uint8)
    (tmp_path / "noisy").mkdir()
    for i, img in enumerate(noisy):
        write_png(tmp_path / "noisy" / f"img{i}.png", img)

    def mse(checkpoint) -> float:
        model, _ = load_model(checkpoint)
        with torch.no_grad():
            out = model(torch.from_numpy(noisy).permute(0, 3, 1, 2).float() / 255)[0]
        return float(np.mean((out.permute(0, 2, 3, 1).double().numpy() - clean) ** 2))

    noisy_mse = float(np.mean((noisy / 255 - clean) ** 2))
    assert mse(tmp_path / "sn.pt") == pytest.approx(noisy_mse, rel=1e-5)  # starts as the identity
    last = transfer(_config(tmp_path / "sn.pt", tmp_path / "noisy", tmp_path / "run", steps=150, batch=4, patch=32,
                            lr=3e-3, log_every=50), echo=_quiet)
    assert mse(last.checkpoint) < 0.9 * noisy_mse
    rows = _loss_rows(tmp_path / "run")
    assert rows[-1]["rec"] < rows[0]["rec"]
