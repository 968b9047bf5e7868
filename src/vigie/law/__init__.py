"""The law as code: who may be placed under which measure, and every date that follows.

Pure: no I/O beyond reading its own parameter files. `assess(case)` is the entry point.
"""

from vigie.law.engine import assess
from vigie.law.errors import LawInputError

__all__ = ["LawInputError", "assess"]
