"""Device secrets: what a device proves itself with at the gateway (OsmAnd `key`, MQTT password).

A secret is random (32 bytes, URL-safe), made by the centre and shown once; only its hash is
stored, in the form of Mosquitto's password file (PBKDF2-SHA512, "$7$iterations$salt$hash"),
so the one hash both checks an OsmAnd request and goes into the broker's password file.
A random secret cannot be guessed, so a modest iteration count suffices and a check stays
cheap enough for every request.

NATS's MQTT listener (production home units, `vigie.gateway.nats_mqtt`) takes plain text or
bcrypt only, so the secret is also hashed with bcrypt when it is issued. At bcrypt's lowest
cost: 256 random bits are out of reach of any guessing whatever the cost, and every node
checks the hash at each connection, so the cost is paid again by thousands of units
reconnecting at once after a node is lost.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import bcrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.cases import withdrawal
from vigie.store import audit
from vigie.store.models import Device, LoginsChanged

ITERATIONS = 1000
NATS_COST = 4  # bcrypt's lowest: see above
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


def nats_hash(secret: str, cost: int = NATS_COST) -> str:
    """The bcrypt hash of `secret` as nats-server checks a password ("$2a$")."""
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(cost, prefix=b"2a")).decode()


def set_secret(device: Device, secret: str) -> None:
    """Store `secret`'s hashes on `device`: for the gateway and Mosquitto, and for NATS."""
    device.secret_hash = hash_secret(secret)
    device.nats_hash = nats_hash(secret)


def issue(session: Session, device_id: str, actor: str) -> str:
    """A new secret for a registered device, replacing any earlier one (audited, never logged);
    returns it: the caller shows it once to whoever configures the device. A session opened
    with the old one is closed when the gateway reloads its broker (vigie.gateway.broker_logins)."""
    # Locked: a withdrawal at the same time cannot leave the device out of service with a secret.
    device = withdrawal.locked_device(session, device_id)
    withdrawal.refuse_if_withdrawn(device)  # out of service: nothing may prove itself as it
    secret = new_secret()
    set_secret(device, secret)
    session.flush()
    audit.record(session, actor, "issue_device_secret", f"device:{device_id}", {})
    return secret


def password_file(session: Session, accounts: dict[str, str] | None = None) -> str:
    """Mosquitto's password file: every device with a secret (username = device id; a
    withdrawn device has none), and `accounts` (username -> hash; the gateway's own). A device
    id with a colon cannot be a Mosquitto username: such a device has no MQTT account."""
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


def logins_changed(session: Session) -> int:
    """A count that moves whenever `password_file`'s devices may have changed (by trigger,
    migration 0036): one row to read where the logins are every device's."""
    return int(session.scalar(select(LoginsChanged.value).where(LoginsChanged.id == 1)) or 0)


def nats_users(session: Session) -> tuple[dict[str, str], list[str]]:
    """The devices that can log in to NATS's MQTT listener (device id -> bcrypt hash), and
    those with a secret issued before NATS hashes were kept (a new secret gives them one)."""
    users: dict[str, str] = {}
    lacking: list[str] = []
    rows = session.execute(
        select(Device.id, Device.nats_hash)
        .where(Device.secret_hash.is_not(None))
        .order_by(Device.id)
    )
    for device_id, hashed in rows:
        if hashed:
            users[device_id] = hashed
        else:
            lacking.append(device_id)
    return users, lacking
