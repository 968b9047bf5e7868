"""Detection: a pure, deterministic engine turning observations and time into alarm events."""

from vigie.detect.engine import Engine
from vigie.detect.events import AlarmEvent
from vigie.detect.replay import replay
from vigie.detect.scenario import OBSERVATION_FIELDS, ScenarioError

__all__ = ["OBSERVATION_FIELDS", "AlarmEvent", "Engine", "ScenarioError", "replay"]
