"""Access tokens (short-lived signed JWTs) and refresh tokens (opaque, rotating, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from core import clock
from core.config import current_settings

ALGORITHM = "HS256"
ISSUER = "lendline"


class TokenError(Exception):
    """The token is missing, malformed, expired or not an access token."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    expires_at: datetime


def issue_access_token(user_id: int) -> tuple[str, datetime]:
    settings = current_settings()
    issued = clock.now()
    expires = issued + timedelta(seconds=settings.access_token_ttl)
    claims = {
        "sub": str(user_id),
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "iss": ISSUER,
        "typ": "access",
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM), expires


def decode_access_token(token: str) -> AccessClaims:
    settings = current_settings()
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iat"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenError("The access token is invalid") from exc
    # Expiry is checked against our clock (tests move it), not the wall clock.
    if claims.get("typ") != "access" or int(claims["exp"]) <= int(clock.now().timestamp()):
        raise TokenError("The access token has expired or is not an access token")
    try:
        user_id = int(claims["sub"])
    except ValueError as exc:
        raise TokenError("The access token is invalid") from exc
    return AccessClaims(user_id=user_id, expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=clock.now().tzinfo))


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque token and the digest we store (the token itself is never stored)."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
