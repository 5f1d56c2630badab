"""AINDNet model and configuration: parameter counts, shapes, residual, AIN, TF subset, round trips."""

from __future__ import annotations

import dataclasses
import json

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from trainer.models.ain import AIN, instance_normalize  # noqa: E402
from trainer.models.aindnet import (  # noqa: E402
    AINDNet,
    NoiseEstimator,
    count_parameters,
    freeze_for_tf,
    pad_to_multiple,
    trainable_groups,
)
from trainer.models.config import MODEL_CONFIGS, ModelConfig  # noqa: E402


def _tiny(seed: int = 0, **changes) -> AINDNet:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return AINDNet(dataclasses.replace(ModelConfig.tiny(), **changes))


@pytest.fixture(scope="module")
def paper_model() -> AINDNet:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return AINDNet(ModelConfig.paper())


# ---------------------------------------------------------------------------------------------
# Parameter counts, checked against a count written out from the architecture description
# (DESIGN.md §5), independently of the module structure.


def _conv(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
    return k * k * c_in * c_out + (c_out if bias else 0)


def _ain(c: int, hidden: int = 64) -> int:
    return _conv(5, 3, hidden) + 2 * _conv(3, hidden, c)


def _ain_resblock(c: int) -> int:
    return 2 * _ain(c) + 2 * _conv(3, c, c)


ESTIMATOR = _conv(3, 3, 32) + 3 * _conv(3, 32, 32) + _conv(3, 32, 3) + 2 * _conv(3, 3, 3)
AIN_TOTAL = (2 + 2) * 2 * _ain(64) + (2 + 3) * 2 * _ain(128) + 5 * 2 * _ain(256)
UNET = (
    _conv(3, 3, 64)  # first conv
    + (2 + 2) * _ain_resblock(64) + (2 + 3) * _ain_resblock(128) + 5 * _ain_resblock(256)
    + _conv(3, 64, 128) + _conv(3, 128, 256)  # down convs
    + _conv(2, 256, 128, bias=False) + _conv(2, 128, 64, bias=False)  # transposed convs
    + 2 * _conv(3, 128, 128) + 2 * _conv(3, 64, 64)  # skip ResBlocks
    + _conv(1, 64, 3)  # last conv
)


def test_paper_parameter_counts(paper_model):
    assert ESTIMATOR == 29_675
    assert UNET == 13_734_339
    assert count_parameters(paper_model.estimator) == ESTIMATOR
    assert count_parameters(paper_model.unet) == UNET
    total = count_parameters(paper_model)
    assert total == ESTIMATOR + UNET == 13_764_014
    assert abs(total / 13.7e6 - 1) < 0.03  # paper: "about 13.7M" (we get +0.47%)
    assert abs(ESTIMATOR / 29.7e3 - 1) < 0.01  # paper: "about 29.7K" (we get -0.08%)


def test_paper_model_runs_small_input(paper_model):
    with torch.no_grad():
        denoised, sigma = paper_model(torch.rand(1, 3, 32, 32))
    assert denoised.shape == sigma.shape == (1, 3, 32, 32)
    assert torch.isfinite(denoised).all() and (sigma >= 0).all()


def test_released_pooling_variant_has_same_count_and_coarse_factor_8():
    cfg = dataclasses.replace(ModelConfig.paper(), estimator_pools=(4, 2))
    assert cfg.coarse_factor == 8 and cfg.size_multiple == 8
    assert count_parameters(NoiseEstimator(3, 32, (4, 2))) == ESTIMATOR
    model = _tiny(estimator_pools=(4, 2))
    d, s, c = model(torch.rand(1, 3, 37, 54), return_coarse=True)
    assert d.shape == s.shape == (1, 3, 37, 54) and c.shape == (1, 3, 5, 7)


# ---------------------------------------------------------------------------------------------
# Shapes, arbitrary sizes, global residual


@pytest.mark.parametrize("shape", [(1, 3, 37, 54), (2, 3, 64, 48), (1, 3, 5, 7), (1, 3, 2, 3), (1, 3, 1, 1)])
def test_tiny_forward_backward_any_size(shape):
    model = _tiny()
    noisy = torch.rand(*shape)
    denoised, sigma, coarse = model(noisy, return_coarse=True)
    h, w = shape[-2:]
    assert denoised.shape == sigma.shape == noisy.shape
    assert coarse.shape == (shape[0], 3, -(-h // 4), -(-w // 4))
    assert denoised.dtype == sigma.dtype == torch.float32
    assert (sigma >= 0).all() and (coarse >= 0).all()
    (denoised.square().mean() + sigma.mean() + coarse.mean()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters not reached by the graph: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_global_residual_zero_last_conv_returns_input():
    model = _tiny()
    nn.init.zeros_(model.out_conv.weight)
    nn.init.zeros_(model.out_conv.bias)
    noisy = torch.rand(2, 3, 37, 54)
    with torch.no_grad():
        denoised, _ = model(noisy)
    assert torch.equal(denoised, noisy)


def test_pad_to_multiple_reflects_bottom_right():
    x = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 3, 5)
    y = pad_to_multiple(x, 4)
    assert y.shape == (1, 1, 4, 8)
    assert torch.equal(y[..., :3, :5], x)
    assert y[0, 0, 0, 5:].tolist() == [3.0, 2.0, 1.0]  # reflect: index 5 → 3, 6 → 2, 7 → 1
    assert torch.equal(y[..., 3, :], y[..., 1, :])
    tiny = torch.rand(1, 3, 2, 2)
    assert torch.equal(pad_to_multiple(tiny, 4)[..., 3, 3], tiny[..., 1, 1])  # replicate fallback
    assert pad_to_multiple(x, 1) is x


def test_input_validation():
    model = _tiny()
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.rand(1, 16, 16, 3))
    with pytest.raises(TypeError, match="floating"):
        model(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="multiples of the coarse factor"):
        model.estimator(torch.rand(1, 3, 18, 16))


def test_estimator_outputs_alive_at_initialisation():
    # Output ReLUs with default init leave about a third of σ̂'s channels at 0 for every input.
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for seed in range(5):
        with torch.no_grad():
            _, sigma, coarse = _tiny(seed)(x, return_coarse=True)
        assert (sigma > 0).all() and (coarse > 0).all()
        assert 0.02 < sigma.mean().item() < 0.1


# ---------------------------------------------------------------------------------------------
# AIN


def test_instance_normalize_matches_torch_and_manual():
    h = torch.randn(2, 5, 7, 9) * 3 + 1
    ref = F.instance_norm(h, eps=1e-5)
    mean = h.mean(dim=(2, 3), keepdim=True)
    var = ((h - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    manual = (h - mean) / torch.sqrt(var + 1e-5)
    out = instance_normalize(h, 1e-5)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, manual, rtol=1e-5, atol=1e-5)


def test_ain_zero_modulation_is_plain_instance_norm_and_known_affine():
    ain = AIN(6, hidden=4)
    for conv in (ain.gamma, ain.beta):
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)
    h = torch.randn(2, 6, 8, 10) * 2 - 0.5
    sigma = torch.rand(2, 3, 32, 40)  # resized to 8×10 inside
    torch.testing.assert_close(ain(h, sigma), F.instance_norm(h, eps=1e-5), rtol=1e-5, atol=1e-5)
    nn.init.constant_(ain.gamma.bias, 0.5)  # out = IN(h)·1.5 + 0.25
    nn.init.constant_(ain.beta.bias, 0.25)
    out = ain(h, sigma)
    torch.testing.assert_close(out, F.instance_norm(h, eps=1e-5) * 1.5 + 0.25, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.mean(dim=(2, 3)), torch.full((2, 6), 0.25), rtol=0, atol=1e-5)


def test_ain_modulation_depends_on_sigma():
    torch.manual_seed(3)
    ain = AIN(4, hidden=8)
    h = torch.randn(1, 4, 8, 8)
    a = ain(h, torch.full((1, 3, 8, 8), 0.01))
    b = ain(h, torch.full((1, 3, 8, 8), 0.5))
    assert not torch.allclose(a, b)


class _Own:
    """External statistics equal to each feature's own (per sample and channel, biased variance)."""

    halted = False

    def __call__(self, ain, h):
        var, mean = torch.var_mean(h.float(), dim=(-2, -1), keepdim=True, correction=0)
        return mean, var


class _HaltAt:
    """No external statistics; halts the pass at the k-th AIN call."""

    def __init__(self, k: int):
        self.k, self.calls, self.halted = k, 0, False

    def __call__(self, ain, h):
        self.calls += 1
        self.halted = self.calls == self.k
        return None


def test_ain_normalises_with_external_statistics():
    torch.manual_seed(4)
    ain = AIN(5, hidden=4)
    h, sigma = torch.randn(1, 5, 6, 7) * 2 + 1, torch.rand(1, 3, 6, 7)
    assert torch.equal(ain(h, sigma, _Own()), ain(h, sigma))
    class ZeroOne:  # mean 0, variance 1 − ε: (h − 0)/sqrt(1 − ε + ε) = h, the modulation applied to h itself
        halted = False

        def __call__(self, a, x):
            return torch.zeros(1, 5, 1, 1), torch.ones(1, 5, 1, 1) - a.eps

    s = F.relu(ain.shared(sigma))
    torch.testing.assert_close(ain(h, sigma, ZeroOne()), h * (1 + ain.gamma(s)) + ain.beta(s), rtol=1e-6, atol=1e-6)


def test_a_forward_with_external_statistics_and_a_halted_pass():
    model = _tiny(5).eval()
    x = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        whole = model(x)
        assert all(torch.equal(a, b) for a, b in zip(model(x, stats=_Own()), whole))
        n = sum(isinstance(m, AIN) for m in model.modules())
        for k in (1, 2, n // 2, n):  # the pass stops at the k-th AIN: no output, no later AIN called
            halt = _HaltAt(k)
            assert model(x, stats=halt) == () and halt.calls == k
        halt = _HaltAt(n + 1)  # never halts: the plain forward
        assert all(torch.equal(a, b) for a, b in zip(model(x, stats=halt), whole)) and halt.calls == n


# ---------------------------------------------------------------------------------------------
# TF trainable subset


def test_tf_trainable_subset_paper(paper_model):
    groups = trainable_groups(paper_model)
    params = dict(paper_model.named_parameters())
    n_trainable = sum(params[n].numel() for n in groups.trainable)
    assert n_trainable == AIN_TOTAL + ESTIMATOR + _conv(1, 64, 3) == 5_188_270
    assert n_trainable + sum(params[n].numel() for n in groups.frozen) == count_parameters(paper_model)
    assert set(groups.trainable).isdisjoint(groups.frozen)
    assert {"unet.out_conv.weight", "unet.out_conv.bias", "estimator.features.0.weight"} <= set(groups.trainable)
    assert "unet.encoder.2.blocks.4.ain2.gamma.weight" in groups.trainable
    assert "unet.decoder.1.blocks.2.ain1.shared.bias" in groups.trainable
    for name in groups.trainable:
        assert name.startswith("estimator.") or ".ain" in name or name.startswith("unet.out_conv."), name
    # Frozen: the U-Net's convs (first conv, down convs, block convs), transposed convs, skip blocks.
    for name in ("unet.entries.0.0.weight", "unet.entries.1.1.weight", "unet.encoder.0.blocks.0.conv1.weight",
                 "unet.ups.0.weight", "unet.skips.1.conv2.bias", "unet.decoder.0.blocks.1.conv2.weight"):
        assert name in groups.frozen, name
    assert not any(".ain" in n or n.startswith("estimator.") for n in groups.frozen)
    assert len(groups.trainable) == 28 * 6 + 14 + 2  # 28 AINs × 3 convs × (w, b), estimator 7 convs, last conv


def test_freeze_for_tf_blocks_gradients_of_frozen():
    model = _tiny()
    groups = freeze_for_tf(model)
    params = dict(model.named_parameters())
    assert count_parameters(model, trainable_only=True) == sum(params[n].numel() for n in groups.trainable)
    d, s = model(torch.rand(1, 3, 24, 20))
    (d.mean() + s.mean()).backward()
    assert all(params[n].grad is None for n in groups.frozen)
    assert all(params[n].grad is not None for n in groups.trainable)


def test_trainable_groups_through_a_wrapper():
    class Wrapper(nn.Module):  # stands for DDP / torch.compile, which prefix names
        def __init__(self, module: nn.Module):
            super().__init__()
            self.module = module

    model = _tiny()
    inner, outer = trainable_groups(model), trainable_groups(Wrapper(model))
    assert outer.trainable == tuple("module." + n for n in inner.trainable)
    assert outer.frozen == tuple("module." + n for n in inner.frozen)
    with pytest.raises(ValueError, match="no AIN"):
        trainable_groups(nn.Conv2d(3, 3, 3))


# ---------------------------------------------------------------------------------------------
# Determinism, checkpoints, memory formats, autocast


def test_deterministic_with_fixed_seed():
    a, b = _tiny(seed=7), _tiny(seed=7)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)
    assert not torch.equal(_tiny(seed=8).out_conv.weight, a.out_conv.weight)
    x = torch.rand(2, 3, 33, 40, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert all(torch.equal(u, v) for u, v in zip(a(x), b(x)))


def test_checkpoint_round_trip_weights_only(tmp_path):
    model = _tiny(seed=3)
    path = tmp_path / "ckpt.pt"
    torch.save({"config": model.config.to_dict(), "model": model.state_dict()}, path)
    ckpt = torch.load(path, weights_only=True)
    restored = AINDNet(ModelConfig.from_dict(ckpt["config"]))
    restored.load_state_dict(ckpt["model"])
    assert restored.config == model.config
    x = torch.rand(1, 3, 29, 31)
    with torch.no_grad():
        assert all(torch.equal(u, v) for u, v in zip(model(x), restored(x)))


def test_channels_last_matches_contiguous():
    model = _tiny()
    x = torch.rand(2, 3, 37, 54)
    with torch.no_grad():
        ref = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(x.contiguous(memory_format=torch.channels_last))
    for r, o in zip(ref, out):
        torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-5)


def test_bf16_autocast_runs_and_returns_input_dtype():
    model = _tiny()
    x = torch.rand(1, 3, 37, 54)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d, s, c = model(x, return_coarse=True)
    assert d.dtype == s.dtype == c.dtype == torch.float32
    (d.mean() + s.mean()).backward()
    ref_d, _ = model(x)
    assert (d - ref_d).abs().max() < 0.05  # bf16 has ~3 significant digits


# ---------------------------------------------------------------------------------------------
# Configuration


def test_config_round_trip_and_named_constructors():
    assert set(MODEL_CONFIGS) == {"paper", "tiny", "small"}
    for name, make in MODEL_CONFIGS.items():
        cfg = make()
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
        assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
        assert cfg.size_multiple == 4 and cfg.coarse_factor == 4, name
    paper = ModelConfig.paper()
    assert paper.widths == (64, 128, 256) and paper.encoder_blocks == (2, 2, 5) and paper.decoder_blocks == (3, 2)
    assert paper.estimator_channels == 32 and paper.ain_hidden == 64 and paper.leaky_slope == 0.02
    assert ModelConfig.paper() == ModelConfig()


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown fields"):
        ModelConfig.from_dict({"width": [8, 16]})
    with pytest.raises(ValueError, match="encoder_blocks"):
        ModelConfig(encoder_blocks=(2, 2))
    with pytest.raises(ValueError, match="decoder_blocks"):
        ModelConfig(decoder_blocks=(3, 2, 1))
    with pytest.raises(ValueError, match="estimator_pools"):
        ModelConfig(estimator_pools=(0,))
    with pytest.raises(ValueError, match="coarse_weight"):
        ModelConfig(coarse_weight=1.5)
    with pytest.raises(TypeError, match="widths"):
        ModelConfig(widths=(8.0, 16, 32))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().widths = (1, 2, 3)  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# The small configuration and the zero-initialised last conv


def test_small_config_parameter_count_and_zero_out_init():
    small = ModelConfig.small()
    assert small.out_init == "zero" and small.widths == (16, 32, 64)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = AINDNet(small)
    assert count_parameters(model) == 290_110
    assert count_parameters(model.estimator) == 8_011
    assert count_parameters(AINDNet(ModelConfig.tiny())) == 76_342  # unchanged by the new field


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 3, 37, 54)])
def test_zero_out_init_starts_as_identity(shape):
    x = torch.rand(*shape)
    zero = _tiny(out_init="zero")
    assert torch.count_nonzero(zero.out_conv.weight) == 0 and torch.count_nonzero(zero.out_conv.bias) == 0
    with torch.no_grad():
        denoised, _ = zero(x)
    assert torch.equal(denoised, x)  # residual 0: output equals input, any size (padding cropped back)
    with torch.no_grad():
        default_out, _ = _tiny()(x)
    assert not torch.equal(default_out, x)  # PyTorch's default init does not start at the identity
    # zero init only touches the last conv: every other weight is drawn as before from the same seed
    a, b = _tiny(seed=5).state_dict(), _tiny(seed=5, out_init="zero").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("unet.out_conv"))


