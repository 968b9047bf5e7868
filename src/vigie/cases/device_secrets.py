"""Device secrets: what a device proves itself with at the gateway (OsmAnd `key`, MQTT password).

A secret is random (32 bytes, URL-safe), made by the centre and shown once; only its hash is
stored, in the form of Mosquitto's password file (PBKDF2-SHA512, "$7$iterations$salt$hash"),
so the one hash both checks an OsmAnd request and goes into the broker's password file.
A random secret cannot be guessed, so a modest iteration count suffices and a check stays
cheap enough for every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.cases.errors import CaseNotFound
from vigie.store import audit
from vigie.store.models import Device

ITERATIONS = 1000
_SALT_BYTES = 12  # as mosquitto_passwd


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The Mosquitto "$7$" hash of `secret`."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    encode = base64.b64encode
    return f"$7${iterations}${encode(salt).decode()}${encode(digest).decode()}"


def verify(secret: str, hashed: str | None) -> bool:
    """Whether `secret` is the one `hashed` was made from (False for no hash or a bad one)."""
    if not hashed:
        return False
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt, expected = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, int(parts[2]))
    return hmac.compare_digest(digest, expected)


def issue(session: Session, device_id: str, actor: str) -> str:
    """A new secret for a registered device, replacing any earlier one (audited, never logged);
    returns it: the caller shows it once to whoever configures the device."""
    device = session.get(Device, device_id)
    if device is None:
        raise CaseNotFound("device", device_id)
    secret = new_secret()
    device.secret_hash = hash_secret(secret)
    session.flush()
    audit.record(session, actor, "issue_device_secret", f"device:{device_id}", {})
    return secret


def password_file(session: Session, accounts: dict[str, str] | None = None) -> str:
    """Mosquitto's password file: every device with a secret (username = device id), and
    `accounts` (username -> hash; the gateway's own). A device id with a colon cannot be a
    Mosquitto username: such a device has no MQTT account."""
    lines = [f"{name}:{hashed}" for name, hashed in (accounts or {}).items()]
    lines += [
        f"{device_id}:{hashed}"
        for device_id, hashed in session.execute(
            select(Device.id, Device.secret_hash)
            .where(Device.secret_hash.is_not(None))
            .order_by(Device.id)
        )
        if ":" not in device_id
    ]
    return "".join(f"{line}\n" for line in lines)
