"""Tests of the AINDNet trainer (trainer)."""
