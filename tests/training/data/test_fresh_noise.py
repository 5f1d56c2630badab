"""Fresh noise every epoch (`noisegen-train sn --fresh-noise noise|params`): the loader synthesizes each
crop's noisy image and σ map from the clean crop, reproducibly from (seed, stream, round, position),
and resumes exactly."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from datagen import make_train_shards  # noqa: E402

import noisegen as ng  # noqa: E402
from noisegen.dataset.reader import QuietDamageCounter, iter_samples, list_shards  # noqa: E402
from trainer.data.loader import StreamState, build_train_stream, make_train_loader  # noqa: E402
from trainer.data.stream import dihedral  # noqa: E402
from trainer.stages.sn import train  # noqa: E402
from trainer.stages.sn_config import TrainConfig  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_train_shards(tmp_path_factory.mktemp("fresh"))


def _batches(shards, n, *, saved=None, **kw):
    if kw.get("fresh") == "params":
        kw["profile"] = ng.CameraProfile.from_dict(shards.profile())
    stream, _ = build_train_stream(shards, patch=32, batch=3, seed=4, workers=0, buffer=4, shards_per_round=2,
                                   saved=saved, **kw)
    it = iter(make_train_loader(stream, device=CPU, seed=4))
    out = []
    for _ in range(n):
        b = next(it)
        stream.state.update(b)
        out.append(b)
    return out, stream


def test_fresh_noise_is_the_samples_camera_on_the_crop(dataset):
    shards = list_shards(dataset)
    originals = {s["key"]: s for s in iter_samples(shards.urls, handler=QuietDamageCounter())}
    (b,), _ = _batches(shards, 1, fresh="noise")
    stored, _ = _batches(shards, 1)
    assert b["keys"] == stored[0]["keys"] and torch.equal(b["clean"], stored[0]["clean"])  # same crops
    assert not torch.equal(b["noisy"], stored[0]["noisy"])  # other noise
    for i, (key, (y, x, t), rnd, pos) in enumerate(zip(b["keys"], b["crops"], [b["round"]] * 3, range(3))):
        o = originals[key]
        crop = np.ascontiguousarray(o["clean"][y:y + 32, x:x + 32])
        params = ng.SampleParams.from_dict(o["params"]["params"])
        # the σ map of a fresh crop is the camera's σ of that crop, the same as the stored map's crop
        np.testing.assert_allclose(b["sigma"][i].permute(1, 2, 0).numpy(),
                                   dihedral(o["sigma"][y:y + 32, x:x + 32], t), atol=2.0**-14)
        s = ng.synthesize(crop, params, seed=[4, 0, 0, 0, 4])  # any seed: the level, not the draw, is fixed
        assert abs(float(np.std(b["noisy"][i].float().numpy() - b["clean"][i].float().numpy()))
                   - float(np.std(s.noisy.astype(float) - crop))) < 6.0


def test_fresh_noise_changes_between_rounds_and_resumes_exactly(dataset):
    shards = list_shards(dataset)
    whole, _ = _batches(shards, 8, fresh="params")
    first, s = _batches(shards, 5, fresh="params")
    rest, _ = _batches(shards, 3, fresh="params", saved=[StreamState.from_dict(s.state.to_dict()).to_dict()])
    for a, b in zip(whole, first + rest, strict=True):
        assert a["keys"] == b["keys"] and torch.equal(a["noisy"], b["noisy"]) and torch.equal(a["sigma"], b["sigma"])
    # the same sample read in two rounds gets two different noise draws
    seen: dict[str, torch.Tensor] = {}
    differs = 0
    for b in whole:
        for i, k in enumerate(b["keys"]):
            residual = (b["noisy"][i].float() - b["clean"][i].float())
            if k in seen and seen[k].shape == residual.shape:
                differs += not torch.equal(seen[k], residual)
            seen[k] = residual
    assert differs > 0


def test_sn_trains_with_fresh_noise_and_refuses_bad_combinations(dataset, tmp_path):
    cfg = dict(data=(str(dataset),), model="tiny", steps=3, batch=2, patch=32, device="cpu", workers=0, threads=1,
               log_every=1, progress=False)
    r = train(TrainConfig(out=str(tmp_path / "a"), fresh_noise="params", **cfg), echo=lambda m: None)
    assert r.step == 3 and np.isfinite(r.loss)
    with pytest.raises(ValueError, match="fresh_noise"):
        TrainConfig(out=str(tmp_path / "b"), fresh_noise="always", **cfg)
    files = tuple(str(p) for p in sorted(dataset.glob("shard-*.tar")))
    with pytest.raises(ValueError, match="without their dataset folder"):
        train(TrainConfig(out=str(tmp_path / "c"), fresh_noise="params", **dict(cfg, data=files)),
              echo=lambda m: None)
