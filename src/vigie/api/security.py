"""Passwords (argon2) and tokens (JWT): who is calling, and with which role."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from vigie import clock
from vigie.settings import Settings, settings
from vigie.store.models import RevokedToken, User, new_token_key
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


def set_password(user: User, password: str) -> None:
    """A new password; every token issued before it stops working."""
    user.password_hash = hash_password(password)
    user.token_key = new_token_key()


def disable(user: User) -> None:
    """The account can no longer log in, and its tokens stop working."""
    user.active = False
    user.token_key = new_token_key()


def issue_token(user: User, settings: Settings) -> str:
    now = clock.now()
    claims = {
        "sub": user.username,
        "key": user.token_key,
        "jti": secrets.token_urlsafe(16),
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
            options={
                "require": ["sub", "exp", "key", "jti"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"invalid token: {exc}") from exc
    expires = claims["exp"]
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise AuthenticationError("invalid token: Expiration Time claim (exp) must be an integer.")
    if expires <= clock.now().timestamp():
        raise AuthenticationError("invalid token: Signature has expired")
    return claims


def token_holder(session: Session, claims: dict[str, Any]) -> User:
    """The active user a token names, if the token was not revoked since it was issued.

    One indexed read: the account by name, with whether this token was given up at logout.
    """
    row = session.execute(
        select(User, exists().where(RevokedToken.jti == str(claims["jti"]))).where(
            User.username == str(claims["sub"])
        )
    ).one_or_none()
    if row is None:
        raise AuthenticationError("the token's user no longer exists")
    user, revoked = row
    if revoked:
        raise AuthenticationError("the token was revoked (logged out)")
    if not user.active:
        raise AuthenticationError("the token's user is disabled")
    if not secrets.compare_digest(user.token_key, str(claims["key"])):
        raise AuthenticationError("the token was revoked (password changed or account recreated)")
    return user


def revoke(session: Session, claims: dict[str, Any]) -> None:
    """Give up one token (logout); the tokens that have expired anyway are forgotten."""
    now = clock.now()
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    expires = datetime.fromtimestamp(float(claims["exp"]), UTC)
    session.merge(RevokedToken(jti=str(claims["jti"]), expires_at=expires))
