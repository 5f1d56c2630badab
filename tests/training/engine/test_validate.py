"""Validation sources (trainer.engine.validate): one folder is paired as `eval` pairs it, clean images get
seeded synthetic noise from the chosen camera profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from datagen import make_photos, shared_data  # noqa: E402
from PIL import Image  # noqa: E402

import noisegen as ng  # noqa: E402
from noisegen.dataset.images import read_rgb8  # noqa: E402
from trainer.engine.validate import DEFAULT_VAL_PROFILE, open_val_source, val_profile  # noqa: E402
from trainer.infer.evaluate import iter_pairs  # noqa: E402


def _png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _role_token_folder(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """noisy/ + gt/ files named with role tokens, a flat *_real/*_mean pair, partnerless files; returns the
    pairs a reader must find: {noisy file stem: (noisy, clean)}, each image distinct."""
    rng = np.random.default_rng(0)

    def img() -> np.ndarray:
        return rng.integers(0, 256, size=(16, 20, 3), dtype=np.uint8)

    want = {}
    for noisy, clean in (("noisy/a_real.png", "gt/a_mean.png"), ("noisy/b_noisy.png", "gt/b_clean.png"),
                         ("noisy/c.png", "gt/c.png"), ("d_real.png", "d_mean.png")):
        n, c = img(), img()
        _png(root / noisy, n)
        _png(root / clean, c)
        want[Path(noisy).stem] = (n, c)
    _png(root / "noisy" / "lonely_real.png", img())
    _png(root / "gt" / "extra_mean.png", img())
    return want


def _val_and_eval(folder: Path, **kw) -> tuple[list, list]:
    val = [(im.name, im.noisy, im.clean) for im in open_val_source(str(folder), **kw).images()]
    ev = [(it.id, it.noisy, it.clean) for it in iter_pairs(str(folder)).items() if it.error is None]
    return val, ev


def _same(val: list, ev: list) -> bool:
    return [v[0] for v in val] == [e[0] for e in ev] and all(
        np.array_equal(v[1], e[1]) and np.array_equal(v[2], e[2]) for v, e in zip(val, ev))


def test_validation_pairs_a_folder_with_role_tokens_as_eval_does(tmp_path):
    want = _role_token_folder(tmp_path)
    src = open_val_source(str(tmp_path))
    assert src.kind == "real" and len(src.skipped) == 2
    assert any("lonely_real" in s for s in src.skipped) and any("extra_mean" in s for s in src.skipped)
    val, ev = _val_and_eval(tmp_path)
    assert _same(val, ev)
    got = {Path(name).name: (noisy, clean) for name, noisy, clean in val}
    assert sorted(got) == sorted(want)
    assert all(np.array_equal(got[k][0], want[k][0]) and np.array_equal(got[k][1], want[k][1]) for k in want)
    assert [len(list(src.images(r, 2))) for r in range(2)] == [2, 2]


@pytest.mark.parametrize("name", ["CC15", "PolyU100"])
def test_validation_and_eval_give_a_real_folder_the_same_pairs(name):
    folder = shared_data(name)
    val, ev = _val_and_eval(folder)
    assert _same(val, ev)
    # Oracle: these sets name each pair noisy/X_real.EXT ↔ gt/X_mean.EXT, every noisy file has its partner.
    noisy = sorted((p for p in (folder / "noisy").iterdir() if p.stem.endswith("_real")), key=lambda p: p.stem)
    assert [Path(v[0]).name for v in val] == [p.stem for p in noisy]
    for (_, n, c), p in list(zip(val, noisy))[::7]:  # every 7th pair, decoded again from its files
        assert np.array_equal(n, read_rgb8(p)[0])
        assert np.array_equal(c, read_rgb8(folder / "gt" / (p.stem.removesuffix("_real") + "_mean" + p.suffix))[0])


def test_cc15_pairs_are_all_matched():
    src = open_val_source(str(shared_data("CC15")), crop=64)
    images = list(src.images())
    assert src.kind == "real" and len(images) == 15 and not src.skipped
    assert all(im.noisy.shape == im.clean.shape == (64, 64, 3) for im in images)


def test_synthetic_validation_noise_is_fixed_by_the_seed(tmp_path):
    make_photos(tmp_path / "clean")
    a = [im.noisy for im in open_val_source(str(tmp_path / "clean"), seed=1, crop=32).images()]
    b = [im.noisy for im in open_val_source(str(tmp_path / "clean"), seed=1, crop=32).images()]
    c = [im.noisy for im in open_val_source(str(tmp_path / "clean"), seed=2, crop=32).images()]
    assert len(a) == 3 and all(x.shape == (32, 32, 3) for x in a)  # one of the 3 photos is in a subfolder
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not all(np.array_equal(x, z) for x, z in zip(a, c))


def test_synthetic_noise_is_image_i_with_seeds_seed_i(tmp_path):
    files = sorted(make_photos(tmp_path / "clean"))
    prof = ng.get_profile("cbdnet")
    got = list(open_val_source(str(tmp_path / "clean"), profile="cbdnet", seed=3).images())
    for i, (f, im) in enumerate(zip(files, got)):
        params = ng.sample_params(prof, np.random.default_rng([3, i, 1]))
        s = ng.synthesize(read_rgb8(f)[0], params, seed=[3, i, 2])
        assert im.name == f.stem and np.array_equal(im.noisy, s.noisy) and np.array_equal(im.clean, s.clean)


def test_the_validation_profile_is_the_option_then_the_training_data_then_the_default(tmp_path):
    unprocess = ng.get_profile("unprocess")
    assert val_profile("unprocess", {"name": "ignored"}) == unprocess
    assert val_profile(None, unprocess.to_dict()) == unprocess
    assert val_profile(None, None) == ng.get_profile(DEFAULT_VAL_PROFILE) == ng.get_profile("cbdnet")
    ng.save_profile(unprocess, tmp_path / "p.json")
    assert val_profile(str(tmp_path / "p.json")) == unprocess
    with pytest.raises(KeyError, match="unknown profile"):
        val_profile("no-such-camera")
    make_photos(tmp_path / "clean")
    src = open_val_source(str(tmp_path / "clean"), dataset_profile=unprocess.to_dict())
    assert "unprocess noise" in src.description
