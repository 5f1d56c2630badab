"""Tests of the `noisegen` command (noisegen.cli)."""
