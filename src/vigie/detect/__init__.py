"""Detection: a pure, deterministic engine turning observations and time into alarm events."""

from vigie.detect.engine import Engine
from vigie.detect.events import AlarmEvent
from vigie.detect.replay import replay
from vigie.detect.scenario import OBSERVATION_FIELDS, TAMPER_WHATS, ScenarioError, TamperWhat

__all__ = [
    "OBSERVATION_FIELDS",
    "TAMPER_WHATS",
    "AlarmEvent",
    "Engine",
    "ScenarioError",
    "TamperWhat",
    "replay",
]
