"""What a password may not be: short, common, or made of the account's own names.

The list of common passwords is small and bundled (common-passwords.txt, no network): the
ones people and attackers try first, English and French, in lowercase. A password is refused if,
lowercased and stripped of accents, of spaces and of the digits and symbols at its ends, it is
one of them, or one short part repeated; so is a password holding the username or a part of the
person's name.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 200
MIN_DISTINCT = 5
_COMMON_FILE = Path(__file__).with_name("common-passwords.txt")


class WeakPassword(ValueError):
    """A password the policy refuses; the message says why, for the person choosing it."""


def _plain(text: str) -> str:
    """Lowercase, without accents, spaces or punctuation: how variants of a word compare."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum())


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(_plain(line) for line in lines if line.strip() and not line.startswith("#"))


def _core(plain: str) -> str:
    """The word under the usual decorations: "Password123!" is "password"."""
    return re.sub(r"^\d+|\d+$", "", plain)


def check(password: str, username: str, full_name: str = "") -> None:
    """Raise WeakPassword if the policy refuses `password` for this account."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password must have at most {MAX_LENGTH} characters")
    if len(set(password)) < MIN_DISTINCT:
        raise WeakPassword(f"the password must use at least {MIN_DISTINCT} different characters")
    plain = _plain(password)
    if plain.isdigit():
        raise WeakPassword("the password must not be only digits")
    common = _common()
    if plain in common or _core(plain) in common or _is_repeat(plain):
        raise WeakPassword("the password is too common: choose one that others would not")
    parts = re.split(r"[\s._@-]+", f"{username} {full_name}")
    names = {_plain(username), *(_plain(part) for part in parts)}
    for name in names:
        if len(name) >= 3 and name in plain:
            raise WeakPassword("the password must not contain the username or the person's name")


def _is_repeat(plain: str) -> bool:
    """A short common word said again and again ("azertyazerty", "motdepassemotdepasse")."""
    for size in range(1, len(plain) // 2 + 1):
        unit = plain[:size]
        if len(plain) % size == 0 and unit * (len(plain) // size) == plain:
            return True
    return False
