"""Password hashing with argon2id (SPEC F-USER-1: stored only as a slow hash)."""

from __future__ import annotations

import os

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

# LENDLINE_ARGON2_PROFILE=cheapest is for test suites only (it makes hashing ~1000x cheaper); production
# uses argon2-cffi's RFC 9106 low-memory default.
_hasher = (PasswordHasher.from_parameters(profiles.CHEAPEST)
           if os.environ.get("LENDLINE_ARGON2_PROFILE") == "cheapest" else PasswordHasher())
# A hash of a random password, checked when the account does not exist so that a login for an
# unknown account costs as much as one for a known account (no account enumeration by timing).
_DUMMY = _hasher.hash("not-a-real-password-0")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
