"""Finding real noisy/clean image pairs and reading camera, ISO and scene from their names.

Layouts (any mix, searched recursively under each root: noisegen.dataset.sources.list_images):
- ``noisy/`` + ``gt/`` folders (PolyU100, CC15, CC60 in ../shared/data): a file's role comes from a
  folder named noisy|real|input|noise or gt|clean|mean|groundtruth|ground_truth|reference|target;
- SIDD (Abdelhamed et al., CVPR 2018): ``<scene folder>/NOISY_SRGB_010.PNG`` beside
  ``GT_SRGB_010.PNG`` (the RAW .MAT files are ignored);
- one flat folder whose names carry the role: ``*_real`` / ``*_mean`` (PolyU, CC15),
  ``CC_Noisy_*`` / ``CC_Mean_*`` (CC60), noisy/clean/gt tokens.
A file's partner has the same key: its path with the role folder and the role tokens of its name
removed, compared case-insensitively and without the extension (so ``noisy/X_real.JPG`` pairs with
``gt/X_mean.JPG``).

Camera, ISO and scene come from the first rule that matches the noisy file's path (relative to
its root, without extension): a user regex with named groups (``camera``, ``iso``, ``scene``; other
named groups are kept as fields) first, then the built-in rules:
- ``sidd``: folder ``<instance>_<scene>_<phone>_<ISO>_<shutter>_<temperature>_<L|N|H>`` (SIDD's
  README; phones GP, IP, S6, N6, G4);
- ``polyu``: ``<camera>_<aperture>_<shutter>_<ISO>_<scene>_<index>_real`` (Xu et al. 2018);
- ``cc60``: ``CC_Noisy_<camera>_ISO_<ISO>_<scene>_<index>`` (Xu et al., TIP 2018; Nam et al. 2016);
- ``cc15``: ``<5dmark3|d600|d800>_iso<ISO>_<index>_real`` (Xu et al., ICCV 2017), camera names
  spelled as in CC60 so that both group together;
- ``iso``: any ``ISO<digits>`` token (camera unknown).
Scenes decide train/test splits (noisegen.dataset.pack_pairs): a scene name is taken as is, across cameras
(PolyU's "toy" or CC's "C1" shot by two cameras is one scene), which errs on the side of no overlap;
without a scene the pair is its own scene.

Bad inputs never stop a scan: files without a partner, pairs whose sizes differ, files whose
header cannot be read and ambiguous names are listed (noisegen.dataset.sources.Skipped) and skipped.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from noisegen.dataset.images import DEFAULT_MAX_PIXELS, ImageReadError, open_image, oriented_size, read_rgb8
from noisegen.dataset.sources import Skipped, list_images, printable_path, undecodable_name

__all__ = ["Pair", "PairScan", "NOISY_DIRS", "CLEAN_DIRS", "BUILTIN_RULES", "SIDD_PHONES", "scan_pairs",
           "parse_name", "pair_key", "load_pair", "compile_group_regex"]

NOISY_DIRS = ("noisy", "real", "input", "noise")
CLEAN_DIRS = ("gt", "clean", "mean", "groundtruth", "ground_truth", "reference", "target")
_NOISY_TOKENS = ("noisy", "real", "noise", "input")
_CLEAN_TOKENS = ("gt", "mean", "clean", "groundtruth", "reference", "target")
_TOKEN = re.compile(r"(?i)(?:^|(?<=[_\-. ]))(" + "|".join(_NOISY_TOKENS + _CLEAN_TOKENS) + r")(?=$|[_\-. ])")

# SIDD's README: smartphone codes of the scene folder names.
SIDD_PHONES = {"GP": "Google_Pixel", "IP": "iPhone_7", "S6": "Samsung_Galaxy_S6_Edge", "N6": "Motorola_Nexus_6",
               "G4": "LG_G4"}
# CC15 abbreviates the cameras that CC60 spells out (both from Nam et al. 2016).
CC15_CAMERAS = {"5dmark3": "Canon_EOS_5D_Mark3", "d600": "Nikon_D600", "d800": "Nikon_D800"}

BUILTIN_RULES: tuple[tuple[str, re.Pattern], ...] = (
    ("sidd", re.compile(r"(?:^|/)(?P<instance>\d{4})_(?P<scene>\d{3})_(?P<camera>GP|IP|S6|N6|G4)_(?P<iso>\d{5})_"
                        r"(?P<shutter>\d+)_(?P<temperature>\d+)_(?P<brightness>[LNH])(?:/|$)")),
    # one PolyU name has a doubled underscore (NikonD800_6-3_125_5000_plant__4_real): allow runs
    ("polyu", re.compile(r"(?:^|/)(?P<camera>[A-Za-z][A-Za-z0-9]*)_+(?P<aperture>\d+(?:-\d+)?)_+(?P<shutter>\d+)_+"
                         r"(?P<iso>\d+)_+(?P<scene>[A-Za-z][A-Za-z0-9]*)_+(?P<index>\d+)_+(?:real|mean)$")),
    ("cc60", re.compile(r"(?:^|/)CC_(?:Noisy|Mean)_(?P<camera>.+?)_ISO_(?P<iso>\d+)_(?P<scene>[A-Za-z]+\d*)_"
                        r"(?P<index>\d+)$", re.IGNORECASE)),
    ("cc15", re.compile(r"(?:^|/)(?P<camera>5dmark3|d600|d800)_iso(?P<iso>\d+)_(?P<index>\d+)_(?:real|mean)$",
                        re.IGNORECASE)),
    ("iso", re.compile(r"(?:^|[_/\-])ISO[_\-]?(?P<iso>\d{2,6})(?=$|[_/\-.])", re.IGNORECASE)),
)


@dataclass(frozen=True)
class Pair:
    """One real noisy/clean pair.

    id: stable name ``ROOT/relative/path`` of the noisy file without extension; noisy, clean:
    absolute paths; root: the root's label (its folder name); height, width: pixel size (both
    files agree); camera, iso, scene: parsed (None when unknown; scene falls back to the id);
    rule: the naming rule that matched ("regex", "sidd", "polyu", "cc60", "cc15", "iso" or "none");
    fields: other named groups of that rule.
    """

    id: str
    noisy: str
    clean: str
    root: str
    height: int
    width: int
    camera: str | None = None
    iso: int | None = None
    scene: str = ""
    rule: str = "none"
    fields: dict = field(default_factory=dict, compare=False, hash=False)

    def group(self, *, with_root: bool = False) -> str:
        """'camera ISO n' label for per-camera statistics ('unknown camera' when nothing was parsed)."""
        parts = [self.root] if with_root else []
        parts.append(self.camera or "unknown camera")
        if self.iso is not None:
            parts.append(f"ISO {self.iso}")
        return " · ".join(parts)


@dataclass(frozen=True)
class PairScan:
    """Result of scan_pairs: usable pairs (sorted by id), skipped inputs, image files seen, layouts found."""

    pairs: tuple[Pair, ...]
    skipped: tuple[Skipped, ...]
    found: int
    layouts: tuple[str, ...]


def compile_group_regex(text: str | None) -> re.Pattern | None:
    """Compile a user --group-regex; it must have at least one named group (camera, iso, scene, ...)."""
    if text is None:
        return None
    try:
        rx = re.compile(text)
    except re.error as exc:
        raise ValueError(f"--group-regex {text!r} is not a valid regular expression: {exc}") from None
    if not rx.groupindex:
        raise ValueError(f"--group-regex {text!r} has no named group; use e.g. "
                         r"'(?P<camera>[^_]+)_ISO(?P<iso>\d+)' (groups: camera, iso, scene)")
    return rx


def parse_name(rel: str, group_regex: re.Pattern | None = None) -> tuple[str, dict[str, str]]:
    """The first rule matching ``rel`` (posix relative path without extension) and its named groups.

    Returns ("none", {}) when no rule matches. The user's regex is searched first (re.search).
    """
    rules = ((("regex", group_regex),) if group_regex is not None else ()) + BUILTIN_RULES
    for name, rx in rules:
        m = rx.search(rel)
        if m:
            return name, {k: v for k, v in m.groupdict().items() if v is not None}
    return "none", {}


def _role_and_key(rel_parts: Sequence[str]) -> tuple[str | None, str]:
    """('noisy' | 'clean' | None, key) of a file from its path parts relative to the root."""
    *dirs, name = rel_parts
    stem = name.rsplit(".", 1)[0]
    role = None
    kept = []
    for d in dirs:
        low = d.lower()
        if low in NOISY_DIRS or low in CLEAN_DIRS:
            role = "noisy" if low in NOISY_DIRS else "clean"
        else:
            kept.append(low)
    tokens = [m.group(1).lower() for m in _TOKEN.finditer(stem)]
    if role is None and tokens:
        kinds = {"noisy" if t in _NOISY_TOKENS else "clean" for t in tokens}
        role = kinds.pop() if len(kinds) == 1 else "ambiguous"
    key_stem = re.sub(r"[_\-. ]{2,}", "_", _TOKEN.sub("", stem)).strip("_-. ").lower()
    return role, "/".join(kept + [key_stem])


def pair_key(rel_path: str) -> tuple[str | None, str]:
    """Public form of the matching rule: (role, key) of a path relative to its root (posix separators)."""
    return _role_and_key(rel_path.split("/"))


def _probe(path: Path) -> tuple[int, int]:
    try:
        with open_image(path, max_pixels=DEFAULT_MAX_PIXELS, name="image") as im:
            return oriented_size(im)
    except ImageReadError as exc:
        raise ImageReadError(str(exc).removeprefix("image: ")) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"not a readable image ({type(exc).__name__}: {exc})") from None


def _labels(roots: Sequence[Path]) -> list[str]:
    out: list[str] = []
    for r in roots:
        base, label, n = r.name or "pairs", r.name or "pairs", 2
        while label in out:
            label, n = f"{base}~{n}", n + 1
        out.append(label)
    return out


def _make_pair(root: Path, label: str, rel: str, noisy: Path, clean: Path, hw: tuple[int, int],
               group_regex: re.Pattern | None) -> Pair:
    stem_rel = rel.rsplit(".", 1)[0]
    rule, g = parse_name(stem_rel, group_regex)
    camera = g.pop("camera", None)
    if rule == "sidd":
        camera = SIDD_PHONES.get(camera, camera)
    elif rule == "cc15" and camera is not None:
        camera = CC15_CAMERAS.get(camera.lower(), camera)
    iso_text = g.pop("iso", None)
    iso = int(iso_text) if iso_text is not None and iso_text.isdigit() else None
    if iso_text is not None and iso is None:
        g["iso_text"] = iso_text
    scene = g.pop("scene", None) or f"{label}/{stem_rel}"
    return Pair(id=f"{label}/{stem_rel}", noisy=str(noisy.resolve()), clean=str(clean.resolve()), root=label,
                height=hw[0], width=hw[1], camera=camera, iso=iso, scene=str(scene), rule=rule, fields=g)


def scan_pairs(roots: Sequence[str | os.PathLike[str]], group_regex: str | re.Pattern | None = None,
               *, probe: bool = True) -> PairScan:
    """Find the noisy/clean pairs under each root (see the module docstring).

    Args:
        roots: folders holding pairs (any of the layouts above); a missing root is an error.
        group_regex: user regex (text or compiled) with named groups camera / iso / scene, searched in
            the noisy file's relative path; built-in rules are tried after it.
        probe: read both headers to check that the files are images of the same size (else sizes are 0).
    Returns:
        PairScan with pairs sorted by id; files without a partner, ambiguous names, unreadable
        headers and size mismatches are in ``skipped`` with reasons.
    Raises:
        FileNotFoundError: a root does not exist or is not a folder.
    """
    rx = compile_group_regex(group_regex) if isinstance(group_regex, str) else group_regex
    paths = [Path(r).expanduser() for r in roots]
    for p in paths:
        if not p.is_dir():
            raise FileNotFoundError(f"pairs folder {p} does not exist or is not a folder; expected noisy/ and gt/ "
                                    "subfolders, SIDD scene folders, or files named *_real/*_mean")
    pairs: list[Pair] = []
    skipped: list[Skipped] = []
    found = 0
    layouts: set[str] = set()
    for root, label in zip(paths, _labels(paths)):
        table: dict[str, dict[str, list[tuple[str, Path]]]] = defaultdict(lambda: {"noisy": [], "clean": []})
        for p in list_images(root, recursive=True):
            found += 1
            rel = p.relative_to(root).as_posix()
            if undecodable_name(p):
                skipped.append(Skipped(printable_path(f"{label}/{rel}"), printable_path(p),
                                       "file name is not valid UTF-8 (rename the file to use it)", "scan"))
                continue
            role, key = _role_and_key(rel.split("/"))
            if role not in ("noisy", "clean"):
                why = ("its name has both noisy and clean markers" if role == "ambiguous" else
                       "neither its folder (noisy/, gt/) nor its name (_real, _mean, NOISY_, GT_) says noisy or "
                       "clean")
                skipped.append(Skipped(f"{label}/{rel}", str(p), f"cannot tell whether it is noisy or clean: {why}",
                                       "pair"))
                continue
            table[key][role].append((rel, p))
            parts = [d.lower() for d in rel.split("/")[:-1]]
            layouts.add("sidd" if p.name.upper().startswith(("NOISY_SRGB", "GT_SRGB")) else
                        "noisy/gt" if any(d in NOISY_DIRS + CLEAN_DIRS for d in parts) else "flat")
        for key in sorted(table):
            noisy, clean = table[key]["noisy"], table[key]["clean"]
            if len(noisy) > 1 or len(clean) > 1:
                names = ", ".join(r for r, _ in noisy + clean)
                for rel, p in noisy + clean:
                    skipped.append(Skipped(f"{label}/{rel}", str(p),
                                           f"ambiguous partners with the same key {key!r}: {names}", "pair"))
                continue
            if not noisy or not clean:
                rel, p = (noisy or clean)[0]
                missing = "clean (gt)" if noisy else "noisy"
                skipped.append(Skipped(f"{label}/{rel}", str(p), f"missing partner: no {missing} file with key {key!r}",
                                       "pair"))
                continue
            (rel, pn), (crel, pc) = noisy[0], clean[0]
            hw = (0, 0)
            if probe:
                try:
                    hw = _probe(pn)
                except ImageReadError as exc:
                    skipped.append(Skipped(f"{label}/{rel}", str(pn), f"noisy file: {exc}", "probe"))
                    continue
                try:
                    hwc = _probe(pc)
                except ImageReadError as exc:
                    skipped.append(Skipped(f"{label}/{rel}", str(pc), f"clean file {crel}: {exc}", "probe"))
                    continue
                if hw != hwc:
                    skipped.append(Skipped(f"{label}/{rel}", str(pn), f"size mismatch: noisy {hw[1]}×{hw[0]}, clean "
                                           f"{crel} {hwc[1]}×{hwc[0]} (W×H)", "probe"))
                    continue
            pairs.append(_make_pair(root, label, rel, pn, pc, hw, rx))
    pairs.sort(key=lambda q: q.id)
    return PairScan(pairs=tuple(pairs), skipped=tuple(skipped), found=found, layouts=tuple(sorted(layouts)))


def load_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """Decode a pair as (clean, noisy) uint8 H×W×3.

    Raises:
        ImageReadError (a ValueError): a file cannot be decoded, or the decoded sizes differ.
    """
    clean, _ = read_rgb8(pair.clean)
    noisy, _ = read_rgb8(pair.noisy)
    if clean.shape != noisy.shape:
        raise ImageReadError(f"{pair.id}: size mismatch after decoding: noisy {noisy.shape[1]}×{noisy.shape[0]}, "
                             f"clean {clean.shape[1]}×{clean.shape[0]}")
    return clean, noisy
