"""Build the built-in ``real-cameras`` profile (noisegen/isp/real_cameras.json) from the real pairs.

    python experiments/build_real_cameras.py --workers 2                    # --fit calibrate-camera
    python experiments/build_real_cameras.py --fit calibrate --workers 2    # without the issue 11.2 additions

Every camera-ISO group of PolyU100 and CC60 (../shared/data) is calibrated on *all* of its pairs with the
named fit step (noisegen.analysis.realism.models.FIT_STEPS), one member profile per group, named
``<set>-<camera>-ISO<iso>``; the mixture (noisegen.isp.mixture) draws one member per image, uniformly.
Each member carries its provenance (source set, camera, ISO, scene and pair counts, noisegen version, fit
step, command); the mixture carries the build's. Held-out scores of the same fit step are in
benchmarks/RESULTS.md (experiments/realism_table.py).

Resumable: each group's profile is cached in OUT/<member>.json (default OUT: experiments/out/real_cameras,
git-ignored) and reused; --force recomputes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

from noisegen.analysis.realism.models import resolve_fit
from noisegen.dataset.pairs import scan_pairs
from noisegen.isp.mixture import REAL_CAMERAS, REAL_CAMERAS_FILE, mixture_profile
from noisegen.isp.profiles import CameraProfile, load_profile, save_profile
from noisegen.version import __version__

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = Path(__file__).resolve().parent / "out" / "real_cameras"
SETS = ("PolyU100", "CC60")


def _safe(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in s)


def groups(data: Path, sets: list[str]) -> list[tuple[str, str, int, list]]:
    """(set, camera, ISO, pairs) of every camera-ISO group, in a fixed order."""
    out = []
    for name in sets:
        by: dict[tuple[str, int], list] = {}
        for p in scan_pairs((str(data / name),)).pairs:
            if p.camera and p.iso:
                by.setdefault((p.camera, p.iso), []).append(p)
        out += [(name, cam, iso, sorted(by[cam, iso], key=lambda p: p.id)) for cam, iso in sorted(by)]
    return out


def fit_member(set_name: str, camera: str, iso: int, pairs: list, fit: str, seed: int, command: str,
               out: Path, force: bool) -> CameraProfile:
    """The member profile of one group (cached in ``out``)."""
    name = f"{set_name}-{_safe(camera)}-ISO{iso}"
    path = out / f"{name}.json"
    if path.exists() and not force:
        prof = load_profile(path)
        if (prof.provenance or {}).get("fit") == fit:
            return prof
    t0 = time.perf_counter()
    prof = resolve_fit(fit)(pairs, camera, iso, seed)
    scenes = sorted({p.scene for p in pairs if p.scene})
    provenance = {"source_set": set_name, "camera": camera, "iso": iso, "scenes": len(scenes), "pairs": len(pairs),
                  "scene_names": scenes, "fit": fit, "seed": seed, "noisegen_version": __version__,
                  "command": command, "fit_seconds": round(time.perf_counter() - t0, 1)}
    prof = dataclasses.replace(prof, name=name, provenance=provenance,
                               description=f"{camera} at ISO {iso}, calibrated on {len(pairs)} pairs "
                               f"({len(scenes)} scenes) of {set_name}")
    out.mkdir(parents=True, exist_ok=True)
    save_profile(prof, path)
    return prof


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--fit", default="calibrate-camera", help="fit step (default calibrate-camera)")
    ap.add_argument("--data", default=str(DATA), help=f"the shared data folder (default: {DATA})")
    ap.add_argument("--sets", default=",".join(SETS), help=f"pair folders under --data (default {','.join(SETS)})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default=str(OUT), help=f"cache of the member profiles (default {OUT})")
    ap.add_argument("--dest", default=str(ROOT / "noisegen" / "isp" / REAL_CAMERAS_FILE),
                    help="the mixture file to write (default: the package data)")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    resolve_fit(args.fit)
    sets = [s for s in args.sets.split(",") if s]
    command = "python experiments/build_real_cameras.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    todo = groups(Path(args.data), sets)
    if not todo:
        sys.exit(f"build_real_cameras: no camera-ISO group under {args.data} ({', '.join(sets)})")
    print(f"{len(todo)} camera-ISO groups", file=sys.stderr)
    t0 = time.perf_counter()
    tasks = [(s, c, i, p, args.fit, args.seed, command, Path(args.out), args.force) for s, c, i, p in todo]
    if args.workers > 1:
        from joblib import Parallel, delayed

        members = Parallel(n_jobs=args.workers, backend="loky")(delayed(fit_member)(*t) for t in tasks)
    else:
        members = [fit_member(*t) for t in tasks]
    for m in members:
        pv = m.provenance
        dm = m.demosaic if m.patterns[0] else "no mosaic"
        print(f"{m.name}: {pv['pairs']} pairs, {pv['scenes']} scenes, {m.crf_curves[0]}, {dm}, "
              f"JPEG {m.jpeg_quality[0] if m.jpeg_probability else 'none'} {m.jpeg_subsampling}, "
              f"NR {m.nr_flat_gain:g}/{m.nr_knee:g}", file=sys.stderr)
    mix = mixture_profile(
        REAL_CAMERAS, members,
        description=f"the calibrated real cameras of {' and '.join(sets)}: one of {len(members)} camera-ISO "
        "profiles per image, uniformly (noisegen calibrate per group; provenance in each member)",
        provenance={"source_sets": sets, "members": len(members), "fit": args.fit, "seed": args.seed,
                    "noisegen_version": __version__, "command": command,
                    "built_by": "experiments/build_real_cameras.py",
                    "wall_seconds": round(time.perf_counter() - t0, 1)})
    Path(args.dest).write_text(json.dumps(mix.to_dict(), indent=1) + "\n")
    print(f"wrote {args.dest}: {len(members)} members ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
