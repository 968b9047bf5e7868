"""Vigie: judicial electronic monitoring under French law."""

__version__ = "0.1.0"
