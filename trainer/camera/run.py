"""`noisegen-train camera`: a denoiser for one camera from its photos, with an honest held-out report.

    folder → split by shot → per-ISO profiles → realism → generate → train the rows → evaluate → report

1. folder: the camera's pairs and noisy-only photos, camera and ISO from EXIF or names (noisegen.camera.folder).
2. split: per camera-ISO group, calibration and test images held out by shot and checked by content
   (noisegen.camera.split); listed in RUN/split.json and reused from it.
3. profiles: a profile per group fitted on its calibration pairs (RUN/profiles/).
4. realism: each profile and the two fitted baselines scored on the group's test pairs (RUN/realism.json).
5. rows: each row of trainer.camera.rows in order: generate its data, train it, evaluate it on the
   held-out pairs (RUN/data, RUN/runs, RUN/evals); the report is rewritten after every row.
6. photos: the noise level of the held-out noisy-only photos against the denoiser's output, and crops.
7. report: RUN/report.{json,md,png} and RUN/denoiser.pt (`noisegen-train denoise RUN/denoiser.pt ...`).

Resumable: every step reuses what is complete (trainer.camera.context), so killing the command and running
it again finishes the run with the same report, byte for byte. RUN/camera.json records the content
settings; a run folder refuses to continue under other ones. Timings go to RUN/timings.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from noisegen.atomic import atomic_write_bytes
from noisegen.camera.api import (
    clean_photo_files,
    files_digest,
    fit_profiles,
    realism_scores,
    scan_camera_folder,
    split_camera,
    split_from_dict,
)
from noisegen.runlock import FolderLock, LockHeld
from trainer.camera.config import CameraConfig, Scale
from trainer.camera.context import RunContext, k_pairs, link_pairs, sha256_file
from trainer.camera.outputs import pair_crops, photo_levels
from trainer.camera.report import render_figure, render_markdown
from trainer.camera.rows import DENOISER_ORDER, ROWS, Row
from trainer.camera.rows_dbsn import ROWS_DBSN
from trainer.engine.checkpoint import versions

CAMERA_LOCK = ".camera.lock"  # in RUN: held while a camera command runs there

__all__ = ["CameraResult", "run_camera", "SPLIT_RULE"]

SPLIT_RULE = ("a shot is (camera, scene name); every calibration image of a shot that a test image shows, by its "
              "name or by content, is dropped")


@dataclass(frozen=True)
class CameraResult:
    """What a run made: its folder, the report's dict, the denoiser checkpoint, this invocation's seconds."""

    out: Path
    report: dict
    denoiser: Path | None
    seconds: float


def _json_bytes(d) -> bytes:
    return (json.dumps(d, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _pinned(out: Path, content: dict) -> str | None:
    """The command that started the run in ``out`` (None: no run there yet); a run continues only with the
    settings it started with (RUN/camera.json), else ValueError."""
    path = out / "camera.json"
    if not path.exists():
        return None
    saved, content = json.loads(path.read_text()), json.loads(json.dumps(content))
    diff = [f"{k}: {saved['content'].get(k)!r} → {v!r}" for k, v in content.items() if saved["content"].get(k) != v]
    if diff:
        raise ValueError(f"{out} holds a camera run made with other settings ({'; '.join(diff)}); continue it with "
                         "the same options, or choose another --out")
    return saved["command"]


def _split(ctx_out: Path, folder, test_pairs, clean_files, scale: Scale, seed: int, say, progress: bool):
    """The checked split, from RUN/split.json when it lists the same images and clean photos, and the JSON to
    write (None when read from there)."""
    path = ctx_out / "split.json"
    key = {"images": sorted(x.id for x in (*folder.pairs, *folder.photos, *test_pairs)),
           "clean_photos": files_digest(clean_files), "seed": seed, "max_groups": scale.max_groups,
           "max_items": scale.max_items}
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            return split_from_dict(saved["split"], folder, test_pairs), None
    t = time.perf_counter()
    split = split_camera(folder, test_pairs=test_pairs, seed=seed, clean_photos=clean_files,
                         max_groups=scale.max_groups, max_items=scale.max_items, progress=progress)
    say(f"split and content check in {time.perf_counter() - t:.0f} s")
    return split, _json_bytes({"key": key, "rule": SPLIT_RULE, "split": split.to_dict()})


def _link(ctx: RunContext) -> None:
    s, base = ctx.scale, ctx.out / "pairs"

    def name(n: str, crop: int | None) -> str:
        return n if crop is None else f"{n}-crop{crop}"
    ctx.pairs["test"] = link_pairs(ctx.split.test, base / name("test", s.test_crop), s.test_crop)
    ctx.pairs["calib"] = link_pairs(ctx.split.calib, base / name("calib", s.crop), s.crop)
    ctx.pairs["kpairs"] = link_pairs(k_pairs(ctx.split, s.k), base / name(f"calib-k{s.k}", s.crop), s.crop)


def _realism(ctx: RunContext) -> list[dict]:
    path = ctx.out / "realism.json"
    key = {"profiles": [sha256_file(p) for _, p in ctx.profiles], "draws": ctx.scale.draws,
           "crop": ctx.scale.realism_crop, "seed": ctx.config.seed}
    if path.exists() and json.loads(path.read_text()).get("key") == key:
        return json.loads(path.read_text())["groups"]
    groups = realism_scores(ctx.split.groups, ctx.profiles, draws=ctx.scale.draws, seed=ctx.config.seed,
                            crop=ctx.scale.realism_crop, echo=ctx.say)
    atomic_write_bytes(path, _json_bytes({"key": key, "groups": groups}))
    return json.loads(path.read_text())["groups"]


def _row_result(ctx: RunContext, row: Row, ev: dict) -> dict:
    group_of = {Path(p.noisy).stem: g.name for g in ctx.split.groups for p in g.test}
    field = "psnr_noisy" if row.train is None else "psnr"
    per: dict[str, list[float]] = {}
    for im in ev["images"]:
        per.setdefault(group_of.get(im["id"].rsplit("/", 1)[-1], "?"), []).append(im[field])
    return {"key": row.key, "label": row.label, "psnr": ev["overall"][field],
            "ssim": ev["overall"]["ssim_noisy" if row.train is None else "ssim"],
            "groups": {g: sum(v) / len(v) for g, v in sorted(per.items())},
            "step": ev.get("step") if row.train else None}


def _denoiser(ctx: RunContext) -> dict | None:
    row = next((k for k in DENOISER_ORDER if k in ctx.checkpoints), None)
    if row is None:
        return None
    why = {"f": "the TF stage with real pairs, the paper's full pipeline",
           "d": "SN on the calibrated profiles (no TF row ran)",
           "i": "distilled from the D-BSN's pseudo-pairs and the noisy-only profile's data, learnt from this "
                "camera's noisy images (no TF or calibrated-profile row ran)",
           "h": "SN on the noisy-only profile (no distilled row ran)", "g": "the D-BSN alone",
           "b": "SN on `cbdnet` data: without pairs there is no calibrated profile yet"}.get(row, "its last stage")
    s = ctx.scale
    tile = "" if s.eval_tile is None else f" --tile {s.eval_tile}" + (" --tile-stats" if s.eval_tile_stats else "")
    return {"row": row, "why": why, "use": f"noisegen-train denoise RUN/denoiser.pt PHOTOS... --out DIR{tile}"}


def _levels_note(row: str) -> str:
    """What the noise levels of noisy-only photos are measured against (the denoiser's output)."""
    if row == "b":
        return ("the noise levels are measured against row (b)'s output, SN on `cbdnet` data: noise it leaves in "
                "lowers them, image detail it smooths away raises them (on PolyU100 it scored below the noisy input)")
    return (f"the noise levels are measured against row ({row})'s output: noise it leaves in lowers them, image "
            "detail it smooths away raises them")


def _report(ctx: RunContext, results: list[dict], realism: list[dict], levels: list[dict], crops: list[dict],
            denoiser: dict | None, notes: list[str]) -> dict:
    s = ctx.scale
    where = ("whole held-out images" if s.test_crop is None
             else f"the {s.test_crop}² centre crops of the held-out images")
    tiles = "whole" if s.eval_tile is None else f"in {s.eval_tile}² tiles" + (
        ", each with its own AIN statistics" if s.eval_tile_stats else "")
    return {"command": ctx.command, "scale": asdict(s), "clean": ", ".join(Path(c).name for c in ctx.config.clean)
            or "the embedded photos", "evaluation": f"{where}, run {tiles}",
            "folder": {"pairs": len(ctx.folder.pairs), "photos": len(ctx.folder.photos), "cameras": ctx.folder.cameras,
                       "camera_iso_from": {h: list(ctx.folder.how.values()).count(h)
                                           for h in sorted(set(ctx.folder.how.values()))},
                       "skipped": list(ctx.folder.skipped)},
            "split": {"rule": SPLIT_RULE, **ctx.split.to_dict()}, "rows": results, "denoiser": denoiser,
            "realism": realism, "noise_levels": levels,
            "crops": [{"id": c["id"], "group": c["group"], "files": c["files"]} for c in crops], "notes": notes}


def _write_report(ctx: RunContext, report: dict, crops: list[dict] | None) -> None:
    atomic_write_bytes(ctx.out / "report.json", _json_bytes(report))
    atomic_write_bytes(ctx.out / "report.md", render_markdown(report).encode("utf-8"))
    if crops is not None:
        atomic_write_bytes(ctx.out / "report.png", render_figure(report, crops))


class _Clock:
    """Step lines with the elapsed time, and this invocation's seconds per step in RUN/timings.json (written
    after every step, so that an interrupted invocation's time is counted too)."""

    def __init__(self, echo: Callable[[str], None]):
        self.t0 = self.t = time.perf_counter()
        self.echo, self.steps, self.out = echo, {}, None
        self.index: int | None = None

    def say(self, msg: str) -> None:
        self.echo(f"[{time.perf_counter() - self.t0:6.0f} s] {msg}")

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = round(self.steps.get(name, 0.0) + now - self.t, 1)
        self.t = now
        if self.out is not None:
            self._write()

    def _write(self) -> None:
        path = self.out / "timings.json"
        runs = json.loads(path.read_text())["invocations"] if path.exists() else []
        record = {"seconds": round(time.perf_counter() - self.t0, 1), "steps": self.steps}
        if self.index is None:
            self.index = len(runs)
            runs.append(record)
        else:
            runs[self.index] = record
        total = round(sum(r["seconds"] for r in runs), 1)
        atomic_write_bytes(path, _json_bytes({"invocations": runs, "total_seconds": total}))


def _inputs(config: CameraConfig, scale: Scale, command: str, clock: _Clock) -> RunContext:
    """Steps 1-2: the folder, the clean photos and the split, checked before RUN is created (inputs it cannot
    use leave no folder behind); then RUN/camera.json and RUN/split.json."""
    out = Path(config.out)
    kw = dict(camera=config.camera, iso=config.iso, group_regex=config.group_regex)
    folder = scan_camera_folder(config.folder, **kw)
    test_pairs = tuple(p for f in config.test for p in scan_camera_folder(f, **kw).pairs)
    clock.say(f"step 1/7 folder: {len(folder.pairs)} pairs and {len(folder.photos)} noisy-only photos of "
              f"{', '.join(folder.cameras)}" + (f", {len(test_pairs)} test pairs" if test_pairs else "")
              + (f"; {len(folder.skipped)} files skipped" if folder.skipped else ""))
    clean = clean_photo_files(config.clean, scale.gen_patch, scale.max_images)
    content = config.content(scale)
    command = _pinned(out, content) or command
    clock.say("step 2/7 split: held out by shot, checked by content")
    split, listed = _split(out, folder, test_pairs, clean, scale, config.seed, clock.say, config.progress)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "camera.json").exists():
        atomic_write_bytes(out / "camera.json", _json_bytes({"command": command, "content": content,
                                                             "versions": versions()}))
    if listed is not None:
        atomic_write_bytes(out / "split.json", listed)
    clock.out = out
    clock.lap("folder and split")
    clock.say(f"split: {len(split.groups)} groups of pairs ({len(split.calib)} calibration / {len(split.test)} "
              f"test), {len(split.photos)} of noisy-only photos ({len(split.calib_photos)} / "
              f"{len(split.test_photos)}); {len(split.dropped)} calibration images dropped, {len(split.skipped)} "
              "groups left out")
    return RunContext(config, scale, out, folder, split, clean, clock.say, out, command=command)


