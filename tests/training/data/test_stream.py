"""Streaming trainer data (trainer.data.stream): shard sources, splits, augmentation, resumable streams, damaged
shards, a dataset folder as a validation set (the other validation sources: tests/training/engine/test_validate.py)."""

from __future__ import annotations

import itertools
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from datagen import make_train_shards  # noqa: E402

from noisegen.dataset.reader import (  # noqa: E402
    QuietDamageCounter,
    ShardSet,
    iter_samples,
    list_shards,
    read_shard,
    split_by_rank,
    split_by_worker,
)
from noisegen.dataset.writer import DeterministicTarWriter  # noqa: E402
from trainer.data.loader import StreamState, build_train_stream, make_train_loader  # noqa: E402
from trainer.data.stream import crop_and_augment, decode_items, dihedral  # noqa: E402
from trainer.engine.validate import open_val_source  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """12 samples of 48×48 (3 photos × 4 patches) in 6 shards of 2, fixed strong cbdnet-style noise."""
    return make_train_shards(tmp_path_factory.mktemp("trainer_data"))


def _keys(urls) -> list[str]:
    h = QuietDamageCounter()
    return [s["key"] for s in iter_samples(urls, handler=h)]


# ------------------------------------------------------------------------------------------------
# Shard sources


def test_list_shards_folder_pattern_and_pipe(dataset):
    folder = list_shards(dataset)
    assert len(folder.urls) == 6 and all(folder.counts[u] == 2 for u in folder.urls)
    assert folder.profile()["name"].startswith("cbdnet") and folder.profile()["sigma_s"] == [0.12, 0.12]
    pattern = list_shards(str(dataset / "shard-{000001..000003}.tar"))
    assert pattern.urls == folder.urls[1:4] and pattern.counts == {}
    pipe = list_shards([f"pipe:cat {dataset}/shard-00000{{0..1}}.tar"])
    assert pipe.urls == (f"pipe:cat {dataset}/shard-000000.tar", f"pipe:cat {dataset}/shard-000001.tar")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_shards(str(dataset / "shard-{000005..000006}.tar"))


def test_pipe_url_reads_the_same_samples(dataset):
    h = QuietDamageCounter()
    local = [s["__key__"] for s in read_shard(str(dataset / "shard-000002.tar"), handler=h)]
    piped = [s["__key__"] for s in read_shard(f"pipe:cat {dataset}/shard-000002.tar", handler=h)]
    assert local == piped and len(local) == 2 and h.count == 0


def test_split_by_rank_is_disjoint_and_complete():
    urls = [f"s{i}" for i in range(7)]
    for world in (1, 2, 3, 7):
        parts = [split_by_rank(urls, r, world) for r in range(world)]
        assert sorted(itertools.chain(*parts)) == sorted(urls)
        assert sum(map(len, parts)) == len(urls)  # no shard on two ranks
    with pytest.raises(ValueError, match="cannot give each of 8 ranks"):
        split_by_rank(urls, 7, 8)
    assert split_by_rank(urls, 7, 8, allow_empty=True) == []
    assert split_by_worker(["a", "b", "c"], 1, 2) == ["b"]
    assert split_by_worker(["a"], 1, 2) == ["a"]  # fewer shards than streams: shared, seeds differ


def test_shard_pass_sees_every_sample_once_across_ranks(dataset):
    urls = list_shards(dataset).urls
    everything = _keys(urls)
    h = QuietDamageCounter()
    per_rank = [[s["key"] for s in iter_samples(urls, rank=r, world=4, handler=h)] for r in range(4)]
    assert sorted(itertools.chain(*per_rank)) == sorted(everything) and len(everything) == 12


