"""The camera command's folder (noisegen.camera.folder): pairs and noisy-only photos, camera and ISO from EXIF,
else the names, else the options, and the errors that say how to name the files."""

from __future__ import annotations

import pytest
from camdata import noisy_of, pairs_folder, photos_folder, texture
from PIL import Image

from noisegen.camera.folder import exif_camera_iso, scan_camera_folder
from noisegen.dataset.images import write_png


def _jpeg_with_exif(path, img, make: str, model: str, iso: int | None) -> None:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    if iso is not None:
        exif.get_ifd(0x8769)[0x8827] = iso
    Image.fromarray(img).save(path, quality=95, exif=exif)


def test_exif_gives_camera_and_iso(tmp_path):
    p = tmp_path / "IMG_0001.jpg"
    _jpeg_with_exif(p, texture(1, 64, 64), "Canon", "Canon EOS 5D Mark III", 3200)
    assert exif_camera_iso(p) == ("Canon_EOS_5D_Mark_III", 3200)
    q = tmp_path / "DSC_0002.jpg"
    _jpeg_with_exif(q, texture(2, 64, 64), "NIKON CORPORATION", "D800", None)
    assert exif_camera_iso(q) == ("NIKON_CORPORATION_D800", None)
    write_png(tmp_path / "plain.png", texture(3, 64, 64))
    assert exif_camera_iso(tmp_path / "plain.png") == (None, None)


def test_pairs_and_noisy_only_photos_of_one_folder(tmp_path):
    root = pairs_folder(tmp_path / "cam", {"a": 2, "b": 1})
    photos_folder(root / "extra", 2, name="CamA_5_160_3200_street_{i}_real.png")  # no partner: noisy-only
    write_png(root / "gt" / "CamA_5_160_3200_z_9_mean.png", texture(9))  # a clean image without its noisy one
    f = scan_camera_folder(root)
    assert [p.scene for p in f.pairs] == ["a", "a", "b"] and {p.camera for p in f.pairs} == {"CamA"}
    assert [(p.camera, p.iso) for p in f.photos] == [("CamA", 3200)] * 2
    assert [s["source"] for s in f.skipped] == ["cam/gt/CamA_5_160_3200_z_9_mean"]
    assert set(f.how.values()) == {"name"}


def test_exif_comes_first_and_options_fill_what_is_missing(tmp_path):
    root = tmp_path / "shots"
    root.mkdir()
    for i in range(2):
        _jpeg_with_exif(root / f"IMG_{i}.jpg", noisy_of(texture(i), i), "Sony", "ILCE-7M3", 6400)
    f = scan_camera_folder(root)
    assert [(p.camera, p.iso) for p in f.photos] == [("Sony_ILCE-7M3", 6400)] * 2 and set(f.how.values()) == {"exif"}
    plain = photos_folder(tmp_path / "dnd", 3)  # no EXIF, no camera or ISO in the names
    f = scan_camera_folder(plain, camera="DND", iso=800)
    assert [(p.camera, p.iso) for p in f.photos] == [("DND", 800)] * 3 and set(f.how.values()) == {"option"}
    assert {p.iso for p in scan_camera_folder(plain, camera="DND").photos} == {None}  # one group, ISO unknown


def test_no_camera_or_iso_says_how_to_name_the_files(tmp_path):
    plain = photos_folder(tmp_path / "dnd", 3)
    with pytest.raises(ValueError, match=r"3 of 3 images carry no camera or ISO .*no EXIF.*--camera NAME"):
        scan_camera_folder(plain)


def test_too_few_images_and_unknown_cameras(tmp_path):
    with pytest.raises(ValueError, match=r"too few images \(1 pairs, 0 noisy-only photos\)"):
        scan_camera_folder(pairs_folder(tmp_path / "one", {"a": 1}))
    with pytest.raises(ValueError, match="matches no image; cameras in .*: CamA"):
        scan_camera_folder(pairs_folder(tmp_path / "two", {"a": 1, "b": 1}), camera="Nikon")
    with pytest.raises(ValueError, match="no usable image"):
        scan_camera_folder((tmp_path / "empty").mkdir() or tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        scan_camera_folder(tmp_path / "missing")
