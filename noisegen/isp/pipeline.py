"""The per-sample camera noise simulation (docs/design.md §Camera model), read top to bottom like the paper's figure.

    x (sRGB, 8-bit) ──f⁻¹──▶ L ──CCM⁻¹, WB⁻¹──▶ raw ──mosaic + noise──▶ noisy raw
      ──demosaic──▶ ──WB, CCM──▶ L̃ ──f, clip, 8-bit──▶ y ──JPEG(q)──▶ noisy

References: Guo et al., CBDNet, CVPR 2019, Eq. (3)-(4); Brooks et al., Unprocessing, CVPR 2019;
Kim et al., AINDNet, CVPR 2020, §3.1. The ground-truth noise level is σ_raw = sqrt(L·σ_s² + σ_c²),
in the raw domain where the noise is added. All randomness comes from ``np.random.default_rng(seed)``.

The clean target (``clean_target``): "source" is the source image itself, as in CBDNet's and
AINDNet's papers; then every error of re-mosaicing and demosaicing an already demosaiced photo
counts as noise. "render" is the noise-free image through the same ISP (the same curve, mosaic,
demosaic, colour steps and quantisation, without noise and without JPEG), as CycleISP (Zamir et al.,
CVPR 2020) and CBDNet's own Python ISP (``cbdnet_noise_generate_srgb`` returns the rendered clean
image) do: the pair then differs by the camera's noise (and JPEG) only. With zero noise and no JPEG,
noisy equals the render bit for bit (``render_clean`` runs the same code with σ = 0).

In-camera noise reduction (noisegen.isp.nr), when the parameters ask for it (nr_flat_gain < 1),
attenuates the raw noise where the clean image is flat, after the noise and before demosaicing; the
σ map is attenuated with it. With nr_flat_gain = 1 the step is skipped (byte-identical output).

Correlated noise (noisegen.isp.correlation, SampleParams.noise_corr / noise_mix): the raw noise is σ_raw times a
unit-variance correlated field instead of white deviates; the σ map is unchanged. Sharpening
(noisegen.isp.sharpen, sharpen_amount > 0): an unsharp mask of the noise after the tone curve, before 8 bits
(``sharpen_u8``). Both off (the defaults) leave the steps above exactly as they were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from noisegen.checks import check_image_u8
from noisegen.crf.bank import CRF, crf_forward, crf_inverse_u8
from noisegen.crf.io import load_bank
from noisegen.isp.bayer import demosaic, mosaic
from noisegen.isp.color import process_color, unprocess_color
from noisegen.isp.correlated_noise import add_correlated_noise
from noisegen.isp.correlation import corr_enabled
from noisegen.isp.jpeg import jpeg_roundtrip
from noisegen.isp.noise import NoisyRaw, add_raw_noise, add_raw_noise_u8
from noisegen.isp.nr import nr_enabled, nr_gain_map
from noisegen.isp.params import SampleParams
from noisegen.isp.sharpen import sharpen_enabled, sharpen_noise
from noisegen.kernels.render import _crf_quantize

__all__ = ["Synthesis", "synthesize", "reduce_noise", "render_clean", "render_u8", "sharpen_u8", "make_rng",
           "CLEAN_TARGETS"]

CLEAN_TARGETS = ("source", "render")

Seed = int | Sequence[int] | np.random.SeedSequence


@dataclass(frozen=True, eq=False)
class Synthesis:
    """One synthetic pair.

    clean: uint8 H×W×3, the training target: the source image, or its noise-free render
        (``clean_target``).
    noisy: uint8 H×W×3, what the simulated camera wrote (after JPEG when simulated).
    sigma_raw: float32 H×W×3, std of the noise added in the raw domain at each pixel/channel.
    params: the SampleParams that produced it (params.to_json() records them).
    """

    clean: np.ndarray
    noisy: np.ndarray
    sigma_raw: np.ndarray
    params: SampleParams


def make_rng(seed: Seed) -> np.random.Generator:
    """np.random.default_rng(seed) with a clear error for seeds numpy cannot use."""
    if isinstance(seed, np.random.Generator):
        raise TypeError("seed: pass an int, a sequence of ints or a SeedSequence, not a Generator "
                        "(the seed is recorded with every sample)")
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"seed: expected a non-negative int, a sequence of them or a SeedSequence, got {seed!r} ({exc})"
        ) from None


def render_u8(L: np.ndarray, crf: CRF) -> np.ndarray:
    """Forward CRF, clip to [0, 1] and quantise to 8 bits: uint8 = round(255·f(clip(L, 0, 1))).

    L: float32 H×W×3 irradiance (any finite values). Returns uint8 H×W×3.
    """
    L = np.ascontiguousarray(L, dtype=np.float32)
    out = np.empty(L.shape, dtype=np.uint8)
    _crf_quantize(L.reshape(-1), crf.forward_lut, out.reshape(-1))
    return out


def reduce_noise(noisy_raw: NoisyRaw, raw: np.ndarray, clean: np.ndarray, params: SampleParams) -> NoisyRaw:
    """In-camera noise reduction (noisegen.isp.nr): noisy = L + g·(noisy − L), σ_raw ← g·σ_raw.

    Args:
        noisy_raw: the noise step's output (an H×W mosaic or H×W×3). raw: float32 H×W×3, the clean raw
            irradiance L the noise was added to. clean: uint8 H×W×3 source (its texture sets g).
        params: SampleParams with nr_flat_gain < 1.
    Returns:
        NoisyRaw with the attenuated noise and σ map.
    """
    g = nr_gain_map(clean, params.nr_flat_gain, params.nr_knee)
    base = mosaic(raw, params.pattern) if params.pattern is not None else raw
    gb = g if params.pattern is not None else g[:, :, None]
    noisy = (base + gb * (noisy_raw.noisy - base)).astype(np.float32)
    return NoisyRaw(noisy, (noisy_raw.sigma_raw * g[:, :, None]).astype(np.float32))


def sharpen_u8(L_noisy: np.ndarray, raw: np.ndarray, params: SampleParams, crf: CRF, ccm: np.ndarray | None,
               gain_map: np.ndarray | None) -> np.ndarray:
    """Tone curve, unsharp mask of the noise (noisegen.isp.sharpen.sharpen_noise), clip and 8 bits.

    Args:
        L_noisy: float32 H×W×3 after demosaicing and the colour steps. raw: float32 H×W×3, the clean raw
            irradiance the noise was added to (its noise-free render c is the reference of the mask).
        params: SampleParams with sharpen_amount > 0. crf, ccm, gain_map: the sample's curve and colour steps.
    Returns:
        uint8 H×W×3 = round(255·clip(c + USM(f(L_noisy) − c), 0, 1)).
    """
    base = mosaic(raw, params.pattern) if params.pattern is not None else raw
    rgb = demosaic(base, params.pattern, params.demosaic) if params.pattern is not None else base
    clean_f = crf_forward(np.clip(process_color(rgb, ccm, gain_map), 0.0, 1.0), crf)
    noisy_f = crf_forward(np.clip(L_noisy, 0.0, 1.0), crf)
    y = sharpen_noise(noisy_f, clean_f, params.sharpen_amount, params.sharpen_radius)
    return np.floor(np.clip(y, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render_clean(clean: np.ndarray, params: SampleParams) -> np.ndarray:
    """The noise-free render of ``clean`` through the camera of ``params``: the same curve, mosaic,
    demosaic, colour steps and 8-bit quantisation, with σ_s = σ_c = 0 and no JPEG.

    Args:
        clean: uint8 H×W×3 sRGB source. params: SampleParams.
    Returns:
        uint8 H×W×3; what ``synthesize`` writes as noisy when the noise is zero and JPEG is off.
    """
    zero = dataclasses.replace(params, sigma_s=(0.0,) * 3, sigma_c=(0.0,) * 3, jpeg_quality=None)
    return synthesize(clean, zero, seed=0).noisy


def synthesize(clean: np.ndarray, params: SampleParams, seed: Seed = 0, *,
               clean_target: str = "source") -> Synthesis:
    """Simulate the camera of ``params`` on one clean image.

    Args:
        clean: uint8 H×W×3 sRGB image (any H, W ≥ 1; odd and non-square sizes work).
        params: SampleParams (from sample_params or written by hand).
        seed: noise seed (int ≥ 0, sequence of ints, or SeedSequence). Same inputs → same bytes.
        clean_target: "source" (Synthesis.clean is the input) or "render" (its noise-free render
            through the same ISP, ``render_clean``); see the module docstring.
    Returns:
        Synthesis(clean, noisy, sigma_raw, params).
    Raises:
        TypeError / ValueError: bad image or seed; KeyError: unknown curve or bank name.
    """
    clean = check_image_u8(clean, "clean")
    if clean_target not in CLEAN_TARGETS:
        raise ValueError(f"clean_target: expected one of {CLEAN_TARGETS}, got {clean_target!r}")
    if not isinstance(params, SampleParams):
        raise TypeError(f"params: expected SampleParams, got {type(params).__name__}")
    rng = make_rng(seed)
    crf = load_bank(params.crf_bank).get(params.crf)
    ccm = None if params.rgb_to_camera is None else np.reshape(params.rgb_to_camera, (3, 3))

    corr = corr_enabled(params.noise_corr, params.noise_mix)
    if ccm is None and params.wb_gains is None and params.noise_model == "gaussian" and not corr:
        # 1.-4. fused: inverse CRF by table, σ map and noise on the mosaic in one pass.
        noisy_raw = add_raw_noise_u8(clean, crf.inverse_u8, params.sigma_s, params.sigma_c, rng,
                                     pattern=params.pattern)
        gain_map = None
        raw = None
    else:
        L = crf_inverse_u8(clean, crf)                                  # 1. inverse CRF
        raw, gain_map = unprocess_color(L, ccm, params.wb_gains)        # 2. CCM⁻¹, WB⁻¹
        if corr:                                                        # 3.+4. correlated noise, on the mosaic
            noisy_raw = add_correlated_noise(raw, params.sigma_s, params.sigma_c, rng, params.noise_corr,
                                             params.noise_mix, pattern=params.pattern)
        else:                                                           # 3.+4. noise on the mosaic
            noisy_raw = add_raw_noise(raw, params.sigma_s, params.sigma_c, rng,
                                      model=params.noise_model, pattern=params.pattern)
    if raw is None and (nr_enabled(params.nr_flat_gain) or sharpen_enabled(params.sharpen_amount)):
        raw = crf.inverse_u8[clean]
    if nr_enabled(params.nr_flat_gain):                                 # 3b. in-camera noise reduction
        noisy_raw = reduce_noise(noisy_raw, raw, clean, params)
    rgb = noisy_raw.noisy
    if params.pattern is not None:
        rgb = demosaic(rgb, params.pattern, params.demosaic)            # 4. demosaic
    L_noisy = process_color(rgb, ccm, gain_map)                         # 5. WB, CCM
    if sharpen_enabled(params.sharpen_amount):                          # 6. f, sharpen the noise, clip, 8-bit
        noisy = sharpen_u8(L_noisy, raw, params, crf, ccm, gain_map)
    else:
        noisy = render_u8(L_noisy, crf)                                 # 6. f, clip, 8-bit
    if params.jpeg_quality is not None:
        noisy = jpeg_roundtrip(noisy, params.jpeg_quality, params.jpeg_subsampling)  # 7. JPEG
    target = clean if clean_target == "source" else render_clean(clean, params)
    return Synthesis(clean=target, noisy=noisy, sigma_raw=noisy_raw.sigma_raw, params=params)
