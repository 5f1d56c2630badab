"""Camera response curve banks (DESIGN.md §3): the bank and curve types (``bank``), bank files and
their lookup by name (``io``), DoRF import (``dorf``) and figures (``plot``).

    from noisegen.crf import load_bank
    crf = load_bank("default").get("sRGB")
"""

from noisegen.crf.bank import CRF, LINEAR, CRFBank, UnknownCurveError, crf_forward, crf_inverse, crf_inverse_u8
from noisegen.crf.io import BANK_FORMAT, list_banks, load_bank, save_bank, shipped_bank_dir, user_bank_dir

__all__ = ["BANK_FORMAT", "CRF", "CRFBank", "LINEAR", "UnknownCurveError", "crf_forward", "crf_inverse",
           "crf_inverse_u8", "list_banks", "load_bank", "save_bank", "shipped_bank_dir", "user_bank_dir"]
