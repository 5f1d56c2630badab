"""Noisy-only calibration as a fit step of `noisegen realism` (issue 19.2): the same groups, splits and test
pairs as `--fit calibrate`, but the profile of each camera-ISO group is fitted from the *noisy* images of
its calibration pairs alone.

    NOISEGEN_DBSN_RUNS=PolyU100=experiments/out/dbsn/PolyU100/pd5,CC60=experiments/out/dbsn/CC60/pd5 \\
        python experiments/realism_table.py --fit dbsn_realism:fit_noisy_only

For a group of set S, ``fit_noisy_only`` takes the D-BSN run of S named in NOISEGEN_DBSN_RUNS (trained by
experiments/dbsn_heldout.py on the noisy images of S's calibration halves only, with the same split rule and
seed as realism's), writes pseudo-pairs for the group's calibration noisy images (`noisegen-train
pseudo-pairs`; cached in RUN/pseudo-pairs/, the noisy file copied, its pseudo-clean image and σ map beside
it), and runs `noisegen calibrate --noisy-only` on exactly those pseudo-pairs with calibrate's defaults
(the ``calibrate`` fit step's): the NLF target from noisy − pseudo-clean; ``fit_noisy_only_sigma`` takes it
from the σ maps (``--noisy-target sigma``). The clean images of the calibration pairs are never read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from noisegen.analysis.realism.models import calibrate_fit
from noisegen.dataset.pairs import Pair, scan_pairs
from noisegen.isp.profiles import CameraProfile
from trainer.infer.pseudo_pairs import PseudoPairsConfig, write_pseudo_pairs

__all__ = ["ENV", "dbsn_run_for", "pseudo_pairs_for", "fit_noisy_only", "fit_noisy_only_sigma"]

ENV = "NOISEGEN_DBSN_RUNS"


def dbsn_run_for(pair: Pair) -> Path:
    """The D-BSN run folder of the pair's set (NOISEGEN_DBSN_RUNS="SET=RUN,..."; the set is the pairs' root)."""
    runs = dict(item.split("=", 1) for item in os.environ.get(ENV, "").split(",") if "=" in item)
    if pair.root not in runs:
        raise ValueError(f"{ENV} names no D-BSN run for {pair.root} (got {sorted(runs)}); "
                         f"set {ENV}=SET=RUN_FOLDER,... (experiments/dbsn_heldout.py trains them)")
    return Path(runs[pair.root])


def pseudo_pairs_for(pairs: Sequence[Pair], run: Path, threads: int = 1) -> list[Pair]:
    """The pseudo-pairs of ``pairs``' noisy images (written once into RUN/pseudo-pairs, reused after)."""
    folder = run / "pseudo-pairs"
    todo = [p.noisy for p in pairs if not (folder / "sigma" / (Path(p.noisy).stem + ".npy")).exists()]
    if todo:
        write_pseudo_pairs(PseudoPairsConfig(checkpoint=str(run / "last.pt"), images=tuple(todo), out=str(folder),
                                             device="cpu", threads=threads, progress=False))
    wanted = {Path(p.noisy).stem for p in pairs}
    found = [q for q in scan_pairs([folder]).pairs if Path(q.noisy).stem in wanted]
    if len(found) != len(wanted):
        raise ValueError(f"pseudo-pairs in {folder}: found {len(found)} of the {len(wanted)} requested")
    return found


def fit_noisy_only(pairs: Sequence[Pair], camera: str | None, iso: int | None, seed: int,
                   noisy_target: str = "residual") -> CameraProfile:
    """A FitFn (noisegen.analysis.realism.models): calibrate --noisy-only on the pseudo-pairs of ``pairs``."""
    run = dbsn_run_for(pairs[0])
    pseudo = pseudo_pairs_for(pairs, run)
    return calibrate_fit(pseudo, camera, iso, seed, noisy_only=True, noisy_target=noisy_target)


def fit_noisy_only_sigma(pairs: Sequence[Pair], camera: str | None, iso: int | None, seed: int) -> CameraProfile:
    """``fit_noisy_only`` with the NLF target from the D-BSN's σ maps (calibrate --noisy-target sigma)."""
    return fit_noisy_only(pairs, camera, iso, seed, noisy_target="sigma")
