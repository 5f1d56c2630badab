"""The camera command's held-out split (noisegen.camera.split): by scene within each camera-ISO group, by shot
across groups and folders (every crop of a shot a test image shows is dropped, issue 19.3), checked by
content, and refused when a test scene is among the clean photos."""

from __future__ import annotations

from pathlib import Path

import pytest
from camdata import noisy_of, pairs_folder, texture
from datagen import SHARED_DATA

from noisegen.camera.folder import scan_camera_folder
from noisegen.camera.scenes import THRESHOLD, overlap, thumbnail
from noisegen.camera.split import split_camera, split_from_dict
from noisegen.dataset.images import read_rgb8, write_png
from noisegen.dataset.pairs import scan_pairs


def _twins(root: Path) -> Path:
    """One camera-ISO group of four scenes of two pairs each; scene "copy" shows scene "a" under another name."""
    pairs_folder(root, {"a": 2, "b": 2, "c": 2})
    clean = read_rgb8(root / "gt" / "CamA_5_160_3200_a_1_mean.png")[0]
    for i in (1, 2):
        write_png(root / "noisy" / f"CamA_5_160_3200_copy_{i}_real.png", noisy_of(clean, [9, i]))
        write_png(root / "gt" / f"CamA_5_160_3200_copy_{i}_mean.png", clean)
    return root


def test_split_holds_scenes_out_and_drops_the_same_content_under_another_name(tmp_path):
    folder = scan_camera_folder(_twins(tmp_path / "cam"))
    any_dropped = False
    for seed in range(6):  # the seed decides which scenes are tested; the checks hold for every one
        split = split_camera(folder, seed=seed)
        calib, test = split.calib, split.test
        assert test and calib
        assert not {p.scene for p in calib} & {p.scene for p in test}
        if {p.scene for p in test} & {"a", "copy"}:  # one twin tested: the other must not stay in calibration
            assert not {p.scene for p in calib} & {"a", "copy"}
            assert {d["why"] for d in split.dropped} <= {"content", "shot"}
            any_dropped |= bool(split.dropped)
        thumbs = {p.id: thumbnail(read_rgb8(p.clean)[0]) for p in calib + test}
        assert all(overlap(thumbs[t.id], thumbs[c.id]) < THRESHOLD for t in test for c in calib)
        assert split_from_dict(split.to_dict(), folder).to_dict() == split.to_dict()  # listed, and read back
    assert any_dropped  # some seed put the twins on both sides, and the check caught it


def test_a_test_image_without_a_scene_name_drops_every_crop_of_the_shot_it_shows(tmp_path):
    """CC15's crops carry no scene name; CC60's carry the shot (A4_49 …). A test crop that overlaps one crop
    of a shot reveals the shot, and every crop of it goes: also those elsewhere in the shot, and the shot at
    another ISO of the same camera; another camera's scene of the same name stays (another view)."""
    big = texture(7, 480, 480)
    calib = tmp_path / "cc60"
    for role in ("noisy", "gt"):
        (calib / role).mkdir(parents=True)

    def put(name: str, clean):
        write_png(calib / "noisy" / f"CC_Noisy_{name}.png", noisy_of(clean, hash(name) % 1000))
        write_png(calib / "gt" / f"CC_Mean_{name}.png", clean)
    for idx, (y, x) in {49: (0, 0), 51: (0, 320), 54: (320, 0), 114: (200, 200)}.items():  # four crops of A4
        put(f"Nikon_D800_ISO_3200_A4_{idx}", big[y:y + 160, x:x + 160])
    put("Nikon_D800_ISO_6400_A4_7", big[320:480, 320:480])  # the same shot at another ISO
    for k, name in enumerate(("Nikon_D800_ISO_3200_A1_1", "Nikon_D800_ISO_3200_A1_2", "Nikon_D800_ISO_6400_B2_1",
                              "Nikon_D600_ISO_3200_A4_1")):  # other shots; the last: another camera's "A4"
        put(name, texture(20 + k))
    test = tmp_path / "cc15"
    for role in ("noisy", "gt"):
        (test / role).mkdir(parents=True)
    write_png(test / "noisy" / "d800_iso3200_1_real.png", noisy_of(big[220:380, 220:380], 5))  # overlaps A4_114
    write_png(test / "gt" / "d800_iso3200_1_mean.png", big[220:380, 220:380])
    write_png(test / "noisy" / "d800_iso6400_1_real.png", noisy_of(texture(40), 6))  # a new scene at ISO 6400
    write_png(test / "gt" / "d800_iso6400_1_mean.png", texture(40))
    split = split_camera(scan_camera_folder(calib), test_pairs=scan_pairs([test]).pairs)
    dropped = {d["item"].rsplit("_ISO_", 1)[-1]: d["why"] for d in split.dropped}
    assert dropped == {"3200_A4_114": "content", "3200_A4_49": "shot", "3200_A4_51": "shot", "3200_A4_54": "shot",
                       "6400_A4_7": "shot"}
    kept = {p.id.rsplit("CC_Noisy_", 1)[-1] for p in split.calib}
    # the groups tested: D800 at ISO 3200 and 6400 (D600 has no test image, so no group)
    assert kept == {"Nikon_D800_ISO_3200_A1_1", "Nikon_D800_ISO_3200_A1_2", "Nikon_D800_ISO_6400_B2_1"}
    assert all(d["test"] == "cc15/noisy/d800_iso3200_1_real" for d in split.dropped)


