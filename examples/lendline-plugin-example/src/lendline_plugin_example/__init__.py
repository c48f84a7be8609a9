"""Example Lendline plugins; the entry points in pyproject.toml point at ``pay.plugin`` and
``detector.plugin``."""

__version__ = "0.1.0"
