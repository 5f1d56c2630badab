"""Tests of camera response curve banks (noisegen.crf)."""
