"""The package version, defined once at the bottom layer so every layer can read it."""

__version__ = "0.1.0"
