"""Passwords (argon2) and tokens (JWT): who is calling, and with which role."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from vigie import clock
from vigie.settings import Settings, settings
from vigie.store.models import User
from vigie.store.users import by_username

# `integration`: a system feeding observations through the API (POST /api/observations only);
# people's accounts never post observations.
ROLES = ("operator", "supervisor", "spip", "judge", "prosecutor", "admin", "integration")


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    config = settings()
    return PasswordHasher(time_cost=config.argon2_time_cost, memory_cost=config.argon2_memory_kib)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verifying against a dummy hash when the user is unknown keeps the timing the same.
    return _hasher().hash("not a real password")


class AuthenticationError(Exception):
    """Bad credentials or token: the API answers 401."""


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    full_name: str,
    email: str | None = None,
) -> User:
    """A new active user (the caller audits it)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        full_name=full_name,
        email=email,
        active=True,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The active user with these credentials, else AuthenticationError."""
    user = by_username(session, username)
    try:
        _hasher().verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError) as exc:
        raise AuthenticationError("wrong username or password") from exc
    if user is None or not user.active:
        raise AuthenticationError("wrong username or password")
    return user


def issue_token(user: User, settings: Settings) -> str:
    now = clock.now()
    claims = {
        "sub": user.username,
        "role": user.role,
        "iat": now,
        "exp": now + timedelta(seconds=settings.jwt_ttl_s),
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def token_claims(token: str, settings: Settings) -> dict[str, Any]:
    """The claims of a token signed by this centre and not expired by the centre's clock.

    PyJWT would check the times against the system clock; they are checked here against the
    clock that issued them, so the centre's time is one time everywhere.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            options={"require": ["sub", "exp"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"invalid token: {exc}") from exc
    expires = claims["exp"]
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise AuthenticationError("invalid token: Expiration Time claim (exp) must be an integer.")
    if expires <= clock.now().timestamp():
        raise AuthenticationError("invalid token: Signature has expired")
    return claims