def test_pickle_members_are_never_read(dataset, tmp_path):
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    import webdataset as wds

    samples = list(wds.WebDataset(str(dataset / "shard-000000.tar"), shardshuffle=False))
    with open(tmp_path / "evil.tar", "wb") as f:
        w = DeterministicTarWriter(f)
        for s in samples:
            for name, data in [*s.items(), ("pyd", pickle.dumps(Evil()))]:
                if not name.startswith("__"):
                    w.add(f"{s['__key__']}.{name}", data)
        w.close()
    h = QuietDamageCounter()
    got = list(iter_samples([str(tmp_path / "evil.tar")], handler=h, require_sigma=True))
    assert len(got) == 2 and h.count == 0 and not marker.exists()


# ------------------------------------------------------------------------------------------------
# Augmentation


def test_dihedral_gives_the_eight_distinct_transforms():
    a = np.arange(12).reshape(3, 4, 1)
    outs = [dihedral(a, t) for t in range(8)]
    assert len({(o.shape, o.tobytes()) for o in map(np.ascontiguousarray, outs)}) == 8
    assert np.array_equal(outs[0], a) and outs[1].shape == (4, 3, 1)
    with pytest.raises(ValueError, match="0..7"):
        dihedral(a, 8)


def test_crop_and_flips_are_identical_for_clean_noisy_and_sigma():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 200, (37, 53, 3), dtype=np.uint8)
    sample = {"key": "k", "url": "u", "clean": clean, "noisy": clean + np.uint8(17),
              "sigma": clean.astype(np.float32) / 255.0}
    h = QuietDamageCounter()
    items = [(0, i, dict(sample)) for i in range(64)]
    seen = set()
    for _, _, s in crop_and_augment(items, patch=24, seed=5, stream=0, handler=h):
        y, x, t = s["crop"]
        seen.add(t)
        assert s["clean"].shape == s["noisy"].shape == s["sigma"].shape == (24, 24, 3)
        # the same pixel relation holds everywhere after the transform: same crop, same flip/rotation
        assert np.array_equal(s["noisy"], s["clean"] + np.uint8(17))
        assert np.array_equal(s["sigma"], s["clean"].astype(np.float32) / 255.0)
        assert np.array_equal(s["clean"], dihedral(clean[y:y + 24, x:x + 24], t))
    assert seen == set(range(8)) and h.count == 0
    # too small a sample is reported and skipped, not fatal
    assert list(crop_and_augment([(0, 0, dict(sample))], patch=40, seed=5, stream=0, handler=h)) == []
    assert h.count == 1 and "smaller than the 40×40 crop" in h.messages[0]


def test_batches_from_real_shards_are_consistent_crops(dataset):
    shards = list_shards(dataset)
    stream, _ = build_train_stream(shards, patch=32, batch=4, seed=1, workers=0, buffer=8, shards_per_round=2)
    originals = {s["key"]: s for s in iter_samples(shards.urls, handler=QuietDamageCounter())}
    batch = next(iter(stream))
    assert batch["clean"].shape == batch["noisy"].shape == batch["sigma"].shape == (4, 3, 32, 32)
    assert batch["clean"].dtype == torch.uint8 and batch["sigma"].dtype == torch.float32
    assert batch["clean"].is_contiguous(memory_format=torch.channels_last)
    for b, (key, (y, x, t)) in enumerate(zip(batch["keys"], batch["crops"])):
        for name in ("clean", "noisy", "sigma"):
            want = dihedral(originals[key][name][y:y + 32, x:x + 32], t)
            assert np.array_equal(batch[name][b].permute(1, 2, 0).numpy(), want), (key, name)


# ------------------------------------------------------------------------------------------------
# Endless streams: determinism and exact resumption


def _take(loader_iter, stream, n):
    out = []
    for _ in range(n):
        b = next(loader_iter)
        stream.state.update(b)
        out.append((b["keys"], b["clean"].clone(), b["sigma"].clone()))
    return out


