"""noisegen.dataset.pairs: layouts (noisy/+gt/, SIDD, flat), name rules, --group-regex, bad inputs listed and
skipped."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datagen import shared_data
from PIL import Image

from noisegen.dataset.images import ImageReadError
from noisegen.dataset.pairs import compile_group_regex, load_pair, pair_key, parse_name, scan_pairs


def _png(path: Path, h: int = 16, w: int = 20, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)
    return path


@pytest.mark.parametrize("rel, rule, camera, iso, scene", [
    ("noisy/Canon5D2_5_160_3200_chair_11_real", "polyu", "Canon5D2", "3200", "chair"),
    ("NikonD800_6-3_125_5000_plant__4_real", "polyu", "NikonD800", "5000", "plant"),
    ("noisy/CC_Noisy_Canon_EOS_5D_Mark3_ISO_3200_C1_47", "cc60", "Canon_EOS_5D_Mark3", "3200", "C1"),
    ("d800_iso6400_2_real", "cc15", "d800", "6400", None),
    ("Data/0001_001_S6_00100_00060_3200_L/NOISY_SRGB_010", "sidd", "S6", "00100", "001"),
    ("shots/img_ISO800_x", "iso", None, "800", None),
    ("nothing_here", "none", None, None, None),
])
def test_builtin_rules(rel, rule, camera, iso, scene):
    name, g = parse_name(rel)
    assert name == rule and g.get("camera") == camera and g.get("iso") == iso and g.get("scene") == scene


def test_pair_keys_match_partners_across_conventions():
    assert pair_key("noisy/X_1_real.JPG") == ("noisy", "x_1") and pair_key("gt/X_1_mean.JPG") == ("clean", "x_1")
    assert pair_key("CC_Noisy_A_ISO_1_C1_2.png")[1] == pair_key("CC_Mean_A_ISO_1_C1_2.png")[1]
    assert pair_key("d/NOISY_SRGB_010.PNG") == ("noisy", "d/srgb_010") and pair_key("d/GT_SRGB_010.PNG")[0] == "clean"
    assert pair_key("plain.png")[0] is None and pair_key("a_noisy_clean.png")[0] == "ambiguous"


def test_noisy_gt_layout_with_bad_inputs(tmp_path):
    root = tmp_path / "Mine"
    for i in range(3):
        _png(root / "noisy" / f"CamA_4_100_800_desk_{i}_real.png")
        _png(root / "gt" / f"CamA_4_100_800_desk_{i}_mean.png")
    _png(root / "noisy" / "CamA_4_100_1600_wall_1_real.png", 16, 20)         # mismatched sizes
    _png(root / "gt" / "CamA_4_100_1600_wall_1_mean.png", 16, 24)
    _png(root / "noisy" / "CamA_4_100_1600_wall_2_real.png")                  # no clean partner
    _png(root / "gt" / "CamA_4_100_1600_wall_3_mean.png")                     # no noisy partner
    (root / "noisy" / "CamA_4_100_1600_wall_4_real.png").write_bytes(b"not a png")  # unreadable
    _png(root / "gt" / "CamA_4_100_1600_wall_4_mean.png")
    (root / "noisy" / "notes.txt").write_text("ignored: not an image")
    scan = scan_pairs([root])
    assert len(scan.pairs) == 3 and scan.found == 12 and scan.layouts == ("noisy/gt",)
    assert {p.group() for p in scan.pairs} == {"CamA · ISO 800"} and {p.scene for p in scan.pairs} == {"desk"}
    reasons = {Path(s.path).name: (s.stage, s.reason) for s in scan.skipped}
    assert reasons["CamA_4_100_1600_wall_1_real.png"][0] == "probe" and "size mismatch" in reasons[
        "CamA_4_100_1600_wall_1_real.png"][1]
    assert "missing partner: no clean" in reasons["CamA_4_100_1600_wall_2_real.png"][1]
    assert "missing partner: no noisy" in reasons["CamA_4_100_1600_wall_3_mean.png"][1]
    assert "not a readable image" in reasons["CamA_4_100_1600_wall_4_real.png"][1]
    p = scan.pairs[0]
    clean, noisy = load_pair(p)
    assert clean.shape == noisy.shape == (16, 20, 3) and p.id.startswith("Mine/noisy/")


def test_truncated_file_fails_at_decode(tmp_path):
    _png(tmp_path / "noisy" / "a_real.png", 64, 64)
    good = _png(tmp_path / "gt" / "a_mean.png", 64, 64)
    data = (tmp_path / "noisy" / "a_real.png").read_bytes()
    (tmp_path / "noisy" / "a_real.png").write_bytes(data[: len(data) // 2])  # the header still reads
    scan = scan_pairs([tmp_path])
    assert len(scan.pairs) == 1 and Path(scan.pairs[0].clean) == good.resolve()
    with pytest.raises(ImageReadError):
        load_pair(scan.pairs[0])


def test_sidd_layout_and_flat_layout(tmp_path):
    for folder in ("0001_001_S6_00100_00060_3200_L", "0002_004_GP_00800_00350_5500_N"):
        _png(tmp_path / "SIDD" / "Data" / folder / "NOISY_SRGB_010.PNG")
        _png(tmp_path / "SIDD" / "Data" / folder / "GT_SRGB_010.PNG")
        _png(tmp_path / "SIDD" / "Data" / folder / "NOISY_SRGB_011.PNG")
        _png(tmp_path / "SIDD" / "Data" / folder / "GT_SRGB_011.PNG")
    scan = scan_pairs([tmp_path / "SIDD"])
    assert len(scan.pairs) == 4 and scan.layouts == ("sidd",) and not scan.skipped
    assert Counter(p.group() for p in scan.pairs) == {"Samsung_Galaxy_S6_Edge · ISO 100": 2,
                                                      "Google_Pixel · ISO 800": 2}
    assert {p.scene for p in scan.pairs} == {"001", "004"}
    _png(tmp_path / "flat" / "d600_iso3200_1_real.png")
    _png(tmp_path / "flat" / "d600_iso3200_1_mean.png")
    flat = scan_pairs([tmp_path / "flat"])
    assert flat.layouts == ("flat",) and flat.pairs[0].camera == "Nikon_D600" and flat.pairs[0].iso == 3200


def test_group_regex(tmp_path):
    for cam, iso in (("alpha", 100), ("beta", 400)):
        _png(tmp_path / "noisy" / f"{cam}-iso{iso}-shot1.png")
        _png(tmp_path / "gt" / f"{cam}-iso{iso}-shot1.png")  # same name in both folders
    scan = scan_pairs([tmp_path], r"(?P<camera>[a-z]+)-iso(?P<iso>\d+)-(?P<scene>shot\d)")
    assert sorted(p.group() for p in scan.pairs) == ["alpha · ISO 100", "beta · ISO 400"]
    assert {p.rule for p in scan.pairs} == {"regex"} and {p.scene for p in scan.pairs} == {"shot1"}
    assert scan_pairs([tmp_path]).pairs[0].camera is None  # no built-in rule knows these names
    with pytest.raises(ValueError, match="not a valid regular expression"):
        compile_group_regex("(?P<camera")
    with pytest.raises(ValueError, match="no named group"):
        compile_group_regex(r"\d+")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_pairs([tmp_path / "missing"])


def test_real_datasets_groups():
    polyu = scan_pairs([shared_data("PolyU100")])
    assert len(polyu.pairs) == 100 and not polyu.skipped and {p.rule for p in polyu.pairs} == {"polyu"}
    groups = Counter(p.group() for p in polyu.pairs)
    assert len(groups) == 15 and groups["Canon5D2 · ISO 6400"] == 16 and groups["NikonD800 · ISO 5000"] == 5
    cc60 = scan_pairs([shared_data("CC60")])
    assert len(cc60.pairs) == 60 and Counter(p.group() for p in cc60.pairs) == {
        "Nikon_D800 · ISO 3200": 27, "Nikon_D800 · ISO 1600": 12, "Canon_EOS_5D_Mark3 · ISO 3200": 11,
        "Nikon_D600 · ISO 3200": 6, "Nikon_D800 · ISO 6400": 4}
    cc15 = scan_pairs([shared_data("CC15")])
    assert {p.camera for p in cc15.pairs} <= {p.camera for p in cc60.pairs} and len(cc15.pairs) == 15
    dnd = scan_pairs([shared_data("DND_patches")])  # noisy only: every file listed, none paired
    assert not dnd.pairs and len(dnd.skipped) == 33 and all("missing partner" in s.reason for s in dnd.skipped)
