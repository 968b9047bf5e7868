"""The served centre's log lines: uvicorn's own, and Vigie's with their time, level and source.

uvicorn configures its own loggers only. Without this, `vigie centre serve` dropped every INFO
line of Vigie's modules and printed their warnings and errors bare, through Python's last-resort
handler: no time, no level, no module (a failed audit checkpoint, a refused scrape). The
format is the one `vigie gateway` and the detector processes write.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from uvicorn.config import LOGGING_CONFIG

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def server_logging(level: str) -> dict[str, Any]:
    """uvicorn's logging configuration, with the `vigie` loggers written to stderr at `level`."""
    config = deepcopy(LOGGING_CONFIG)
    config["formatters"]["vigie"] = {"format": FORMAT}
    config["handlers"]["vigie"] = {
        "formatter": "vigie",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["vigie"] = {"handlers": ["vigie"], "level": level.upper(), "propagate": False}
    return config
