"""One camera's photos: the folder the camera command starts from, with camera and ISO for every image.

A folder may hold real pairs (any layout of noisegen.dataset.pairs: ``noisy/`` + ``gt/``, ``*_real`` /
``*_mean``, SIDD scene folders), noisy photos without a clean partner, or both. Every image file under
it (searched recursively) that is not part of a pair and is not a clean image is a noisy-only photo.

Camera and ISO of an image, first that says:
1. its EXIF (the noisy file's): Make and Model (0x010F, 0x0110), and ISO (PhotographicSensitivity
   0x8827, else ISOSpeed 0x8833, in the Exif IFD; EXIF 2.32, CIPA DC-008-2019);
2. its name (noisegen.dataset.pairs naming rules, or the user's ``group_regex``), as `calibrate` reads them;
3. the command's options: ``camera`` for images whose EXIF and name carry no camera, ``iso`` for
   images whose EXIF and name carry no ISO.
``camera`` also chooses: images whose camera is known keep only those matching it (case-insensitive
substring, as `calibrate --camera`). An image without a camera is an error that says how to name
the files; an image without an ISO joins its camera's "unknown ISO" group only when ``camera`` was given
(the user has said the folder is one camera's), else it is an error too.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from noisegen.dataset.images import DEFAULT_MAX_PIXELS, ImageReadError, open_image, oriented_size
from noisegen.dataset.pairs import Pair, compile_group_regex, pair_key, parse_name, scan_pairs
from noisegen.dataset.sources import IMAGE_EXTENSIONS, list_images

__all__ = ["MIN_IMAGES", "Photo", "CameraFolder", "exif_camera_iso", "scan_camera_folder"]

MIN_IMAGES = 2  # a held-out report needs one image to learn from and one to test on
_NAMING = ("name the files CAMERA_..._ISO<n>_... (or PolyU's CAMERA_APERTURE_SHUTTER_ISO_SCENE_N_real), "
           "give --group-regex, or pass --camera NAME (and --iso N) for images that carry none")


@dataclass(frozen=True)
class Photo:
    """A noisy photo without a clean partner.

    id: ``ROOT/relative/path`` without extension (as pair ids); path: absolute file path;
    height, width: displayed size; camera, iso: see the module docstring; scene: from the name, else
    the id (each photo its own scene); how: where camera and ISO came from ("exif", "name", "option").
    """

    id: str
    path: str
    root: str
    height: int
    width: int
    camera: str | None = None
    iso: int | None = None
    scene: str = ""
    how: str = "name"

    @property
    def noisy(self) -> str:
        """The noisy file (the name pairs use), so that photos and pairs are listed alike."""
        return self.path


@dataclass(frozen=True)
class CameraFolder:
    """The usable pairs and noisy-only photos of a folder (sorted by id), and what was skipped
    ({"source", "reason"}); ``how``: image id → where its camera and ISO came from."""

    folder: str
    pairs: tuple[Pair, ...]
    photos: tuple[Photo, ...]
    skipped: tuple[dict, ...]
    how: dict

    @property
    def cameras(self) -> list[str]:
        return sorted({str(x.camera) for x in (*self.pairs, *self.photos)})


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    return " ".join(str(value).replace("\x00", " ").split())


def exif_camera_iso(path: str | os.PathLike[str]) -> tuple[str | None, int | None]:
    """(camera, ISO) from an image file's EXIF, None where absent or unreadable.

    The camera is the Model, prefixed with the Make when the Model does not already start with it,
    spaces as underscores ("Canon_EOS_5D_Mark_III").
    """
    try:
        with open_image(path, max_pixels=None) as im:
            exif = im.getexif()
            sub = exif.get_ifd(0x8769)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None, None
    make, model = _text(exif.get(0x010F, "")), _text(exif.get(0x0110, ""))
    camera = model if make and model.lower().startswith(make.split()[0].lower()) else f"{make} {model}".strip()
    iso = None
    for tag in (0x8827, 0x8833):
        v = sub.get(tag, exif.get(tag))
        if isinstance(v, (tuple, list)):
            v = v[0] if v else None
        if isinstance(v, int) and v > 0:
            iso = v
            break
    return (camera.replace(" ", "_") or None), iso


def _photos(root: Path, used: set[str], group_regex, skipped: list[dict]) -> list[Photo]:
    photos = []
    for p in list_images(root, recursive=True):  # the one listing rule (noisegen.dataset.sources)
        rel = p.relative_to(root).as_posix()
        if str(p.resolve()) in used:
            continue
        ident = f"{root.name}/{rel.rsplit('.', 1)[0]}"
        role, _ = pair_key(rel)
        if role == "clean":
            skipped.append({"source": ident, "reason": "a clean image without a noisy partner (not used)"})
            continue
        try:
            with open_image(p, max_pixels=DEFAULT_MAX_PIXELS) as im:
                h, w = oriented_size(im)
        except (ImageReadError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            skipped.append({"source": ident, "reason": f"not a readable image ({type(exc).__name__}: {exc})"})
            continue
        _, g = parse_name(rel.rsplit(".", 1)[0], group_regex)
        iso = g.get("iso")
        photos.append(Photo(ident, str(p.resolve()), root.name, h, w, g.get("camera"),
                            int(iso) if iso is not None and iso.isdigit() else None, g.get("scene") or ident))
    return photos


def _assign(item, camera: str | None, iso: int | None):
    """The item with camera and ISO from EXIF, else its name, else the options; and where they came from."""
    cam_exif, iso_exif = exif_camera_iso(item.noisy)
    cam, how = (cam_exif, "exif") if cam_exif else (item.camera, "name") if item.camera else (camera, "option")
    i = iso_exif if iso_exif is not None else item.iso if item.iso is not None else iso
    return dataclasses.replace(item, camera=cam, iso=i), how


def scan_camera_folder(folder: str | os.PathLike[str], *, camera: str | None = None, iso: int | None = None,
                       group_regex: str | None = None) -> CameraFolder:
    """The pairs and noisy-only photos of ``folder`` with camera and ISO (module docstring).

    Raises:
        FileNotFoundError: no such folder.
        ValueError: no usable image; fewer than MIN_IMAGES; an image without camera (or without ISO when
            ``camera`` is not given), with how to name them; no image of ``camera``.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (give the folder that holds the camera's photos)")
    rx = compile_group_regex(group_regex)
    scan = scan_pairs([root], rx)
    skipped = [{"source": s.source, "reason": s.reason} for s in scan.skipped
               if not s.reason.startswith(("missing partner", "cannot tell"))]
    used = {q for p in scan.pairs for q in (p.noisy, p.clean)}
    photos = _photos(root, used, rx, skipped)
    items, how = [], {}
    for x in (*scan.pairs, *photos):
        y, how[x.id] = _assign(x, camera, iso)
        items.append(y)
    if not items:
        raise ValueError(f"{folder}: no usable image ({len(skipped)} skipped"
                         + (f", e.g. {skipped[0]['source']}: {skipped[0]['reason']}" if skipped else "")
                         + f"); give a folder of noisy photos or noisy/clean pairs ({', '.join(IMAGE_EXTENSIONS)})")
    bad = [x for x in items if not x.camera or (x.iso is None and camera is None)]
    if bad:
        what = "camera or ISO" if not bad[0].camera and bad[0].iso is None else (
            "camera" if not bad[0].camera else "ISO")
        raise ValueError(f"{folder}: {len(bad)} of {len(items)} images carry no {what} (e.g. {bad[0].id}: no EXIF, "
                         f"and the name says none); {_NAMING}")
    if camera is not None:
        keep = [x for x in items if how[x.id] == "option" or camera.lower() in x.camera.lower()]
        if not keep:
            raise ValueError(f"--camera {camera!r} matches no image; cameras in {folder}: "
                             + ", ".join(sorted({x.camera for x in items})))
        items = keep
    pairs = tuple(x for x in items if isinstance(x, Pair))
    photos_t = tuple(x for x in items if isinstance(x, Photo))
    if len(pairs) < MIN_IMAGES and len(photos_t) < MIN_IMAGES:
        raise ValueError(f"{folder}: too few images ({len(pairs)} pairs, {len(photos_t)} noisy-only photos): the "
                         f"held-out report needs at least {MIN_IMAGES} pairs or {MIN_IMAGES} noisy photos, one to "
                         "learn from and one to test on; add photos")
    return CameraFolder(str(root), pairs, photos_t, tuple(skipped),
                        {x.id: how[x.id] for x in (*pairs, *photos_t)})
