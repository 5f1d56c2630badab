"""Build ``crf_data/default.npz``, the default camera response curve bank, from colour-science.

Run from anywhere: ``python crf_data/build_default_bank.py`` (``--out PATH`` to write elsewhere).
The output is deterministic: the same colour-science version gives the same bytes.

Each curve is a standard transfer function from colour-science (colour.models) normalised to a
monotone map [0, 1] → [0, 1] on the common grid L_k = k/1023, k = 0..1023 (DoRF's resolution):

    x = L · E_max,    y = encode(x),    f(L) = (max(y, c0) − c0) / (encode(E_max) − c0)

- E_max is the linear value that the function's own inverse returns for code value 1.0, i.e. the
  scene value the encoding puts at the top of its code range: 1.0 (reference white) for display
  OETFs such as sRGB and BT.709, the documented clip or maximum exposure for camera log curves
  (e.g. S-Log3 38.42, ARRI LogC3 EI800 55.08, ST 2084 10000 cd/m²). Parameters are colour's
  defaults (10-bit normalised code values where a function has them) unless stated.
- c0 = encode(0) when finite. Pure logarithms (Log2, Pivoted Log, ViperLog, FiLMiC Pro 6) are
  −∞ at 0; for them c0 = 0, i.e. the curve clips at code value 0 below x = decode(0), as a camera
  writing that encoding does (a flat run at black).
- Parametric family: pure gammas f(L) = L^(1/γ) and Brooks et al.'s tone curve
  f(L) = smoothstep(L^(1/2.2)), smoothstep(t) = 3t² − 2t³ (Brooks et al., "Unprocessing Images
  for Learned Raw Denoising", CVPR 2019).

Curves that are identical on the grid (max difference ≤ 1e-6, e.g. BT.601 = BT.709) are kept once
and the others named in the kept curve's source. Every curve is checked for being finite and
non-decreasing; a curve that fails is dropped, and the script says so.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import colour
import colour.models as cm
import numpy as np

from noisegen.crf.bank import LINEAR, CRFBank
from noisegen.crf.io import save_bank

GRID_POINTS = 1024
GAMMAS = (1.6, 1.8, 2.0, 2.2, 2.4, 2.6)
DUPLICATE_TOL = 1e-6


@dataclass(frozen=True)
class Spec:
    """A colour-science encoding and how to choose its linear range."""

    name: str                       # our curve name
    encode: Callable                # colour.models function, linear → code value
    decode: Callable | None         # its inverse (E_max = decode(1.0)), or None when e_max is given
    kwargs: dict = field(default_factory=dict)
    e_max: float | None = None      # fixed E_max where colour has no inverse
    colour_key: str = ""            # key in colour.LOG_ENCODINGS / colour.OETFS, for discovery


def _log(key: str, name: str, **kwargs) -> Spec:
    return Spec(name, colour.LOG_ENCODINGS[key], colour.LOG_DECODINGS[key], kwargs, colour_key=key)


def _oetf(key: str, name: str, **kwargs) -> Spec:
    return Spec(name, colour.OETFS[key], colour.OETF_INVERSES.get(key), kwargs, colour_key=key)


SPECS: list[Spec] = [
    # Display and broadcast encodings (E_max = 1, reference white, unless stated)
    Spec("sRGB", cm.eotf_inverse_sRGB, cm.eotf_sRGB),
    _oetf("ITU-R BT.709", "BT.709"),
    _oetf("ITU-R BT.601", "BT.601"),
    _oetf("ITU-R BT.2020", "BT.2020"),
    Spec("SMPTE-240M", cm.oetf_SMPTE240M, None, e_max=1.0, colour_key="SMPTE 240M"),
    _oetf("ITU-R BT.2100 HLG", "BT.2100-HLG"),
    _oetf("ARIB STD-B67", "ARIB-STD-B67"),
    _oetf("ITU-R BT.2100 PQ", "BT.2100-PQ"),
    Spec("SMPTE-ST-2084-PQ", cm.eotf_inverse_ST2084, cm.eotf_ST2084),
    Spec("ProPhoto-RGB", cm.cctf_encoding_ProPhotoRGB, cm.cctf_decoding_ProPhotoRGB),
    Spec("ROMM-RGB", cm.cctf_encoding_ROMMRGB, cm.cctf_decoding_ROMMRGB),
    Spec("RIMM-RGB", cm.cctf_encoding_RIMMRGB, cm.cctf_decoding_RIMMRGB),
    Spec("DCI-P3-DCDM", cm.eotf_inverse_DCDM, cm.eotf_DCDM),
    _oetf("ITU-T H.273 IEC 61966-2", "H.273-IEC-61966-2"),
    _oetf("ITU-T H.273 Log", "H.273-Log"),
    _oetf("ITU-T H.273 Log Sqrt", "H.273-Log-Sqrt"),
    _oetf("Blackmagic Film Generation 5", "Blackmagic-Film-Gen5"),
    _oetf("DaVinci Intermediate", "DaVinci-Intermediate"),
    # Camera and film log encodings (E_max = decode(1.0))
    _log("ACEScc", "ACEScc"),
    _log("ACEScct", "ACEScct"),
    _log("ARRI LogC3", "ARRI-LogC3-EI200", EI=200),
    _log("ARRI LogC3", "ARRI-LogC3-EI800", EI=800),
    _log("ARRI LogC3", "ARRI-LogC3-EI1600", EI=1600),
    _log("ARRI LogC4", "ARRI-LogC4"),
    _log("Apple Log Profile", "Apple-Log"),
    _log("Canon Log", "Canon-Log"),
    _log("Canon Log 2", "Canon-Log2"),
    _log("Canon Log 3", "Canon-Log3"),
    _log("Cineon", "Kodak-Cineon"),
    _log("ERIMM RGB", "Kodak-ERIMM-RGB"),
    _log("D-Log", "DJI-D-Log"),
    _log("F-Log", "Fujifilm-F-Log"),
    _log("F-Log2", "Fujifilm-F-Log2"),
    _log("Filmic Pro 6", "FiLMiC-Pro-6"),
    _log("T-Log", "FilmLight-T-Log"),
    _log("Protune", "GoPro-Protune"),
    _log("L-Log", "Leica-L-Log"),
    _log("N-Log", "Nikon-N-Log"),
    _log("Log2", "Log2-OCIO"),
    _log("V-Log", "Panasonic-V-Log"),
    _log("Panalog", "Panavision-Panalog"),
    _log("PLog", "Pivoted-Log"),
    _log("Log3G10", "RED-Log3G10"),
    _log("Log3G12", "RED-Log3G12"),
    _log("REDLog", "RED-REDLog"),
    _log("REDLogFilm", "RED-REDLogFilm"),
    _log("S-Log", "Sony-S-Log"),
    _log("S-Log2", "Sony-S-Log2"),
    _log("S-Log3", "Sony-S-Log3"),
    _log("ViperLog", "Thomson-ViperLog"),
    _log("Mi-Log", "Xiaomi-Mi-Log"),
]

# colour keys deliberately left out, with the reason (anything else new in colour is reported).
SKIPPED = {
    "ACESproxy": "integer-quantised transport form of ACEScc (a staircase); ACEScc is included",
}


def _fn_name(fn: Callable) -> str:
    return f"colour.models.{fn.__name__}"


def normalised_curve(spec: Spec, grid: np.ndarray) -> tuple[np.ndarray, str]:
    """Evaluate ``spec`` on x = L·E_max and normalise (see the module docstring)."""
    args = ", ".join(f"{k}={v!r}" for k, v in spec.kwargs.items())
    if spec.decode is not None:
        e_max = float(spec.decode(1.0, **spec.kwargs))
        e_doc = f"E_max = {spec.decode.__name__}(1.0) = {e_max:.6g}"
    else:
        e_max = float(spec.e_max)
        e_doc = f"E_max = {e_max:g} (reference white)"
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.asarray(spec.encode(grid * e_max, **spec.kwargs), dtype=np.float64)
        y0 = float(spec.encode(0.0, **spec.kwargs))
    y_top = float(y[-1])
    if np.isfinite(y0):
        c0, norm_doc = y0, "f = (y - y(0)) / (y(E_max) - y(0))"
    else:
        c0 = 0.0
        x0 = float(spec.decode(0.0, **spec.kwargs))
        norm_doc = f"y(0) = -inf: f = max(y, 0) / y(E_max), clipped at code 0 below x = {x0:.4g}"
        y = np.where(np.isfinite(y), y, c0)
    f = (np.maximum(y, c0) - c0) / (y_top - c0)
    source = (f"{_fn_name(spec.encode)}({args}) [colour-science {colour.__version__}] at x = L*E_max, "
              f"{e_doc}; {norm_doc}")
    return f, source


def parametric_curves(grid: np.ndarray) -> list[tuple[str, np.ndarray, str]]:
    out = []
    for g in GAMMAS:
        out.append((f"gamma-{g:.1f}", grid ** (1.0 / g), f"power law f(L) = L^(1/{g:.1f})"))
    t = grid ** (1.0 / 2.2)
    out.append(("brooks-smoothstep-gamma2.2", 3.0 * t**2 - 2.0 * t**3,
                "f(L) = smoothstep(L^(1/2.2)), smoothstep(t) = 3t^2 - 2t^3 (Brooks et al., CVPR 2019)"))
    return out


def build(verbose: bool = True) -> CRFBank:
    say = print if verbose else (lambda *a, **k: None)
    grid = np.arange(GRID_POINTS) / (GRID_POINTS - 1)
    entries: list[tuple[str, np.ndarray, str]] = [(LINEAR, grid.copy(), "identity f(L) = L")]
    entries += parametric_curves(grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour's usage warnings (e.g. FiLMiC Pro 6 precision)
        for spec in SPECS:
            f, source = normalised_curve(spec, grid)
            entries.append((spec.name, f, source))

    names, curves, sources = [], [], []
    for name, f, source in entries:
        if not np.isfinite(f).all():
            say(f"dropped {name}: {int((~np.isfinite(f)).sum())} non-finite values")
            continue
        drop = -np.diff(f).min()
        if drop > 1e-9:
            say(f"dropped {name}: not monotone (drops by {drop:.3g})")
            continue
        if drop > 0:
            f = np.maximum.accumulate(f)
            say(f"fixed {name}: float-noise drop of {drop:.2g} removed with a running maximum")
        dup = next((i for i, c in enumerate(curves) if np.abs(c - f).max() <= DUPLICATE_TOL), None)
        if dup is not None:
            say(f"dropped {name}: identical to {names[dup]} on the grid (max diff "
                f"{np.abs(curves[dup] - f).max():.2g})")
            sources[dup] += f"; identical to {name}"
            continue
        names.append(name)
        curves.append(f)
        sources.append(source)

    used = {s.colour_key for s in SPECS}
    for key in sorted(set(colour.LOG_ENCODINGS) | set(colour.OETFS)):
        if key in SKIPPED:
            say(f"skipped colour {key!r}: {SKIPPED[key]}")
        elif key not in used:
            say(f"note: colour {key!r} is not in the bank yet (new in this colour-science version?)")
    return CRFBank("default", grid, np.array(curves), tuple(names), tuple(sources))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "default.npz",
                        help="where to write the bank (default: crf_data/default.npz next to this script)")
    args = parser.parse_args(argv)
    bank = build()
    path = save_bank(bank, args.out)
    print(f"wrote {path}: {len(bank)} curves (including {LINEAR!r}) on {bank.grid.shape[0]} points, "
          f"{path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
