"""Colour steps of the camera pipeline: transfer functions, tone curve, white balance, CCMs.

Each step is a small pure function with its inverse, after Brooks et al., "Unprocessing Images for
Learned Raw Denoising", CVPR 2019 (§3.1-3.4), and IEC 61966-2-1:1999 (sRGB).

Conventions: images are float32 H×W×3 RGB; "linear" values are irradiance-like in [0, 1] (they may
leave that range slightly after a colour matrix); encoded values are display-referred in [0, 1].
"""

from __future__ import annotations

import numpy as np

from noisegen.checks import check_image_float
from noisegen.isp.white_balance import safe_inverse_gains
from noisegen.kernels.render import _color_transform

__all__ = [
    "srgb_encode",
    "srgb_decode",
    "gamma_encode",
    "gamma_decode",
    "smoothstep",
    "smoothstep_inverse",
    "XYZ_TO_CAMERA_BROOKS",
    "SRGB_TO_XYZ",
    "random_rgb_to_camera",
    "apply_matrix",
    "unprocess_color",
    "process_color",
]

# IEC 61966-2-1 constants: linear segment below 0.0031308 (encoded 0.04045), slope 12.92,
# power 1/2.4 with offset 0.055 above.
_SRGB_LIN_KNEE = 0.0031308
_SRGB_ENC_KNEE = 0.04045


def srgb_encode(L: np.ndarray) -> np.ndarray:
    """sRGB OETF (inverse EOTF) of IEC 61966-2-1: linear L ∈ [0, 1] → encoded x ∈ [0, 1].

    Any shape; float32/float64 in, same dtype out. Values below 0 are clipped to 0.
    """
    L = np.maximum(np.asarray(L), 0)
    return np.where(L <= _SRGB_LIN_KNEE, 12.92 * L, 1.055 * np.power(L, 1 / 2.4) - 0.055).astype(L.dtype)


def srgb_decode(x: np.ndarray) -> np.ndarray:
    """sRGB EOTF of IEC 61966-2-1: encoded x ∈ [0, 1] → linear L ∈ [0, 1]. Inverse of srgb_encode."""
    x = np.maximum(np.asarray(x), 0)
    return np.where(x <= _SRGB_ENC_KNEE, x / 12.92, np.power((x + 0.055) / 1.055, 2.4)).astype(x.dtype)


def gamma_encode(L: np.ndarray, gamma: float = 2.2) -> np.ndarray:
    """Pure power-law encoding x = max(L, 1e-8)^(1/γ) (Brooks et al. 2019 use γ = 2.2)."""
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    L = np.asarray(L)
    return np.power(np.maximum(L, 1e-8), 1.0 / gamma).astype(L.dtype)


def gamma_decode(x: np.ndarray, gamma: float = 2.2) -> np.ndarray:
    """Inverse of gamma_encode: L = max(x, 1e-8)^γ."""
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    x = np.asarray(x)
    return np.power(np.maximum(x, 1e-8), gamma).astype(x.dtype)


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Brooks et al.'s global tone curve s(x) = 3x² − 2x³ on [0, 1] (monotone, s(0)=0, s(1)=1)."""
    x = np.clip(np.asarray(x), 0, 1)
    return (3 * x * x - 2 * x * x * x).astype(x.dtype)


def smoothstep_inverse(y: np.ndarray) -> np.ndarray:
    """Closed-form inverse of smoothstep on [0, 1]: x = 1/2 − sin(arcsin(1 − 2y)/3)."""
    y = np.clip(np.asarray(y), 0, 1)
    return (0.5 - np.sin(np.arcsin(1 - 2 * y) / 3)).astype(y.dtype)


