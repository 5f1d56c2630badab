"""Tests of datasets: format, writer, reader, generation, real pairs (noisegen.dataset)."""
