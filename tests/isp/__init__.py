"""Tests of the camera model (noisegen.isp)."""