@pytest.mark.parametrize("workers", [0, 2])
def test_stream_resumes_exactly_from_its_saved_state(dataset, workers):
    shards = list_shards(dataset)
    kw = dict(patch=32, batch=3, seed=2, workers=workers, buffer=4, shards_per_round=2)
    s1, _ = build_train_stream(shards, **kw)
    whole = _take(iter(make_train_loader(s1, device=CPU, seed=2)), s1, 9)
    s2, _ = build_train_stream(shards, **kw)
    first = _take(iter(make_train_loader(s2, device=CPU, seed=2)), s2, 5)  # odd: the next batch is stream 1's
    saved = [StreamState.from_dict(s2.state.to_dict()).to_dict()]
    s3, note = build_train_stream(shards, **kw, saved=saved)
    rest = _take(iter(make_train_loader(s3, device=CPU, seed=2)), s3, 4)
    assert note is None
    for (ka, ca, sa), (kb, cb, sb) in zip(whole, first + rest, strict=True):
        assert ka == kb and torch.equal(ca, cb) and torch.equal(sa, sb)
    assert len({tuple(k) for k, _, _ in whole}) > 1  # the stream moves on
    # a changed layout cannot continue exactly: it starts rounds never drawn before, and says so
    s4, note = build_train_stream(shards, **dict(kw, workers=1 if workers else 2), saved=saved)
    assert "data layout changed" in note and min(p[0] for p in s4.state.positions) >= 1


def test_stream_pickles_for_spawned_workers(dataset):
    stream, _ = build_train_stream(list_shards(dataset), patch=32, batch=2, seed=0, workers=0, buffer=2)
    copy = pickle.loads(pickle.dumps(stream))
    a, b = next(iter(stream)), next(iter(copy))
    assert a["keys"] == b["keys"] and torch.equal(a["noisy"], b["noisy"])


def test_streams_of_two_ranks_read_disjoint_shards(dataset):
    shards = list_shards(dataset)
    seen = []
    for rank in range(2):
        stream, _ = build_train_stream(shards, patch=32, batch=2, seed=0, workers=0, rank=rank, world=2, buffer=2)
        it = iter(stream)
        seen.append({u for _ in range(12) for u in next(it)["urls"]})
        assert seen[-1] <= set(stream.assigned[0])
    assert seen[0] and seen[1] and not seen[0] & seen[1]


def test_truncated_shard_is_reported_and_skipped(dataset, tmp_path):
    ds = Path(shutil.copytree(dataset, tmp_path / "ds"))
    bad = ds / "shard-000001.tar"
    bad.write_bytes(bad.read_bytes()[:3000])  # cut inside the first sample
    shards = list_shards(ds)
    stream, _ = build_train_stream(shards, patch=32, batch=2, seed=0, workers=0, buffer=2, shards_per_round=6)
    it = iter(stream)
    messages, keys = [], set()
    for _ in range(20):
        b = next(it)
        messages += b["messages"]
        keys.update(b["keys"])
    assert b["damaged"] >= 1 and any("shard-000001.tar" in m for m in messages)
    assert keys and not keys & {"s000000002", "s000000003"}  # the truncated shard's samples are not used
    assert len(keys) >= 8  # the others are


def test_decode_failure_is_counted_not_fatal():
    h = QuietDamageCounter()
    raw = {"__key__": "bad", "__url__": "x.tar", "json": b"{}", "clean.png": b"junk", "noisy.png": b"junk"}
    assert list(decode_items([(0, 0, raw)], handler=h)) == []
    assert h.count == 1 and "bad" in h.messages[0]


def test_shardset_fingerprint_tracks_the_list():
    assert ShardSet(("a", "b")).fingerprint() != ShardSet(("b", "a")).fingerprint()


# ------------------------------------------------------------------------------------------------
# Validation sources


def test_dataset_folder_as_validation_source(dataset):
    src = open_val_source(str(dataset), max_images=5)
    assert src.kind == "shards" and len(list(src.images())) == 5
    with pytest.raises(FileNotFoundError, match="not a folder"):
        open_val_source(str(dataset / "nothing"))
