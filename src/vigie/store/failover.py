"""Riding out a PostgreSQL failover: which errors mean "the database is changing hands", and
retrying the writes that are safe to retry.

While the primary is down and before its standby is promoted, every connection fails (refused,
dropped mid-transaction, or reaching a read-only standby, which libpq's
`target_session_attrs=read-write` skips). A transaction cut so is rolled back, or committed if
the cut came after the commit reached the server: so only a write that is idempotent may be
retried whole. Ingest is (a stored reading comes back as a duplicate, by its key); detection's
step is (the store is its truth, restored after any failure); an operator's action is not
(a second "acknowledge" would be a second audited act), so it is refused with 503 instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from sqlalchemy.exc import DBAPIError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# SQLSTATEs of a server going away or not (yet) writable: connection exceptions (class 08),
# shutdown by an administrator or a crash of another backend, the server starting up, and a
# write sent to a standby.
_FAILOVER_STATES = ("08", "57P01", "57P02", "57P03", "25006")
# What libpq says (without a SQLSTATE, when it tried several hosts) of a wrong URL.
_MISCONFIGURED = ("authentication failed", "does not exist", "no pg_hba.conf entry")
# What libpq refuses to send (a statement's own fault): retried, it would fail the same way for
# ever, told as a failover (a step with 125,000 parameters was, step after step).
_NOT_SENT = ("number of parameters must be between",)
FIRST_PAUSE_S = 0.05
MAX_PAUSE_S = 1.0


# What PostgreSQL says when it ends a session whose transaction sat idle past its limit
# (`idle_in_transaction_session_timeout`: the audit chain's head, a detection step): the same
# remedy as a failover, another cause, which the message must not hide behind a failover.
_IDLE_ENDED = "idle-in-transaction timeout"


class DatabaseUnavailable(Exception):
    """The database could not be reached for writing (a failover, most likely): nothing of the
    transaction is known to be kept, and retrying later is the remedy."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.what = (
            "the database ended a transaction left idle past its limit"
            if _IDLE_ENDED in reason
            else "database failover in progress"
        )
        super().__init__(f"{self.what}: {reason}")


def is_failover(exc: DBAPIError) -> bool:
    """Whether a PostgreSQL error says the connection or the server's role was lost."""
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None)
    if state is None:
        # No answer from a server at all: refused, reset, closed, or timed out; but a server
        # that answered "no" to the settings (password, database name), or a statement libpq
        # would not send, is no failover.
        if any(words in str(exc.orig) for words in _MISCONFIGURED + _NOT_SENT):
            return False
        return isinstance(exc.orig, psycopg.OperationalError | psycopg.InterfaceError)
    return any(state.startswith(prefix) for prefix in _FAILOVER_STATES)


def unavailable(exc: DBAPIError) -> DatabaseUnavailable:
    """The `DatabaseUnavailable` for a failover error, with libpq's first line as the reason."""
    lines = str(exc.orig).strip().splitlines()
    return DatabaseUnavailable(lines[0] if lines else type(exc.orig).__name__)


def retrying(
    write: Callable[[], T],
    budget_s: float,
    what: str,
) -> T:
    """`write()`, tried again while it raises `DatabaseUnavailable`, with pauses doubling from
    50 ms to 1 s, until `budget_s` has passed; then the last `DatabaseUnavailable` is raised.

    For idempotent writes only (see the module's docstring).
    """
    deadline = time.monotonic() + budget_s
    pause = FIRST_PAUSE_S
    tries = 1
    while True:
        try:
            result = write()
        except DatabaseUnavailable as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                logger.error("%s: gave up after %d tries: %s", what, tries, exc)
                raise
            if tries == 1:
                logger.warning("%s: %s; retrying for up to %g s", what, exc, budget_s)
            time.sleep(min(pause, left))  # looked up at each call: the tests may replace it
            pause = min(pause * 2, MAX_PAUSE_S)
            tries += 1
            continue
        if tries > 1:
            logger.warning("%s: succeeded after %d tries", what, tries)
        return result
