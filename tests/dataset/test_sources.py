"""Source discovery and probing: recursion, Waterloo layout, ids, skips with reasons."""

import numpy as np
import pytest
from PIL import Image

from noisegen.dataset.sources import discover, list_images, probe, scan_sources, waterloo_root


def _png(path, h=40, w=50, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path)
    return path


def test_discover_is_recursive_sorted_and_lists_non_images(tmp_path):
    root = tmp_path / "photos"
    _png(root / "b.png")
    _png(root / "a" / "z.png")
    (root / "notes.txt").write_text("hello")
    _png(root / "c.PNG")
    found, skipped = discover([root])
    assert [sid for sid, _ in found] == ["photos/a/z.png", "photos/b.png", "photos/c.PNG"]
    assert [s.source for s in skipped] == ["photos/notes.txt"]
    assert "not an image file" in skipped[0].reason and skipped[0].stage == "scan"


def test_two_roots_with_the_same_name_get_distinct_labels(tmp_path):
    _png(tmp_path / "x" / "img" / "a.png")
    _png(tmp_path / "y" / "img" / "a.png")
    found, _ = discover([tmp_path / "x" / "img", tmp_path / "y" / "img"])
    assert [sid for sid, _ in found] == ["img/a.png", "img~2/a.png"]


def test_missing_root_is_listed(tmp_path):
    found, skipped = discover([tmp_path / "nope"])
    assert found == [] and skipped[0].reason == "no such file or folder"


def test_waterloo_layout_uses_pristine_images_only(tmp_path):
    top = tmp_path / "waterloo"
    _png(top / "exploration_database_and_code" / "pristine_images" / "00001.bmp")
    _png(top / "exploration_database_and_code" / "pristine_images" / "00002.bmp")
    (top / "exploration_database_and_code" / "code").mkdir()
    (top / "exploration_database_and_code" / "code" / "demo.m").write_text("% matlab")
    assert waterloo_root(top) == top / "exploration_database_and_code" / "pristine_images"
    found, skipped = discover([top])
    assert [sid for sid, _ in found] == ["waterloo/exploration_database_and_code/pristine_images/00001.bmp",
                                         "waterloo/exploration_database_and_code/pristine_images/00002.bmp"]
    assert skipped == []


def test_probe_reads_the_header_and_rejects_non_images(tmp_path):
    assert probe(_png(tmp_path / "a.png", 33, 47)) == (33, 47, "RGB")
    assert probe(_png(tmp_path / "g.png", 20, 10, "L"))[2] == "L"
    fake = tmp_path / "fake.jpg"
    fake.write_text("this is text, not a JPEG")
    with pytest.raises(ValueError, match="not a readable image"):
        probe(fake)


def test_scan_skips_small_and_unreadable_with_reasons(tmp_path):
    _png(tmp_path / "ok.png", 64, 64)
    _png(tmp_path / "tiny.png", 8, 100)
    (tmp_path / "text.jpg").write_text("not an image")
    scan = scan_sources([tmp_path], min_size=32)
    root = tmp_path.name
    assert [i.id for i in scan.images] == [f"{root}/ok.png"]
    reasons = {s.source.split("/")[-1]: (s.stage, s.reason) for s in scan.skipped}
    assert reasons["tiny.png"][0] == "probe" and "smaller than the 32×32 patch" in reasons["tiny.png"][1]
    assert reasons["text.jpg"][0] == "probe" and "not a readable image" in reasons["text.jpg"][1]
    assert scan.found == 3


def test_max_images_keeps_the_first_in_id_order(tmp_path):
    for n in "cab":
        _png(tmp_path / f"{n}.png")
    scan = scan_sources([tmp_path], min_size=16, max_images=2)
    assert [i.id.split("/")[-1] for i in scan.images] == ["a.png", "b.png"]


def test_list_images_is_one_rule_with_or_without_subfolders(tmp_path):
    for rel in ("b.png", "a.JPG", "c.tiff", "notes.txt", "sub/d.bmp", "sub/deeper/e.jpeg", "z/f.png", ".png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")  # the listing reads names, never pixels
    (tmp_path / "folder.png").mkdir()  # a folder is not an image, whatever its name
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)  # never followed
    (tmp_path / "link.png").symlink_to(tmp_path / "b.png")  # a link to a file is that file
    rel = lambda paths: [p.relative_to(tmp_path).as_posix() for p in paths]  # noqa: E731
    assert rel(list_images(tmp_path, recursive=False)) == ["a.JPG", "b.png", "c.tiff", "link.png"]
    assert rel(list_images(str(tmp_path), recursive=True)) == [
        "a.JPG", "b.png", "c.tiff", "link.png", "sub/d.bmp", "sub/deeper/e.jpeg", "z/f.png"]
    for recursive in (False, True):
        with pytest.raises((FileNotFoundError, NotADirectoryError)):
            list_images(tmp_path / "missing", recursive=recursive)
