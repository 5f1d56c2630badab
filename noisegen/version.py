"""The package version (one place; imports nothing of the project, so any module may import it)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