def _train_rows(ctx: RunContext, rows: Sequence[Row], realism: list[dict], notes: list[str],
                clock: _Clock) -> tuple[list[Row], dict[str, dict], list[dict]]:
    """Step 5: every row that applies, in order: train (or reuse), evaluate on the held-out pairs, and rewrite
    the (partial) report. Returns the rows that ran, their evaluations and the report's row results."""
    active = [r for r in rows if r.applies(ctx)]
    results: list[dict] = []
    evals: dict[str, dict] = {}
    for i, row in enumerate(active):
        if row.train is not None:
            clock.say(f"step 5/7 row ({row.key}) {i + 1}/{len(active)}: {row.label}")
            ctx.checkpoints[row.key] = row.train(ctx)
            if ctx.has_pairs:
                evals[row.key] = ctx.evaluate(row.key, ctx.checkpoints[row.key])
                clock.say(f"row ({row.key}): {evals[row.key]['overall']['psnr']:.2f} dB on the held-out pairs")
            clock.lap(f"row {row.key}")
        first = next(iter(evals.values()), None)  # (a), the noisy input, is in every evaluation
        results = [_row_result(ctx, r, first if r.train is None else evals[r.key])
                   for r in active if (r.train is None and first) or r.key in evals]
        partial = notes + ["PARTIAL: rows still to run"]
        _write_report(ctx, _report(ctx, results, realism, [], [], None, partial), None)
    return active, evals, results