def test_zero_out_init_trains():
    model = _tiny(out_init="zero")
    x = torch.rand(2, 3, 32, 32)
    denoised, _ = model(x)
    (denoised - x.flip(-1)).abs().mean().backward()
    assert model.out_conv.weight.grad.abs().sum() > 0  # the zero conv gets a gradient and moves


def test_out_init_config_backward_compatible_and_checked():
    old = ModelConfig.tiny().to_dict()
    del old["out_init"]  # a configuration saved before the field existed
    assert ModelConfig.from_dict(old) == ModelConfig.tiny() and ModelConfig.from_dict(old).out_init == "default"
    small = ModelConfig.small()
    assert ModelConfig.from_dict(json.loads(json.dumps(small.to_dict()))) == small
    with pytest.raises(ValueError, match="out_init"):
        ModelConfig(out_init="ones")


def test_small_checkpoint_round_trip(tmp_path):
    from trainer.engine.checkpoint import save_checkpoint
    from trainer.infer.inference import load_model

    with torch.random.fork_rng():
        torch.manual_seed(1)
        model = AINDNet(ModelConfig.small())
    with torch.no_grad():
        model.out_conv.weight.add_(0.01)  # trained weights, not the zero init, must come back
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    path = save_checkpoint(tmp_path / "small.pt", model=model, optimizer=opt, scheduler=sched, step=3,
                           train_config={"model": "small"}, model_config=model.config.to_dict(), data=[])
    loaded, state = load_model(path)
    assert loaded.config == ModelConfig.small() and state["step"] == 3
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    x = torch.rand(1, 3, 40, 44)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model.eval()(x)[0])


def test_checkpoint_without_out_init_still_loads(tmp_path):
    """A checkpoint written before out_init existed (no such key in model_config) loads as "default"."""
    from checkpoints import make_checkpoint

    from trainer.infer.inference import load_model

    path = make_checkpoint(tmp_path / "old.pt")
    state = torch.load(path, weights_only=True)
    del state["model_config"]["out_init"]
    torch.save(state, path)
    model, _ = load_model(path)
    assert model.config.out_init == "default"
