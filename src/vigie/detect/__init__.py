"""Detection: a pure, deterministic engine turning observations and time into alarm events.

One module per kind of rule (``zones``, ``schedule``, ``presence``, ``proximity``, ``tamper``,
``battery``, ``power``, with ``certainty`` for what a fix's accuracy allows), ``scenario``
for the records, ``replay`` for a whole file, and the package ``engine`` that drives them,
one module per responsibility: ``engine.clock`` (where a timer fires), ``engine.placements``
and ``engine.tables`` (cases, and their rules as columns), ``engine.records`` (applying one
record), ``engine.late`` (reorder buffer, superseded fixes), ``engine.fixes`` and
``engine.fixes_once`` (the vectorised fix path; a zone breach on it is decided in
``_segment_once``), ``engine.rules`` (raise and clear), ``engine.snapshot`` (where the
snapshot is written and restored). ``engine``'s docstring gives time, lateness and signal.
"""

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