def run_camera(config: CameraConfig, *, rows: Sequence[Row] = ROWS, shared: Path | None = None, command: str = "",
               echo: Callable[[str], None] = print) -> CameraResult:
    """Run (or resume) the camera command (module docstring); returns the run's report.

    Args:
        rows: the report's rows, in order (trainer.camera.rows.ROWS; a longer tuple adds rows). With
            CameraConfig.dbsn, trainer.camera.rows_dbsn.ROWS_DBSN follow (those not already in ``rows``).
        shared: folder for camera-independent data and runs (row (b)); default the run folder.
        command: the command line recorded in camera.json and the report (the first invocation's is kept).
    Raises:
        ValueError / FileNotFoundError: one line naming the input and what to do (no usable images, one
            scene only, no camera/ISO, no clean photos, another run's folder, a folder in use by a live run).
    """
    out = Path(config.out)
    new = not out.exists()
    try:  # one camera command per run folder (its steps lock their own folders too; this one spans them)
        lock = FolderLock(out / CAMERA_LOCK)
    except LockHeld as exc:
        raise ValueError(f"{config.out} is in use by a live `noisegen-train camera` run (pid {exc.pid}, still "
                         "running): wait for it to end, or give another --out") from None
    try:
        return _run_camera(config, rows, shared, command, echo)
    finally:
        lock.close()
        if not (out / "camera.json").exists():  # refused before the run began: leave the folder as it was
            (out / CAMERA_LOCK).unlink(missing_ok=True)
            if new and not any(out.iterdir()):
                out.rmdir()


