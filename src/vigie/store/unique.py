"""A unique key taken by a transaction that committed while this one ran: two creations of one
name at once (a case reference, a device, an account). Each checks that the name is free
first; the second to commit then met the key on PostgreSQL (SQLite has one writer) and
answered a 500. It gets the refusal it would have had a moment later."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError


@contextmanager
def refused_if_taken(constraint: str, refusal: Exception) -> Iterator[None]:
    """Raise `refusal` for a violation of `constraint` (by its name); any other goes on."""
    try:
        yield
    except IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)  # psycopg's; SQLite never gets here (one writer)
        if getattr(diag, "constraint_name", None) != constraint:
            raise
        raise refusal from exc