def test_cc15_is_held_out_by_shot_on_the_real_crops():
    """Issue 19.3: the CC60 crops of the shots in three CC15 test images, by name (the content check alone
    dropped only the one crop that overlaps each)."""
    if not (SHARED_DATA / "CC15").is_dir() or not (SHARED_DATA / "CC60").is_dir():
        pytest.skip(f"shared data {SHARED_DATA}/CC15 and CC60 are absent")
    tests = {"d800_iso3200_1": "A4", "d800_iso1600_2": "B3", "5dmark3_iso3200_2": "C3"}
    test = [p for p in scan_pairs([SHARED_DATA / "CC15"]).pairs if p.id.split("/")[-1][:-5] in tests]
    folder = scan_camera_folder(SHARED_DATA / "CC60")
    split = split_camera(folder, test_pairs=test)
    by_shot = sorted(d["item"].split("_ISO_")[-1] for d in split.dropped if d["why"] == "shot")
    by_content = sorted(d["item"].split("_ISO_")[-1] for d in split.dropped if d["why"] == "content")
    assert by_content == ["1600_B3_38", "3200_A4_114", "3200_C3_51"]
    # the nine, and B3 at ISO 6400 (the same camera's shot of scene B3)
    assert by_shot == ["1600_B3_3", "1600_B3_36", "1600_B3_82", "3200_A4_49", "3200_A4_51", "3200_A4_54",
                       "3200_C3_26", "3200_C3_6", "3200_C3_73"]
    assert not {(p.camera, p.scene) for p in split.calib} & {("Nikon_D800", "A4"), ("Nikon_D800", "B3"),
                                                              ("Canon_EOS_5D_Mark3", "C3")}


def test_the_split_refuses_test_scenes_among_the_clean_photos(tmp_path):
    root = pairs_folder(tmp_path / "cam", {"a": 2, "b": 2})
    photos = tmp_path / "photos"
    photos.mkdir()
    for f in (root / "gt").iterdir():
        write_png(photos / f.name, read_rgb8(f)[0])
    with pytest.raises(ValueError, match="clean photo"):
        split_camera(scan_camera_folder(root), clean_photos=sorted(str(p) for p in photos.iterdir()))


def test_one_scene_only_is_a_clear_error(tmp_path):
    folder = scan_camera_folder(pairs_folder(tmp_path / "cam", {"wall": 3}))
    with pytest.raises(ValueError, match=r"1 scene \(wall, 3 pairs\).*second scene"):
        split_camera(folder)
