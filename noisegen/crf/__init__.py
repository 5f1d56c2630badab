"""Camera response curve banks (docs/design.md §Camera response curves).

Modules:
    bank  the bank and curve types, forward and inverse curves (numpy; numba only to apply a curve)
    io    bank files (.npz, no pickle) and their lookup by name
    dorf  import of the DoRF database (Grossberg & Nayar) into a bank
    plot  figures of a bank's curves

    from noisegen.crf import load_bank
    crf = load_bank("default").get("sRGB")
"""

from noisegen.crf.bank import CRF, LINEAR, CRFBank, UnknownCurveError, crf_forward, crf_inverse, crf_inverse_u8
from noisegen.crf.io import BANK_FORMAT, list_banks, load_bank, save_bank, shipped_bank_dir, user_bank_dir

__all__ = ["BANK_FORMAT", "CRF", "CRFBank", "LINEAR", "UnknownCurveError", "crf_forward", "crf_inverse",
           "crf_inverse_u8", "list_banks", "load_bank", "save_bank", "shipped_bank_dir", "user_bank_dir"]
