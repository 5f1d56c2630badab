"""The package version (one place; imports nothing of the project, so any module may import it)."""

__all__ = ["__version__"]

# 0.2.0: each sampled parameter has its own random stream (noisegen.isp.sampling.STREAMS), so
# datasets differ from 0.1.0's for the same seed.
__version__ = "0.2.0"
