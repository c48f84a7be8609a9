"""Login, token refresh, logout, and turning an access token into an `Actor` (F-USER-2).

Why the user is loaded on every request: a user disabled (or whose roles are disabled) after login
must lose access at once, not when the token expires.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from core import clock
from core.accounts.models import RefreshToken, User
from core.accounts.passwords import hash_password, needs_rehash, verify_password
from core.accounts.tokens import TokenError, decode_access_token, digest, issue_access_token, new_refresh_token
from core.actor import Actor
from core.config import current_settings
from core.errors import ErrorCode, UserError
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from permissions.policy import policy_store


@dataclass(frozen=True)
class Session:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user: User


def _bad_credentials() -> UserError:
    return UserError.of(None, ErrorCode.INVALID_CREDENTIALS, "Account or password is incorrect")


def _enabled_role_keys(user: User) -> list[str]:
    return sorted(r.key for r in user.roles if r.enabled)


def _check_active(user: User) -> list[str]:
    if not user.enabled:
        raise UserError.of(None, ErrorCode.ACCOUNT_DISABLED,
                           "This account is disabled; ask an administrator to enable it")
    keys = _enabled_role_keys(user)
    if not keys:
        raise UserError.of(None, ErrorCode.ACCOUNT_DISABLED,
                           "All roles of this account are disabled; ask an administrator")
    return keys


async def _issue(user: User, family: str | None = None) -> Session:
    settings = current_settings()
    access, access_exp = issue_access_token(user.id)
    token, token_hash = new_refresh_token()
    refresh_exp = clock.now() + timedelta(seconds=settings.refresh_token_ttl)
    await RefreshToken.create(user_id=user.id, token_hash=token_hash, family=family or secrets.token_hex(16),
                              expires_at=refresh_exp)
    return Session(access, access_exp, token, refresh_exp, user)


async def login(account: str, password: str, request_id: str = "") -> Session:
    """Check the password, lock after repeated failures, refuse disabled users and roles."""
    settings = current_settings()
    user = await User.get_or_none(account=account).prefetch_related("roles")
    now = clock.now()
    if user is not None and user.locked_until and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise UserError.of(None, ErrorCode.ACCOUNT_LOCKED,
                           f"Too many failed logins; try again in {minutes} minute(s)")
    if not verify_password(user.password_hash if user else None, password) or user is None:
        if user is not None:
            await _count_failure(user, settings.max_failed_logins, settings.lockout_seconds, request_id)
        raise _bad_credentials()
    _check_active(user)
    async with in_transaction():
        fields = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
        if needs_rehash(user.password_hash):
            fields["password_hash"] = hash_password(password)
        await User.filter(id=user.id).update(**fields)
        session = await _issue(user)
        await oplog.record(None, kind=OperatorKind.ANONYMOUS, module="auth", action="login",
                           summary=f"{user.account} logged in", operator_name=user.name,
                           request_id=request_id)
    return session


async def _count_failure(user: User, limit: int, lock_seconds: int, request_id: str) -> None:
    async with in_transaction():
        fresh = await User.select_for_update().get(id=user.id)
        failures = fresh.failed_logins + 1
        locked_until = None
        if failures >= limit:
            locked_until = clock.now() + timedelta(seconds=lock_seconds)
            failures = 0
        await User.filter(id=user.id).update(failed_logins=failures, locked_until=locked_until)
        await oplog.record(None, kind=OperatorKind.ANONYMOUS, module="auth", action="login_failed",
                           summary=f"failed login for {user.account}" + (" (locked)" if locked_until else ""),
                           operator_name=user.name, outcome="rejected", request_id=request_id)


async def refresh(token: str) -> Session:
    """Rotate a refresh token; a reused (already rotated) token revokes its whole family."""
    async with in_transaction():
        row = await RefreshToken.select_for_update().get_or_none(token_hash=digest(token))
        if row is None:
            raise UserError.of("refreshToken", ErrorCode.TOKEN_INVALID, "The refresh token is not valid")
        reused = row.revoked_at is not None
        if reused:
            # Committed before refusing: the family must stay revoked (the token was stolen or replayed).
            await RefreshToken.filter(family=row.family, revoked_at=None).update(revoked_at=clock.now())
    if reused:
        raise UserError.of("refreshToken", ErrorCode.TOKEN_INVALID,
                           "The refresh token was already used; please log in again")
    async with in_transaction():
        row = await RefreshToken.select_for_update().get(id=row.id)
        if row.revoked_at is not None or row.expires_at <= clock.now():
            raise UserError.of("refreshToken", ErrorCode.TOKEN_INVALID, "The refresh token has expired")
        await RefreshToken.filter(id=row.id).update(revoked_at=clock.now())
        user = await User.get(id=row.user_id).prefetch_related("roles")  # type: ignore[attr-defined]
        _check_active(user)
        return await _issue(user, row.family)


async def logout(actor: Actor, token: str | None) -> int:
    """Revoke the refresh token's family (this device), or every session of the user when none is given."""
    async with in_transaction():
        if token:
            row = await RefreshToken.get_or_none(token_hash=digest(token), user_id=actor.user_id)
            if row is None:
                raise UserError.of("refreshToken", ErrorCode.TOKEN_INVALID, "The refresh token is not valid")
            return await RefreshToken.filter(family=row.family, revoked_at=None).update(revoked_at=clock.now())
        return await RefreshToken.filter(user_id=actor.user_id, revoked_at=None).update(revoked_at=clock.now())


async def authenticate(token: str) -> Actor:
    """The actor behind an access token, checked against the database now."""
    try:
        claims = decode_access_token(token)
    except TokenError as exc:
        raise UserError.of(None, ErrorCode.UNAUTHENTICATED, str(exc)) from exc
    user = await User.get_or_none(id=claims.user_id).prefetch_related("roles")
    if user is None:
        raise UserError.of(None, ErrorCode.UNAUTHENTICATED, "The account no longer exists")
    keys = _check_active(user)
    store = policy_store()
    await store.refresh()
    perms = store.nodes_for(keys)
    return Actor(user_id=user.id, account=user.account, name=user.name, role_keys=tuple(keys),
                 permissions=frozenset(perms), scope=store.scope_for(keys))
