"""Tests of noise statistics, calibration and realism (noisegen.analysis)."""