def _run_camera(config: CameraConfig, rows: Sequence[Row], shared: Path | None, command: str,
                echo: Callable[[str], None]) -> CameraResult:
    clock = _Clock(echo)
    scale = config.resolved_scale(torch.cuda.is_available())
    ctx = _inputs(config, scale, command, clock)
    if shared is not None:
        ctx.shared = shared
    realism: list[dict] = []
    if ctx.has_pairs:
        _link(ctx)
        ctx.profiles = fit_profiles(ctx.split.groups, scale.fit, ctx.out / "profiles", config.seed, echo=clock.say)
        clock.lap("profiles")
        clock.say(f"step 3/7 profiles: {len(ctx.profiles)} ({scale.fit})")
        realism = _realism(ctx)
        clock.lap("realism")
        clock.say("step 4/7 realism: AKLD of the profiles " + ", ".join(
            f"{g['models']['profile']['akld']:.3f}" for g in realism))
    notes = [] if ctx.has_pairs else ["no real pairs: rows (a) and (d)-(f) and the PSNR table need noisy/clean pairs"]
    if config.dbsn:
        rows = (*rows, *(r for r in ROWS_DBSN if r.key not in {x.key for x in rows}))
    active, evals, results = _train_rows(ctx, rows, realism, notes, clock)
    denoiser = _denoiser(ctx)
    if not ctx.has_pairs and denoiser:
        notes.append(_levels_note(denoiser["row"]))
    levels, photo_crops = photo_levels(ctx, denoiser["row"]) if ctx.has_photos and denoiser else ([], [])
    clock.say(f"step 6/7 photos: noise level of {len(ctx.split.test_photos)} held-out noisy-only photos")
    psnr = {k: {im["id"].rsplit("/", 1)[-1]: im["psnr"] for im in ev["images"]} for k, ev in evals.items()}
    if evals:
        psnr["noisy"] = {im["id"].rsplit("/", 1)[-1]: im["psnr_noisy"] for im in next(iter(evals.values()))["images"]}
    crops = pair_crops(ctx, [(r.key, r.label) for r in active if r.key in ctx.checkpoints], psnr) + photo_crops
    report = _report(ctx, results, realism, levels, crops, denoiser, notes)
    if denoiser:
        atomic_write_bytes(ctx.out / "denoiser.pt", Path(ctx.checkpoints[denoiser["row"]]).read_bytes())
    _write_report(ctx, report, crops)
    clock.lap("photos, crops and report")
    clock.say(f"step 7/7 report: {ctx.out / 'report.md'}" + (
        f"; denoiser {ctx.out / 'denoiser.pt'} (row ({denoiser['row']}))" if denoiser else ""))
    return CameraResult(ctx.out, report, ctx.out / "denoiser.pt" if denoiser else None,
                        time.perf_counter() - clock.t0)