# XYZ → camera matrices of four cameras used by Brooks et al. 2019 (§3.2; the released
# unprocessing code lists them), mixed with random convex weights to simulate unseen cameras.
XYZ_TO_CAMERA_BROOKS = np.array(
    [
        [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
        [[0.4913, -0.0541, -0.0202], [-0.6130, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
        [[0.8380, -0.2630, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
        [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.0970, 0.1581, 0.5181]],
    ],
    dtype=np.float64,
)

# Linear sRGB → CIE XYZ: the sRGB primaries with the D65 white XYZ = (0.95047, 1, 1.08883), as
# used by Brooks et al.; colour.normalised_primary_matrix gives the same to 1e-7 (see the tests).
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float64,
)


def random_rgb_to_camera(rng: np.random.Generator, xyz_to_camera: np.ndarray = XYZ_TO_CAMERA_BROOKS) -> np.ndarray:
    """Random linear-sRGB → camera matrix: a random convex mixture of XYZ → camera matrices.

    weights ~ U(0, 1) normalised to sum 1 (Brooks et al. 2019 §3.2); M = (Σ w_k C_k) · SRGB_TO_XYZ,
    then each row is normalised to sum 1 so that white (1, 1, 1) maps to white.

    Args:
        rng: numpy Generator (the only source of randomness).
        xyz_to_camera: (K, 3, 3) candidate matrices.
    Returns:
        (3, 3) float64 matrix, camera = M @ rgb.
    """
    mats = np.asarray(xyz_to_camera, dtype=np.float64)
    if mats.ndim != 3 or mats.shape[1:] != (3, 3):
        raise ValueError(f"xyz_to_camera: expected shape (K, 3, 3), got {mats.shape}")
    w = rng.uniform(1e-8, 1.0, size=mats.shape[0])
    xyz2cam = np.tensordot(w / w.sum(), mats, axes=1)
    m = xyz2cam @ SRGB_TO_XYZ
    return m / m.sum(axis=1, keepdims=True)


def apply_matrix(img: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 3×3 colour matrix to every pixel: out[..., :] = matrix @ img[..., :].

    img: float H×W×3 (any finite values); matrix: (3, 3). Returns float32 H×W×3.
    """
    img = check_image_float(img, "img", lo=None, hi=None)
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3) or not np.isfinite(m).all():
        raise ValueError(f"matrix: expected a finite (3, 3) matrix, got shape {m.shape}")
    out = np.empty_like(img)
    ones = np.ones_like(img)
    _color_transform(img.reshape(-1, 3), ones.reshape(-1, 3), m, out.reshape(-1, 3))
    return out


def unprocess_color(
    L_rgb: np.ndarray, rgb_to_camera: np.ndarray | None, wb_gains: tuple[float, float, float] | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Linear sRGB → camera raw: inverse colour correction, then highlight-safe inverse white balance.

    Args:
        L_rgb: float32 H×W×3 linear sRGB (output of the inverse CRF).
        rgb_to_camera: (3, 3) matrix or None (skip).
        wb_gains: forward white-balance gains (r, g, b) or None (skip).
    Returns:
        (raw, inverse_gain_map): raw float32 H×W×3 in the camera space; the per-pixel multipliers
        that were applied (None when wb_gains is None), which process_color divides out again so
        that a zero-noise render reproduces the input.
    """
    x = L_rgb if rgb_to_camera is None else apply_matrix(L_rgb, rgb_to_camera)
    if wb_gains is None:
        return x, None
    inv_map = safe_inverse_gains(x, wb_gains)
    return (x * inv_map).astype(np.float32), inv_map


def process_color(
    raw: np.ndarray, rgb_to_camera: np.ndarray | None, inverse_gain_map: np.ndarray | None
) -> np.ndarray:
    """Camera raw → linear sRGB: white balance (dividing out the unprocessing gains) and the CCM.

    Exact inverse of unprocess_color for the same matrix and gain map. Returns float32 H×W×3.
    """
    if rgb_to_camera is None and inverse_gain_map is None:
        return raw
    raw = np.ascontiguousarray(raw, dtype=np.float32)
    cam_to_rgb = np.eye(3) if rgb_to_camera is None else np.linalg.inv(np.asarray(rgb_to_camera, dtype=np.float64))
    gains = np.ones_like(raw) if inverse_gain_map is None else (1.0 / inverse_gain_map).astype(np.float32)
    out = np.empty_like(raw)
    _color_transform(raw.reshape(-1, 3), np.ascontiguousarray(gains).reshape(-1, 3), cam_to_rgb, out.reshape(-1, 3))
    return out
